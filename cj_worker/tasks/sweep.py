"""``cj.sweep`` (beat): keep batches moving when a message was lost; end those that cannot.

It never decides how a batch ends by a rule of its own. For each batch that has been quiet
for a sweep interval (no answer, no decision, no action of the sweep), under its row lock,
it

- sends the judge requests that never left (their dispatch after the commit was lost);
- **re-sends** the requests a judge has not answered by its deadline (the batch heard
  nothing meanwhile), with the same comparison id, up to ``judge_max_resends`` times: lost
  is not failed, and a comparison lost in transit is asked again, not booked as failed;
- times out the requests still unanswered a deadline after their last re-send: only that
  silence, or a failure the judge answered, counts against ``MIN_SUCCESS_RATE``; the
  continuation that follows applies ``decide()`` as always (a wave whose every comparison
  failed ends the batch ``judge_failed_wave``);
- re-sends the trigger a lost message should have sent: continuation for a complete but
  undecided wave, finalization for a batch marked for scoring;
- fails a batch that cannot progress, with the reason ``stalled``: one whose trigger it
  has re-sent ``sweep_max_retriggers`` times without the batch moving (its continuation or
  finalization keeps failing, e.g. on corrupt data). That is not a stop rule competing
  with ``decide()``: ``decide()`` could not run to completion, and a failure event tells
  the producer so instead of leaving the batch silent forever.

Deadlines are the judge kind's (``resend_<kind>_after_seconds``, D): a request is overdue
once it was sent ``D - interval`` ago and the batch has been silent as long, so with a sweep
every interval it is re-sent within D, and a judge that never answers ends its batch
within two deadlines (one re-send). Batch silence keeps a busy judge whose queue is long
from being flooded with duplicates: while answers arrive, nothing is re-sent.

Trigger re-sends back off: the k-th for the same wave and state waits for
``sweep_interval_seconds * 2**(k-1)`` of silence, so a congested queue is not flooded with
duplicates and a slow batch is not failed early. The count lives in the batch's progress
(``processing_metadata["sweep_retriggers"]``).

Every action happens under the batch row lock and stamps ``last_activity_at``, so two
sweeps running at once act once: the second skips the locked batch or sees the fresh
stamp. A batch whose lock is held is skipped (someone is working on it). The receiving
tasks are idempotent, so a re-sent request or trigger that crosses a late original is
harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.config import Settings
from cj_worker.core.decision import Action, Reason
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch
from cj_worker.db.progress import SWEEP_RETRIGGERS, SweepRetriggers, load_progress, save_progress
from cj_worker.db.repositories.chunks import awaits_essays, stored_essay_count
from cj_worker.db.states import BatchState, ComparisonRowStatus
from cj_worker.tasks import base, unit_of_work
from cj_worker.tasks.base import Message, cj_task, log
from cj_worker.tasks.chunks import fail_intake
from cj_worker.tasks.dispatch import Dispatch
from cj_worker.tasks.judging import Outgoing, dispatches
from cj_worker.tasks.messages import continue_batch_message, finalize_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.unit_of_work import Effects

STALLED = Reason.STALLED.value
"""Final reason of a batch the sweep failed because it could not progress."""
FAILURE_REASONS = frozenset(
    {
        Reason.LOW_SUCCESS_RATE.value,
        Reason.JUDGE_FAILED_WAVE.value,
        Reason.STALLED.value,
        Reason.JUDGE_UNAUTHORIZED.value,
        Reason.ESSAYS_DIGEST_MISMATCH.value,
        Reason.INTAKE_INCOMPLETE.value,
    }
)
"""Final reasons that end a batch through ``cj.finalize_failure``: every reason the
decision pairs with ``Action.FINALIZE_FAILURE``, and the sweep's own ``stalled``. A lost
finalization is re-sent by reason, since a stalled finalization logs no decision."""
RETRIGGERS_KEY = SWEEP_RETRIGGERS
"""``processing_metadata`` key: ``{"state", "wave", "count"}`` of the sweep's re-sends."""


