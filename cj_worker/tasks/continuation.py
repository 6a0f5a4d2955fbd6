"""``cj.continue_batch``: after a wave, decide what the batch does next.

The body is *load -> step -> persist*: under the batch row lock it loads the wave state and
the history, calls the core's one wave :func:`~cj_worker.core.wave.step` (the same step the
convergence harness runs), records the decision with its reason, and either inserts the next
wave's comparison rows or marks the batch for finalization. The unit of work delivers the
judge requests (or sends the finalize task) and records the metrics only after commit; the
rows themselves are the requests' outbox, so a crash after the commit loses none of them
(see :mod:`cj_worker.tasks.dispatch`).

A duplicate or late task is a no-op: the batch must still be at the wave the task names
(compare-and-set on ``current_wave``), and the decision log takes one row per wave.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.core.array_types import FloatArray
from cj_worker.core.bt import BTFit
from cj_worker.core.coverage import CoverageRegressionError
from cj_worker.core.decision import Action, Decision, Reason
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION, PlannedComparison
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.core.success_guard import WaveCounts
from cj_worker.core.wave import WaveState, WaveStep, step, wave_rng
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.models import Batch
from cj_worker.db.progress import BatchProgress, DecisionCounts, load_progress, save_progress
from cj_worker.db.repositories.chunks import awaits_essays
from cj_worker.db.states import BatchState, ComparisonRowStatus
from cj_worker.tasks import unit_of_work
from cj_worker.tasks.base import cj_task, log
from cj_worker.tasks.dispatch import Dispatch
from cj_worker.tasks.judging import Outgoing, dispatches
from cj_worker.tasks.messages import finalize_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.unit_of_work import Effects


@cj_task(task_names.CONTINUE_BATCH)
def continue_batch(batch_id: str, wave: int) -> str:
    """Decide after ``wave`` of ``batch_id``; returns what happened, for logs and tests."""
    body = lambda session: run_continuation(session, uuid.UUID(batch_id), wave)  # noqa: E731
    return unit_of_work.run(body).outcome.value


def run_continuation(session: Session, batch_id: uuid.UUID, wave: int) -> Effects:
    """The body of ``cj.continue_batch`` inside the caller's transaction: load, step, persist."""
    batch = repositories.lock_batch(session, batch_id)
    if batch is None:
        log.warning("continuation for unknown batch", extra={"batch_id": str(batch_id)})
        return Effects(Outcome.UNKNOWN_BATCH)
    if batch.state not in (BatchState.CREATED, BatchState.COLLECTING):
        return Effects(Outcome.ignored_in(batch.state))
    if batch.current_wave != wave:
        return Effects(Outcome.STALE_WAVE)
    if awaits_essays(session, batch):
        # Chunked intake: only the chunk that completes the batch triggers its first wave.
        return Effects(Outcome.AWAITING_ESSAYS)

    settings = AlgorithmSettings.model_validate(batch.settings)
    n_essays = repositories.essay_count(session, batch_id)
    history = repositories.load_history(session, batch_id, n_essays)
    progress = load_progress(batch)
    try:
        result = step(
            _state(batch, progress, repositories.load_scores(session, batch_id, n_essays)),
            history,
            total_budget=batch.total_budget,
            settings=settings,
            rng=wave_rng(batch.seed, wave),
        )
    except CoverageRegressionError as error:
        # Rows vanished from the store: deciding on the shrunken history would undo Phase 1.
        # Nothing is written; the sweep's re-triggers end the batch as ``stalled``.
        log.error("coverage_regression", extra={"batch_id": str(batch_id), "error": str(error)})
        return Effects(Outcome.COVERAGE_REGRESSION)
    decision = result.decision
    if decision.action is Action.WAIT:
        return Effects(Reason.WAVE_IN_FLIGHT)
    metrics.observe_bt_fit(result.fit_seconds)
    if not repositories.record_decision(
        session, batch_id, wave, decision.action, decision.reason, _details(decision, result.fit)
    ):
        return Effects(Outcome.DUPLICATE)

    save_progress(batch, _progress(progress, result))
    _persist_state(session, batch, history, result.fit)
    _log_decision(batch, wave, decision)
    observed: list[metrics.Observation] = [
        metrics.DecisionTaken(
            decision.action.value,
            decision.reason.value,
            None if decision.action.mode is None else decision.action.mode.value,
        )
    ]
    if result.planned:
        requests = _dispatch_wave(session, batch, result.planned, decision)
        return Effects(decision.reason, observations=observed, dispatches=requests)
    batch.state = BatchState.SCORING
    batch.final_reason = decision.reason.value
    failure = decision.action is Action.FINALIZE_FAILURE
    return Effects(decision.reason, [finalize_message(batch_id, failure=failure)], observed)


