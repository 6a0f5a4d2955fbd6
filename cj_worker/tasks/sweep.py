"""``cj.sweep`` (beat): keep batches moving when a message was lost; end those that cannot.

It never decides how a batch ends by a rule of its own. It

- times out comparisons whose judge never answered (they count as failed and COVERAGE may
  retry the pair); the continuation that follows applies ``decide()`` as always;
- re-sends the trigger a lost message should have sent: continuation for a complete but
  undecided wave, finalization for a batch marked for scoring;
- fails a batch that cannot progress, with the reason ``stalled``: one whose trigger it
  has re-sent ``sweep_max_retriggers`` times without the batch moving (its continuation or
  finalization keeps failing, e.g. on corrupt data). That is not a stop rule competing
  with ``decide()``: ``decide()`` could not run to completion, and a failure event tells
  the producer so instead of leaving the batch silent forever.

Re-sends back off: the k-th for the same wave and state waits for
``sweep_interval_seconds * 2**(k-1)`` of silence, so a congested queue is not flooded with
duplicates and a slow batch is not failed early (about an hour with the defaults). The
count lives in ``processing_metadata["sweep_retriggers"]``.

Every change happens under the batch row lock and stamps ``last_activity_at``, so two
sweeps running at once act once: the second sees the first's timeouts and its fresh stamp.
The receiving tasks are idempotent, so a re-sent trigger that crosses a late original is
harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.config import get_settings
from cj_worker.core.decision import Action, Reason
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, Comparison, Decision
from cj_worker.db.states import BatchState, ComparisonRowStatus
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit

STALLED = "stalled"
"""Final reason of a batch the sweep failed because it could not progress."""
FAILURE_REASONS = frozenset({Reason.LOW_SUCCESS_RATE.value, STALLED})
"""Final reasons that end a batch through ``cj.finalize_failure``."""
RETRIGGERS_KEY = "sweep_retriggers"
"""``processing_metadata`` key: ``{"state", "wave", "count"}`` of the sweep's re-sends."""


@dataclass(frozen=True)
class SweepPolicy:
    """When one sweep pass acts, from the settings and the time it started."""

    now: datetime
    comparison_timeout: timedelta
    interval: timedelta
    max_retriggers: int

    @property
    def timeout_before(self) -> datetime:
        return self.now - self.comparison_timeout

    def silent_long_enough(self, last_activity: datetime, retriggers: int) -> bool:
        """Whether a batch re-triggered ``retriggers`` times has been quiet long enough."""
        wait = self.interval * (1 << min(retriggers, self.max_retriggers))
        return last_activity <= self.now - wait


@dataclass
class BatchSweep:
    """What the sweep did to one batch."""

    timed_out: int = 0
    messages: list[Message] = field(default_factory=list)
    stalled: bool = False


@cj_task(task_names.SWEEP)
def sweep() -> dict[str, int]:
    """One pass over the live batches; returns counts of what it did."""
    settings = get_settings()
    policy = SweepPolicy(
        now=utc_now(),
        comparison_timeout=timedelta(seconds=settings.comparison_timeout_seconds),
        interval=timedelta(seconds=settings.sweep_interval_seconds),
        max_retriggers=settings.sweep_max_retriggers,
    )
    url = database_url()
    with session_scope(url) as session:
        stale = _batches_with_stale_comparisons(session, policy.timeout_before)
        idle = _idle_batches(session, policy.now - policy.interval)
    report = {"timed_out": 0, "continuations": 0, "finalizations": 0, "stalled": 0}
    for batch_id in sorted(set(stale) | set(idle)):
        with session_scope(url) as session:
            done = sweep_batch(session, batch_id, policy)
        metrics.observe_sweep("timed_out", done.timed_out)
        metrics.observe_sweep("stalled", int(done.stalled))
        report["timed_out"] += done.timed_out
        report["stalled"] += int(done.stalled)
        send_after_commit(done.messages)
        for message in done.messages:
            kind = "continuation" if message.task == task_names.CONTINUE_BATCH else "finalization"
            metrics.observe_sweep(kind)
            report[f"{kind}s"] += 1
    if any(report.values()):
        log.info("sweep", extra=report)
    return report