@dataclass(frozen=True)
class SweepPolicy:
    """When one sweep pass acts, from the settings and the time it started."""

    now: datetime
    interval: timedelta
    max_retriggers: int
    max_resends: int
    resend_after: dict[str, timedelta]
    """Re-send deadline per judge kind (``simulated``, ``llm``, ``external``)."""
    intake_timeout: timedelta = timedelta(hours=1)
    """Silence after which a batch still waiting for chunks is failed (``intake_incomplete``)."""

    @classmethod
    def of(cls, settings: Settings, now: datetime) -> SweepPolicy:
        return cls(
            now=now,
            interval=timedelta(seconds=settings.sweep_interval_seconds),
            max_retriggers=settings.sweep_max_retriggers,
            max_resends=settings.judge_max_resends,
            resend_after={
                kind: timedelta(seconds=settings.resend_after_seconds(kind))
                for kind in ("simulated", "llm", "external")
            },
            intake_timeout=timedelta(seconds=settings.intake_timeout_seconds),
        )

    @property
    def idle_before(self) -> datetime:
        """Batches quiet since before this are looked at."""
        return self.now - self.interval

    def overdue_before(self, judge_kind: str) -> datetime:
        """Requests of this judge kind last sent before this are overdue.

        ``deadline - interval`` ago: the next pass would be past the deadline.
        """
        deadline = self.resend_after.get(judge_kind, self.resend_after["external"])
        return self.now - max(deadline - self.interval, self.interval)

    def silent_long_enough(self, last_activity: datetime, retriggers: int) -> bool:
        """Whether a batch re-triggered ``retriggers`` times has been quiet long enough."""
        wait = self.interval * (1 << min(retriggers, self.max_retriggers))
        return last_activity <= self.now - wait


@dataclass(frozen=True)
class BatchSweep(Effects):
    """What the sweep did to one batch: its effects, and the counts the pass reports."""

    timed_out: int = 0
    stalled: bool = False
    intake_expired: bool = False


REPORT_KEYS = (
    "dispatched",
    "resent",
    "timed_out",
    "continuations",
    "finalizations",
    "stalled",
    "intake_expired",
)
"""What a pass reports: requests sent for the first time, re-sent, timed out; triggers;
batches failed (``stalled``, and ``intake_expired``: chunks stopped arriving)."""


@cj_task(task_names.SWEEP)
def sweep() -> dict[str, int]:
    """One pass over the quiet live batches; returns counts of what it did."""
    policy = SweepPolicy.of(base.settings(), utc_now())
    url = base.database_url()
    with session_scope(url) as session:
        idle = repositories.idle_batches(session, policy.idle_before)
    report = dict.fromkeys(REPORT_KEYS, 0)
    for batch_id in sorted(idle):
        done = unit_of_work.run(
            partial(sweep_batch, batch_id=batch_id, policy=policy), database_url=url
        )
        report["timed_out"] += done.timed_out
        report["stalled"] += int(done.stalled)
        report["intake_expired"] += int(done.intake_expired)
        for send in (send for dispatch in done.dispatches for send in dispatch.sends):
            report["resent" if send.sends else "dispatched"] += 1
        for message in done.messages:
            report[f"{_kind(message)}s"] += 1
    if any(report.values()):
        log.info("sweep", extra=report)
    return report


def sweep_batch(session: Session, batch_id: uuid.UUID, policy: SweepPolicy) -> BatchSweep:
    """Send, re-send, time out, re-trigger or fail one batch, under its lock."""
    batch = repositories.lock_batch(session, batch_id, skip_locked=True)
    if batch is None or batch.state.is_terminal:
        return BatchSweep(Outcome.LEFT_ALONE)
    if awaits_essays(session, batch):
        return _awaiting_essays(session, batch, policy)
    requests: list[Dispatch] = []
    timed_out = 0
    if batch.state is BatchState.COLLECTING:
        requests = _requests_due(session, batch, policy)
        timed_out = _time_out(session, batch, policy)
    observations: list[metrics.Observation] = []
    if requests:
        batch.last_activity_at = policy.now
        resent = sum(1 for request in requests if request.sends)
        if resent:
            observations.append(metrics.SweepActed("resent", resent))
        if len(requests) > resent:
            observations.append(metrics.SweepActed("dispatched", len(requests) - resent))
    if timed_out:
        observations.append(metrics.SweepActed("timed_out", timed_out))
    quiet = BatchSweep(
        Outcome.TIMED_OUT if timed_out else (Outcome.RESENT if requests else Outcome.LEFT_ALONE),
        observations=observations,
        dispatches=requests,
        timed_out=timed_out,
    )
    trigger = _lost_trigger(session, batch)
    if trigger is None:
        return quiet
    progress = load_progress(batch)
    retriggers = progress.retriggers_of(batch.state.value, batch.current_wave)
    # Timeouts just completed the wave: nobody else will send its continuation.
    if not timed_out and not policy.silent_long_enough(batch.last_activity_at, retriggers):
        return quiet
    batch.last_activity_at = policy.now
    stalled = retriggers >= policy.max_retriggers and batch.final_reason not in FAILURE_REASONS
    if stalled:
        trigger = _stall(session, batch, retriggers)
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
    # Counted under the state the batch is left in: a stalled batch, now scoring, starts
    # its finalize_failure re-sends at the count that stalled it.
    record = SweepRetriggers(state=batch.state.value, wave=batch.current_wave, count=retriggers + 1)
    save_progress(batch, progress.model_copy(update={SWEEP_RETRIGGERS: record}))
    observations = [*quiet.observations, metrics.SweepActed(_kind(trigger))]
    if stalled:
        observations.append(metrics.SweepActed("stalled"))
    return BatchSweep(
        Outcome.STALLED if stalled else Outcome.RETRIGGERED,
        messages=[trigger],
        observations=observations,
        dispatches=requests,
        timed_out=timed_out,
        stalled=stalled,
    )


