"""``cj.sweep`` (beat): keep batches moving when a message was lost.

It never decides how a batch ends: it times out comparisons whose judge never answered
(they count as failed and COVERAGE may retry them), and re-sends the trigger a lost
message should have sent (continuation for a complete but undecided wave, finalization for
a batch marked for scoring). The receiving tasks are idempotent and apply ``decide()``'s
rule, so running the sweep twice at once, or on a healthy batch, is harmless.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker import task_names
from cj_worker.config import get_settings
from cj_worker.core.decision import Reason
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, Comparison, Decision
from cj_worker.db.states import BatchState, ComparisonRowStatus
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit


@cj_task(task_names.SWEEP)
def sweep() -> dict[str, int]:
    """One pass over the live batches; returns counts of what it did."""
    settings = get_settings()
    now = utc_now()
    timeout_before = now - timedelta(seconds=settings.comparison_timeout_seconds)
    quiet_before = now - timedelta(seconds=settings.sweep_interval_seconds)
    url = database_url()
    with session_scope(url) as session:
        stale = _batches_with_stale_comparisons(session, timeout_before)
        idle = _idle_batches(session, quiet_before)
    report = {"timed_out": 0, "continuations": 0, "finalizations": 0}
    for batch_id in sorted(set(stale) | set(idle)):
        with session_scope(url) as session:
            timed_out, messages = sweep_batch(session, batch_id, timeout_before, quiet_before)
        send_after_commit(messages)
        report["timed_out"] += timed_out
        for message in messages:
            key = "continuations" if message.task == task_names.CONTINUE_BATCH else "finalizations"
            report[key] += 1
    if any(report.values()):
        log.info("sweep", extra=report)
    return report


def sweep_batch(
    session: Session, batch_id: uuid.UUID, timeout_before: datetime, quiet_before: datetime
) -> tuple[int, list[Message]]:
    """Time out and re-trigger for one batch, under its lock."""
    batch = repositories.lock_batch(session, batch_id)
    if batch is None or batch.state.is_terminal:
        return 0, []
    timed_out: int = session.execute(
        sa.update(Comparison)
        .where(
            Comparison.batch_id == batch_id,
            Comparison.status == ComparisonRowStatus.PENDING,
            Comparison.created_at < timeout_before,
        )
        .values(
            status=ComparisonRowStatus.TIMED_OUT,
            error_code="timeout",
            completed_at=utc_now(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if timed_out:
        batch.comparisons_failed += timed_out
        batch.last_activity_at = utc_now()
        log.warning("comparisons timed out", extra={"batch_id": str(batch_id), "count": timed_out})
    messages: list[Message] = []
    quiet = timed_out > 0 or batch.last_activity_at < quiet_before
    if batch.state is BatchState.SCORING and quiet:
        task = (
            task_names.FINALIZE_FAILURE
            if batch.final_reason == Reason.LOW_SUCCESS_RATE
            else task_names.FINALIZE_SCORING
        )
        messages.append(Message(task, {"batch_id": str(batch_id)}))
    elif batch.state in (BatchState.CREATED, BatchState.COLLECTING) and quiet:
        wave = batch.current_wave
        pending = repositories.counters_from_rows(session, batch_id, wave).pending
        decided = session.scalar(
            sa.select(sa.func.count())
            .select_from(Decision)
            .where(Decision.batch_id == batch_id, Decision.wave == wave)
        )
        if not pending and not decided:
            messages.append(
                Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": wave})
            )
    return int(timed_out), messages


def _batches_with_stale_comparisons(session: Session, before: datetime) -> list[uuid.UUID]:
    return list(
        session.scalars(
            sa.select(Comparison.batch_id)
            .where(Comparison.status == ComparisonRowStatus.PENDING, Comparison.created_at < before)
            .distinct()
        )
    )


def _idle_batches(session: Session, before: datetime) -> list[uuid.UUID]:
    live = (BatchState.CREATED, BatchState.COLLECTING, BatchState.SCORING)
    return list(
        session.scalars(
            sa.select(Batch.id).where(Batch.state.in_(live), Batch.last_activity_at < before)
        )
    )
