"""``cj.continue_batch``: after a wave, decide what the batch does next.

Under the batch row lock: refit BT, refresh the coverage keys, build the core's
:class:`ContinuationContext`, call :func:`decide`, persist the decision with its reason, and
either insert the next wave's comparison rows or mark the batch for finalization. The
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
from cj_worker.core.bt import BTFit, fit_bradley_terry
from cj_worker.core.coverage import CoverageMetrics
from cj_worker.core.decision import (
    Action,
    ContinuationContext,
    Decision,
    Reason,
    decide,
    decide_without_pairs,
)
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION, PlannedComparison, plan_wave
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
    """The body of ``cj.continue_batch`` inside the caller's transaction."""
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
    fit = _refit(essays, history, settings)
    context = _context(session, batch, essays, history, fit, settings)
    decision = decide(context)
    if decision.action is Action.WAIT:
        return Reason.WAVE_IN_FLIGHT.value, []

    planned: list[PlannedComparison] = []
    metadata = dict(batch.processing_metadata or {})
    if decision.action.mode is not None:
        plan = plan_wave(
            decision.action.mode,
            history,
            decision.wave_limit,
            np.random.default_rng([batch.seed, wave]),
            settings,
            float(metadata.get(SELECTION_PRECISION_KEY, INITIAL_SELECTION_PRECISION)),
        )
        planned = plan.comparisons
        metadata[SELECTION_PRECISION_KEY] = plan.selection_precision
        if not planned:
            # Cannot happen while PairAvailability is right; if it does, end rather than idle.
            decision = decide_without_pairs(context)

    if not repositories.record_decision(
        session, batch_id, wave, decision.action, decision.reason, _details(decision, fit)
    ):
        return "duplicate", []

    batch.processing_metadata = {**metadata, **decision.metadata_updates}
    _persist_state(batch, essays, history, fit, decision)
    _log_decision(batch, wave, decision)
    metrics.observe_decision(
        session, decision.action.value, decision.reason.value, decision.action.mode
    )
    if decision.action.mode is not None:
        return decision.reason.value, _dispatch_wave(session, batch, essays, planned, decision)
    batch.state = BatchState.SCORING
    batch.final_reason = decision.reason.value
    finalize = (
        task_names.FINALIZE_FAILURE
        if decision.action is Action.FINALIZE_FAILURE
        else task_names.FINALIZE_SCORING
    )
    return decision.reason.value, [Message(finalize, {"batch_id": str(batch_id)})]


def _refit(
    essays: list[Essay], history: ComparisonHistory, settings: AlgorithmSettings
) -> BTFit | None:
    if not history.succeeded.any():
        return None
    previous = _stored_scores(essays)
    winners, losers = history.outcomes()
    with metrics.bt_fit_timer():
        return fit_bradley_terry(
            len(essays), winners, losers, settings.bt_prior_precision, initial_scores=previous
        )


def _stored_scores(essays: list[Essay]) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    """Scores persisted at the previous decision, if every essay has one."""
    if not essays or any(essay.score is None for essay in essays):
        return None
    return np.array([essay.score for essay in essays], dtype=np.float64)


def _context(
    session: Session,
    batch: Batch,
    essays: list[Essay],
    history: ComparisonHistory,
    fit: BTFit | None,
    settings: AlgorithmSettings,
) -> ContinuationContext:
    metadata = batch.processing_metadata or {}
    stored = CoverageMetrics(
        int(metadata.get("max_possible_pairs", 0)), int(metadata.get("successful_pairs_count", 0))
    )
    measured = CoverageMetrics(*repositories.get_coverage_metrics_for_batch(session, batch.id))
    return ContinuationContext.from_history(
        history,
        current_wave=batch.current_wave,
        total_budget=batch.total_budget,
        resampling_pass_count=batch.resampling_pass_count,
        scores_now=None if fit is None else fit.scores,
        scores_previous=_stored_scores(essays),
        settings=settings,
        coverage=stored.advanced_by(measured),
    )


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
    planned: list[PlannedComparison],
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