def _awaiting_essays(session: Session, batch: Batch, policy: SweepPolicy) -> BatchSweep:
    """A batch still waiting for chunks: no trigger is lost (the chunk that completes it
    sends wave 0), but one that heard no chunk for ``intake_timeout`` is failed."""
    if batch.last_activity_at > policy.now - policy.intake_timeout:
        return BatchSweep(Outcome.AWAITING_ESSAYS)
    details = {
        "source": "sweep",
        "stored": stored_essay_count(session, batch.id),
        "expected": batch.essays_expected,
        "quiet_since": batch.last_activity_at.isoformat(),
    }
    messages, observations = fail_intake(session, batch, Reason.INTAKE_INCOMPLETE, details)
    return BatchSweep(
        Outcome.INTAKE_EXPIRED,
        messages=messages,
        observations=[*observations, metrics.SweepActed("intake_expired")],
        intake_expired=bool(messages),
    )


def _judge_kind(batch: Batch) -> str:
    kind = batch.judge.get("kind") if isinstance(batch.judge, dict) else None
    return str(kind or "external")


def _requests_due(session: Session, batch: Batch, policy: SweepPolicy) -> list[Dispatch]:
    """Requests never sent, and (after the judge's deadline of silence) those to re-send."""
    overdue_before = policy.overdue_before(_judge_kind(batch))
    rows = repositories.requests_due(
        session,
        batch.id,
        unsent_before=policy.idle_before,
        overdue_before=overdue_before if batch.last_activity_at <= overdue_before else None,
        max_sends=policy.max_resends,
    )
    if not rows:
        return []
    resent = [row for row in rows if row.sends]
    if resent:
        log.warning(
            "sweep re-sent unanswered judge requests",
            extra={"batch_id": str(batch.id), "wave": batch.current_wave, "count": len(resent)},
        )
    if len(rows) > len(resent):
        log.warning(
            "sweep sent judge requests whose dispatch was lost",
            extra={"batch_id": str(batch.id), "count": len(rows) - len(resent)},
        )
    outgoing = [Outgoing(row.id, row.essay_a, row.essay_b, row.sends) for row in rows]
    return dispatches(session, batch, outgoing)


def _kind(message: Message) -> str:
    """The sweep metric's action for a re-sent trigger."""
    return "continuation" if message.task == task_names.CONTINUE_BATCH else "finalization"


def _time_out(session: Session, batch: Batch, policy: SweepPolicy) -> int:
    """Time out requests unanswered a deadline after their last re-send (batch silent)."""
    overdue_before = policy.overdue_before(_judge_kind(batch))
    if batch.last_activity_at > overdue_before:
        return 0
    timed_out = repositories.time_out_comparisons(
        session,
        batch.id,
        sent_before=overdue_before,
        min_sends=policy.max_resends + 1,
        now=policy.now,
    )
    if timed_out:
        repositories.count_comparisons(
            batch, ComparisonRowStatus.PENDING, ComparisonRowStatus.TIMED_OUT, timed_out
        )
        batch.last_activity_at = policy.now
        log.warning(
            "comparisons timed out: no answer after every re-send",
            extra={"batch_id": str(batch.id), "count": timed_out},
        )
    return timed_out


def _lost_trigger(session: Session, batch: Batch) -> Message | None:
    """The message the batch is waiting for, if no one else is going to send it."""
    if batch.state is BatchState.SCORING:
        return _finalize(batch)
    # Judges that still owe answers will trigger through their callbacks.
    if repositories.wave_awaits_decision(session, batch.id, batch.current_wave):
        return continue_batch_message(batch.id, batch.current_wave)
    return None


def _finalize(batch: Batch) -> Message:
    return finalize_message(batch.id, failure=batch.final_reason in FAILURE_REASONS)


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
