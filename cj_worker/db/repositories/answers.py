"""A judge's answer stored in two constant-cost statements, and the batch's tally of it.

A callback used to take the batch row lock first, re-read its comparison, flush, count the
whole wave's pending rows and look for a decision: one batch's callbacks were serialised
on that lock for the whole transaction, and the count grew with the wave, so a wave cost
quadratic time under the lock. Now a callback runs

1. :func:`apply_answer`: one guarded ``UPDATE`` of its comparison, ``WHERE status =
   'pending'`` (or ``'timed_out'`` for a late success) and the batch not ended. The guard
   is the exactly-once rule: a redelivered answer finds the row answered and changes
   nothing. It locks that comparison row only.
2. :func:`tally_answer`: one ``UPDATE`` of the batch's counters ``RETURNING`` how many
   comparisons are still pending. Pending rows only ever belong to the batch's current
   wave (continuation plans the next wave only once none is left), so ``pending == 0``
   says the wave is complete. The batch row lock is taken by this last statement and
   released by the commit that follows it.

Lock order is comparison, then batch. The sweep's time-out takes them the other way round
(batch, then the pending rows it times out); should a callback race it for the same row,
PostgreSQL detects the deadlock, aborts one transaction and the task retries (a transient
database error), so neither answer nor time-out is lost.

Neither statement touches an ORM object: the session's identity map may hold stale copies,
which is why every later reader re-reads (``populate_existing``) after taking the lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Batch, Comparison
from cj_worker.db.states import LIVE_STATES, BatchState, ComparisonRowStatus


@dataclass(frozen=True)
class AppliedAnswer:
    """What :func:`apply_answer` changed."""

    batch_id: uuid.UUID
    wave: int
    before: ComparisonRowStatus
    """``PENDING``, or ``TIMED_OUT`` for a late success."""


@dataclass(frozen=True)
class Tally:
    """The batch after counting an answer."""

    state: BatchState
    current_wave: int
    pending: int
    """Comparisons still waiting for their judge; they all belong to ``current_wave``."""


@dataclass(frozen=True)
class AnswerTarget:
    """Where an answer that changed nothing points: for the refusals and the duplicate path."""

    batch_id: uuid.UUID
    wave: int
    batch_state: BatchState
    current_wave: int
    pending: int


_COMPARISONS = cast(sa.Table, Comparison.__table__)
_BATCHES = cast(sa.Table, Batch.__table__)

ANSWER_COLUMNS = (
    "status",
    "winner",
    "judge_id",
    "confidence",
    "justification",
    "error_code",
    "error_detail",
    "completed_at",
    "prompt_tokens",
    "completion_tokens",
    "latency_seconds",
    "attempts",
    "cost",
)
"""The comparison columns an answer writes (absent ones are written NULL)."""


def _guarded_update(*, of_batch: bool) -> sa.Update:
    """``UPDATE comparisons SET <answer> WHERE id = :target AND status = :before`` and the
    batch still live (and, ``of_batch``, the batch the answer names), ``RETURNING`` its
    batch and wave. Built once: a callback only binds values (no statement building)."""
    c, b = _COMPARISONS.c, _BATCHES.c
    live = sa.exists().where(b.id == c.batch_id, b.state.in_(LIVE_STATES))
    conditions = [c.id == sa.bindparam("target"), c.status == sa.bindparam("before"), live]
    if of_batch:
        conditions.append(c.batch_id == sa.bindparam("named_batch"))
    return (
        sa.update(_COMPARISONS)
        .where(*conditions)
        .values({name: sa.bindparam(name) for name in ANSWER_COLUMNS})
        .returning(c.batch_id, c.wave)
    )


_APPLY = _guarded_update(of_batch=False)
_APPLY_NAMED = _guarded_update(of_batch=True)
_PENDING_LEFT = (  # the comparisons still waiting for their judge, all of the current wave
    _BATCHES.c.comparisons_submitted
    - _BATCHES.c.comparisons_succeeded
    - _BATCHES.c.comparisons_failed
)
_TALLY = (
    sa.update(_BATCHES)
    .where(_BATCHES.c.id == sa.bindparam("target"))
    .values(
        comparisons_succeeded=_BATCHES.c.comparisons_succeeded + sa.bindparam("succeeded"),
        comparisons_failed=_BATCHES.c.comparisons_failed + sa.bindparam("failed"),
        last_activity_at=sa.bindparam("now"),
    )
    .returning(_BATCHES.c.state, _BATCHES.c.current_wave, _PENDING_LEFT)
)


def apply_answer(
    session: Session,
    comparison_id: uuid.UUID,
    values: Mapping[str, Any],
    *,
    batch_id: uuid.UUID | None,
    succeeded: bool,
) -> AppliedAnswer | None:
    """Write ``values`` (of :data:`ANSWER_COLUMNS`) to the comparison if it still waits.

    A pending row takes any answer; a timed-out one only a success (the judge answered
    after the sweep gave up, and the work is kept). ``batch_id``, if the answer names one,
    must be the comparison's. None when nothing changed: unknown comparison, another
    batch, an ended batch, or an answer already stored (:func:`answer_target` tells which).
    """
    parameters: dict[str, Any] = dict.fromkeys(ANSWER_COLUMNS)
    parameters.update(values)
    parameters["target"] = comparison_id
    statement = _APPLY
    if batch_id is not None:
        statement, parameters["named_batch"] = _APPLY_NAMED, batch_id
    accepted = [ComparisonRowStatus.PENDING]
    if succeeded:
        accepted.append(ComparisonRowStatus.TIMED_OUT)
    connection = session.connection()
    for before in accepted:
        row = connection.execute(statement, {**parameters, "before": before}).one_or_none()
        if row is not None:
            return AppliedAnswer(batch_id=row.batch_id, wave=row.wave, before=before)
    return None


def tally_answer(
    session: Session,
    batch_id: uuid.UUID,
    before: ComparisonRowStatus,
    after: ComparisonRowStatus,
    now: datetime,
) -> Tally:
    """Count one comparison moved from ``before`` to ``after`` in the batch's counters.

    The same bookkeeping as :func:`~cj_worker.db.repositories.count_comparisons`, as one
    SQL increment, so that concurrent callbacks of a batch serialise on this statement
    only, not on a lock held from the start of their transactions.
    """
    succeeded = int(after is ComparisonRowStatus.SUCCEEDED) - int(
        before is ComparisonRowStatus.SUCCEEDED
    )
    failed = int(after in _FAILED_STATES) - int(before in _FAILED_STATES)
    state, current_wave, pending = (
        session.connection()
        .execute(_TALLY, {"target": batch_id, "succeeded": succeeded, "failed": failed, "now": now})
        .one()
    )
    return Tally(state=state, current_wave=int(current_wave), pending=int(pending))


_FAILED_STATES = (ComparisonRowStatus.FAILED, ComparisonRowStatus.TIMED_OUT)


def answer_target(session: Session, comparison_id: uuid.UUID) -> AnswerTarget | None:
    """The comparison's batch and wave, and the batch's state; None for no such comparison.

    Read without a lock, for an answer that changed nothing: it is refused, ignored, or a
    duplicate whose wave may still need its continuation trigger re-sent.
    """
    statement = (
        sa.select(
            Comparison.batch_id,
            Comparison.wave,
            Batch.state,
            Batch.current_wave,
            _PENDING_LEFT,
        )
        .join(Batch, Batch.id == Comparison.batch_id)
        .where(Comparison.id == comparison_id)
    )
    row = session.execute(statement).one_or_none()
    if row is None:
        return None
    batch_id, wave, state, current_wave, pending = row
    return AnswerTarget(batch_id, int(wave), state, int(current_wave), int(pending))
