"""``cj.continue_batch``: after a wave, decide what the batch does next.

Under the batch row lock: load the batch's wave state and history, call the core's one
wave :func:`~cj_worker.core.wave.step` (the same step the convergence harness runs), persist
the decision with its reason, and either insert the next wave's comparison rows or mark the
batch for finalization. The
messages (judge requests, or the finalize task) leave only after the commit.

A duplicate or late task is a no-op: the batch must still be at the wave the task names
(compare-and-set on ``current_wave``), and the decision log takes one row per wave.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.config import AlgorithmSettings
from cj_worker.core.array_types import FloatArray
from cj_worker.core.bt import BTFit
from cj_worker.core.coverage import CoverageMetrics, CoverageRegressionError
from cj_worker.core.decision import Action, Decision, Reason
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION, PlannedComparison
from cj_worker.core.wave import WaveState, step, wave_rng
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, Comparison, Essay
from cj_worker.db.states import BatchState
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit
from cj_worker.tasks.judging import judge_requests

SELECTION_PRECISION_KEY = "selection_prior_precision"
"""``processing_metadata`` key carrying the pairing selection fit's prior between waves."""


@cj_task(task_names.CONTINUE_BATCH)
def continue_batch(batch_id: str, wave: int) -> str:
    """Decide after ``wave`` of ``batch_id``; returns what happened, for logs and tests."""
    with session_scope(database_url()) as session:
        outcome, messages = run_continuation(session, uuid.UUID(batch_id), wave)
    send_after_commit(messages)
    return outcome


def run_continuation(session: Session, batch_id: uuid.UUID, wave: int) -> tuple[str, list[Message]]:
    """The body of ``cj.continue_batch`` inside the caller's transaction: load, step, persist."""
    batch = repositories.lock_batch(session, batch_id)
    if batch is None:
        log.warning("continuation for unknown batch", extra={"batch_id": str(batch_id)})
        return "unknown_batch", []
    if batch.state not in (BatchState.CREATED, BatchState.COLLECTING):
        return f"ignored_{batch.state}", []
    if batch.current_wave != wave:
        return "stale_wave", []

    settings = AlgorithmSettings.model_validate(batch.settings)
    essays = repositories.load_essays(session, batch_id)
    history = repositories.load_history(session, batch_id, len(essays))
    try:
        result = step(
            _state(batch, essays),
            history,
            total_budget=batch.total_budget,
            settings=settings,
            rng=wave_rng(batch.seed, wave),
        )
    except CoverageRegressionError as error:
        # Rows vanished from the store: deciding on the shrunken history would undo Phase 1.
        # Nothing is written; the sweep's re-triggers end the batch as ``stalled``.
        log.error("coverage_regression", extra={"batch_id": str(batch_id), "error": str(error)})
        return "coverage_regression", []
    decision = result.decision
    if decision.action is Action.WAIT:
        return Reason.WAVE_IN_FLIGHT.value, []
    metrics.observe_bt_fit(result.fit_seconds)
    if not repositories.record_decision(
        session, batch_id, wave, decision.action, decision.reason, _details(decision, result.fit)
    ):
        return "duplicate", []

    batch.processing_metadata = {
        **(batch.processing_metadata or {}),
        SELECTION_PRECISION_KEY: result.next_state.selection_precision,
        **decision.metadata_updates,
    }
    _persist_state(batch, essays, history, result.fit, decision)
    _log_decision(batch, wave, decision)
    metrics.observe_decision(
        session, decision.action.value, decision.reason.value, decision.action.mode
    )
    if result.planned:
        return decision.reason.value, _dispatch_wave(
            session, batch, essays, result.planned, decision
        )
    batch.state = BatchState.SCORING
    batch.final_reason = decision.reason.value
    finalize = (
        task_names.FINALIZE_FAILURE
        if decision.action is Action.FINALIZE_FAILURE
        else task_names.FINALIZE_SCORING
    )
    return decision.reason.value, [Message(finalize, {"batch_id": str(batch_id)})]


def _state(batch: Batch, essays: list[Essay]) -> WaveState:
    """The wave state persisted with the batch at its previous decision."""
    metadata = batch.processing_metadata or {}
    coverage = (
        CoverageMetrics(
            int(metadata["max_possible_pairs"]), int(metadata["successful_pairs_count"])
        )
        if "max_possible_pairs" in metadata and "successful_pairs_count" in metadata
        else None
    )
    return WaveState(
        wave=batch.current_wave,
        resampling_pass_count=batch.resampling_pass_count,
        selection_precision=float(
            metadata.get(SELECTION_PRECISION_KEY, INITIAL_SELECTION_PRECISION)
        ),
        coverage=coverage,
        scores=_stored_scores(essays),
    )


def _stored_scores(essays: list[Essay]) -> FloatArray | None:
    """Scores persisted at the previous decision, if every essay has one."""
    if not essays or any(essay.score is None for essay in essays):
        return None
    return np.array([essay.score for essay in essays], dtype=np.float64)


def _details(decision: Decision, fit: BTFit | None) -> dict[str, Any]:
    details: dict[str, Any] = dict(decision.figures)
    details["resampling_pass_count"] = decision.resampling_pass_count
    details["wave_limit"] = decision.wave_limit
    if fit is not None:
        details["ssr"] = fit.ssr
        details["bt_components"] = fit.diagnostics.n_components
    return details


def _persist_state(
    batch: Batch,
    essays: list[Essay],
    history: ComparisonHistory,
    fit: BTFit | None,
    decision: Decision,
) -> None:
    batch.resampling_pass_count = decision.resampling_pass_count
    batch.last_activity_at = utc_now()
    successes = history.appearances(history.succeeded)
    for essay in essays:
        essay.comparison_count = int(successes[essay.position])
        if fit is not None:
            essay.score = float(fit.scores[essay.position])
            essay.standard_error = float(fit.standard_errors[essay.position])


def _dispatch_wave(
    session: Session,
    batch: Batch,
    essays: list[Essay],
    planned: tuple[PlannedComparison, ...],
    decision: Decision,
) -> list[Message]:
    """Insert the wave's rows, advance the batch to it, and build the judge requests."""
    assert decision.action.mode is not None
    wave = batch.current_wave + 1
    rows = [
        Comparison(
            id=uuid.uuid4(),
            batch_id=batch.id,
            wave=wave,
            essay_a=pair.slot_a,
            essay_b=pair.slot_b,
            mode=decision.action.mode,
            attempt=pair.attempt,
        )
        for pair in planned
    ]
    session.add_all(rows)
    batch.current_wave = wave
    batch.comparisons_submitted += len(rows)
    batch.state = BatchState.COLLECTING
    return judge_requests(batch, essays, rows)


def _log_decision(batch: Batch, wave: int, decision: Decision) -> None:
    fields = {
        "batch_id": str(batch.id),
        "wave": wave,
        "action": decision.action.value,
        "reason": decision.reason.value,
        "resampling_pass_count": decision.resampling_pass_count,
        **decision.metadata_updates,
    }
    if decision.reason is Reason.SMALL_NET_PHASE2:
        log.info("small_net_phase2_entered", extra=fields)
    elif decision.reason is Reason.SMALL_NET_RESAMPLING_CAP:
        log.info(
            "small_net_resampling_cap_reached: resampling cap reached, finalizing", extra=fields
        )
    log.info("decision", extra=fields)