def _state(batch: Batch, progress: BatchProgress, scores: FloatArray | None) -> WaveState:
    """The wave state persisted with the batch at its previous decision."""
    counted = progress.counted_at_decision
    return WaveState(
        wave=batch.current_wave,
        resampling_pass_count=progress.resampling_pass_count,
        selection_precision=(
            progress.selection_prior_precision
            if progress.selection_prior_precision is not None
            else INITIAL_SELECTION_PRECISION
        ),
        coverage=progress.coverage,
        scores=scores,
        counted=WaveCounts() if counted is None else WaveCounts(**counted.model_dump()),
        prior_sd=progress.prior_sd,
    )


def _progress(progress: BatchProgress, result: WaveStep) -> BatchProgress:
    """What the next decision needs, persisted with this one."""
    state = result.next_state
    counted = state.counted
    return progress.with_coverage(result.context.coverage).model_copy(
        update={
            "resampling_pass_count": state.resampling_pass_count,
            "selection_prior_precision": state.selection_precision,
            "prior_sd": state.prior_sd,
            "counted_at_decision": DecisionCounts(
                submitted=counted.submitted, succeeded=counted.succeeded, failed=counted.failed
            ),
        }
    )


def _details(decision: Decision, fit: BTFit | None) -> dict[str, Any]:
    """Key figures of the decision log row."""
    details: dict[str, Any] = dict(decision.figures)
    details["resampling_pass_count"] = decision.resampling_pass_count
    details["wave_limit"] = decision.wave_limit
    if fit is not None:
        details["ssr"] = fit.ssr
        details["bt_components"] = fit.diagnostics.n_components
    return details


def _persist_state(
    session: Session, batch: Batch, history: ComparisonHistory, fit: BTFit | None
) -> None:
    """The interim scores the next decision warm-starts from, in one bulk upsert."""
    batch.last_activity_at = utc_now()
    repositories.store_scores(
        session,
        batch.id,
        history.appearances(history.succeeded),
        None if fit is None else (fit.scores, fit.standard_errors),
    )


def _dispatch_wave(
    session: Session,
    batch: Batch,
    planned: tuple[PlannedComparison, ...],
    decision: Decision,
) -> list[Dispatch]:
    """Insert the wave's rows in bulk, advance the batch to it, build the judge requests.

    The rows are the requests' outbox: inserted unsent (``sends`` 0), counted as sent by
    the delivery after the commit, sent by the sweep if that delivery is lost.
    """
    mode = decision.action.mode
    assert mode is not None
    wave = batch.current_wave + 1
    outgoing = [
        Outgoing(comparison_id(batch.id, wave, pair), pair.slot_a, pair.slot_b, sends=0)
        for pair in planned
    ]
    repositories.insert_comparisons(
        session,
        batch.id,
        wave,
        mode,
        [
            (row.comparison_id, row.essay_a, row.essay_b, pair.attempt)
            for row, pair in zip(outgoing, planned, strict=True)
        ],
    )
    batch.current_wave = wave
    repositories.count_comparisons(batch, None, ComparisonRowStatus.PENDING, len(outgoing))
    batch.state = BatchState.COLLECTING
    return dispatches(session, batch, outgoing)


def comparison_id(batch_id: uuid.UUID, wave: int, pair: PlannedComparison) -> uuid.UUID:
    """A comparison's id, a pure function of its batch, wave and oriented pair.

    Unique within a batch (an essay appears at most once per wave), the same on a replayed
    plan, and it makes the simulated judge's answers (keyed on the id) reproducible from the
    batch id and seed alone.
    """
    return uuid.uuid5(batch_id, f"{wave}:{pair.slot_a}:{pair.slot_b}")


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
