"""``cj.record_comparison_result``: store one judge's answer, exactly once.

The callback takes the batch row lock, so callbacks of one batch are serialised: the last
callback of a wave is the one that sees no pending row left and enqueues continuation
(after commit). A redelivered callback changes nothing but still re-sends that trigger if
the wave is complete and undecided, in case the first delivery died between commit and
send; continuation ignores the spare.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Comparison, Decision
from cj_worker.db.states import BatchState, ComparisonRowStatus, Slot
from cj_worker.payloads import ComparisonResult, PayloadError, parse
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit


class UnknownComparisonError(LookupError):
    """A result names a comparison this database never dispatched."""


@cj_task(task_names.RECORD_COMPARISON_RESULT)
def record_comparison_result(result: dict[str, object]) -> str:
    """Record ``result``; returns recorded / late_success / duplicate / batch_closed."""
    try:
        parsed = parse(ComparisonResult, result)
    except PayloadError:
        metrics.observe_callback("rejected", "invalid")
        raise
    try:
        with session_scope(database_url()) as session:
            outcome, messages = record(session, parsed)
    except UnknownComparisonError:
        metrics.observe_callback("rejected", parsed.status)
        raise
    metrics.observe_callback(outcome, parsed.status)
    send_after_commit(messages)
    return outcome


def record(session: Session, result: ComparisonResult) -> tuple[str, list[Message]]:
    """The body of the callback inside the caller's transaction."""
    batch_id = session.scalar(
        sa.select(Comparison.batch_id).where(Comparison.id == result.comparison_id)
    )
    if batch_id is None:
        raise UnknownComparisonError(f"comparison_id: no comparison {result.comparison_id}")
    batch = repositories.lock_batch(session, batch_id)
    comparison = session.get(Comparison, result.comparison_id, populate_existing=True)
    if batch is None or comparison is None:  # deleted between the two reads
        raise UnknownComparisonError(f"comparison_id: no comparison {result.comparison_id}")
    if batch.state.is_terminal:
        log.info(
            "result after the batch ended; not counted",
            extra={"batch_id": str(batch_id), "comparison_id": str(comparison.id)},
        )
        return "batch_closed", []

    if comparison.status is ComparisonRowStatus.PENDING:
        _apply(comparison, result)
        if result.status == "succeeded":
            batch.comparisons_succeeded += 1
        else:
            batch.comparisons_failed += 1
        outcome = "recorded"
    elif comparison.status is ComparisonRowStatus.TIMED_OUT and result.status == "succeeded":
        # The judge answered after the sweep gave up: keep the work, move it to succeeded.
        _apply(comparison, result)
        batch.comparisons_failed -= 1
        batch.comparisons_succeeded += 1
        outcome = "late_success"
    else:
        outcome = "duplicate"
    batch.last_activity_at = utc_now()

    wave = comparison.wave
    messages: list[Message] = []
    if (
        batch.state is BatchState.COLLECTING
        and batch.current_wave == wave
        and _wave_complete_and_undecided(session, batch_id, wave)
    ):
        messages.append(
            Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": wave})
        )
    return outcome, messages


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


def _wave_complete_and_undecided(session: Session, batch_id: uuid.UUID, wave: int) -> bool:
    session.flush()
    if repositories.counters_from_rows(session, batch_id, wave).pending:
        return False
    decided = session.scalar(
        sa.select(sa.func.count())
        .select_from(Decision)
        .where(Decision.batch_id == batch_id, Decision.wave == wave)
    )
    return not decided