def sweep_batch(session: Session, batch_id: uuid.UUID, policy: SweepPolicy) -> BatchSweep:
    """Time out, re-trigger or fail one batch, under its lock."""
    batch = repositories.lock_batch(session, batch_id)
    if batch is None or batch.state.is_terminal:
        return BatchSweep()
    done = BatchSweep(timed_out=_time_out(session, batch, policy))
    trigger = _lost_trigger(session, batch)
    if trigger is None:
        return done
    retriggers = _retriggers(batch)
    # Timeouts just completed the wave: nobody else will send its continuation.
    if not done.timed_out and not policy.silent_long_enough(batch.last_activity_at, retriggers):
        return done
    batch.last_activity_at = policy.now
    if retriggers >= policy.max_retriggers and batch.final_reason not in FAILURE_REASONS:
        trigger = _stall(session, batch, retriggers)
        done.stalled = True
    else:
        log.warning(
            "sweep re-sent a lost trigger",
            extra={
                "batch_id": str(batch.id),
                "wave": batch.current_wave,
                "state": batch.state.value,
                "task": trigger.task,
                "retriggers": retriggers + 1,
            },
        )
    _count_retrigger(batch, retriggers + 1)
    done.messages.append(trigger)
    return done


def _time_out(session: Session, batch: Batch, policy: SweepPolicy) -> int:
    timed_out: int = session.execute(
        sa.update(Comparison)
        .where(
            Comparison.batch_id == batch.id,
            Comparison.status == ComparisonRowStatus.PENDING,
            Comparison.created_at < policy.timeout_before,
        )
        .values(status=ComparisonRowStatus.TIMED_OUT, error_code="timeout", completed_at=policy.now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if timed_out:
        batch.comparisons_failed += timed_out
        batch.last_activity_at = policy.now
        log.warning("comparisons timed out", extra={"batch_id": str(batch.id), "count": timed_out})
    return int(timed_out)


def _lost_trigger(session: Session, batch: Batch) -> Message | None:
    """The message the batch is waiting for, if no one else is going to send it."""
    if batch.state is BatchState.SCORING:
        return _finalize(batch)
    wave = batch.current_wave
    if repositories.counters_from_rows(session, batch.id, wave).pending:
        return None  # judges still owe answers: their callbacks will trigger
    decided = session.scalar(
        sa.select(sa.func.count())
        .select_from(Decision)
        .where(Decision.batch_id == batch.id, Decision.wave == wave)
    )
    if decided:
        return None
    return Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch.id), "wave": wave})


def _finalize(batch: Batch) -> Message:
    task = (
        task_names.FINALIZE_FAILURE
        if batch.final_reason in FAILURE_REASONS
        else task_names.FINALIZE_SCORING
    )
    return Message(task, {"batch_id": str(batch.id)})


def _stall(session: Session, batch: Batch, retriggers: int) -> Message:
    """Fail a batch whose continuation or finalization never completes."""
    fields: dict[str, Any] = {
        "batch_id": str(batch.id),
        "wave": batch.current_wave,
        "state": batch.state.value,
        "reason": STALLED,
        "retriggers": retriggers,
        "previous_reason": batch.final_reason,
    }
    if batch.state is not BatchState.SCORING:
        # The wave never got its decision; the log shows this one in its place.
        repositories.record_decision(
            session,
            batch.id,
            batch.current_wave,
            Action.FINALIZE_FAILURE.value,
            STALLED,
            {"source": "sweep", "retriggers": retriggers},
        )
        batch.state = BatchState.SCORING
    batch.final_reason = STALLED
    log.error("batch stalled: failing it", extra=fields)
    return _finalize(batch)


def _retriggers(batch: Batch) -> int:
    """Re-sends already made for the batch's current state and wave."""
    record = (batch.processing_metadata or {}).get(RETRIGGERS_KEY) or {}
    if record.get("state") == batch.state.value and record.get("wave") == batch.current_wave:
        return int(record.get("count", 0))
    return 0


def _count_retrigger(batch: Batch, count: int) -> None:
    record = {"state": batch.state.value, "wave": batch.current_wave, "count": count}
    batch.processing_metadata = {**(batch.processing_metadata or {}), RETRIGGERS_KEY: record}


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
