"""``cj.record_comparison_result``: store one judge's answer, exactly once.

The callback takes the batch row lock, so callbacks of one batch are serialised: the last
callback of a wave is the one that sees no pending row left and enqueues continuation
(after commit). A redelivered callback changes nothing but still re-sends that trigger if
the wave is complete and undecided, in case the first delivery died between commit and
send; continuation ignores the spare.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.models import Comparison
from cj_worker.db.states import BatchState, ComparisonRowStatus, Slot
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.payloads import ComparisonResult, PayloadError, parse
from cj_worker.tasks import unit_of_work
from cj_worker.tasks.base import cj_task, log
from cj_worker.tasks.messages import continue_batch_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.unit_of_work import Effects


class UnknownComparisonError(CJWorkerError, LookupError, exit_code=EXIT_USER_ERROR):
    """A result names a comparison this database never dispatched."""


REJECTED = "rejected"
"""Metric outcome of an answer that was not stored (invalid, or for no known comparison)."""


@cj_task(task_names.RECORD_COMPARISON_RESULT)
def record_comparison_result(result: dict[str, object]) -> str:
    """Record ``result``; returns recorded / late_success / duplicate / batch_closed."""
    try:
        parsed = parse(ComparisonResult, result)
    except PayloadError:
        metrics.observe_callback(REJECTED, "invalid")
        raise
    try:
        effects = unit_of_work.run(lambda session: record(session, parsed))
    except UnknownComparisonError:
        metrics.observe_callback(REJECTED, parsed.status)
        raise
    return effects.outcome.value


def record(session: Session, result: ComparisonResult) -> Effects:
    """The body of the callback inside the caller's transaction."""
    batch_id = repositories.batch_of_comparison(session, result.comparison_id)
    if batch_id is None:
        raise UnknownComparisonError(f"comparison_id: no comparison {result.comparison_id}")
    batch = repositories.lock_batch(session, batch_id)
    comparison = repositories.reload_comparison(session, result.comparison_id)
    if batch is None or comparison is None:  # deleted between the two reads
        raise UnknownComparisonError(f"comparison_id: no comparison {result.comparison_id}")
    if batch.state.is_terminal:
        log.info(
            "result after the batch ended; not counted",
            extra={"batch_id": str(batch_id), "comparison_id": str(comparison.id)},
        )
        return _answered(Outcome.BATCH_CLOSED, result)

    before = comparison.status
    if before is ComparisonRowStatus.PENDING:
        outcome = Outcome.RECORDED
    elif before is ComparisonRowStatus.TIMED_OUT and result.status == "succeeded":
        # The judge answered after the sweep gave up: keep the work, move it to succeeded.
        outcome = Outcome.LATE_SUCCESS
    else:
        outcome = Outcome.DUPLICATE
    if outcome is not Outcome.DUPLICATE:
        _apply(comparison, result)
        repositories.count_comparisons(batch, before, comparison.status)
    batch.last_activity_at = utc_now()

    wave = comparison.wave
    effects = _answered(outcome, result)
    if (
        batch.state is BatchState.COLLECTING
        and batch.current_wave == wave
        and repositories.wave_awaits_decision(session, batch_id, wave)
    ):
        effects.messages.append(continue_batch_message(batch_id, wave))
    return effects


def _answered(outcome: Outcome, result: ComparisonResult) -> Effects:
    return Effects(outcome, observations=[metrics.CallbackAnswered(outcome.value, result.status)])


def _apply(comparison: Comparison, result: ComparisonResult) -> None:
    comparison.status = (
        ComparisonRowStatus.SUCCEEDED
        if result.status == "succeeded"
        else ComparisonRowStatus.FAILED
    )
    comparison.winner = Slot(result.winner) if result.winner else None
    comparison.judge_id = result.judge_id
    comparison.confidence = result.confidence
    comparison.justification = result.justification
    comparison.error_code = result.error_code
    comparison.error_detail = result.error_detail
    comparison.completed_at = utc_now()
