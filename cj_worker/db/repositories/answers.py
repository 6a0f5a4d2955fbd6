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
from typing import Any

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


def apply_answer(
    session: Session,
    comparison_id: uuid.UUID,
    values: Mapping[str, Any],
    *,
    batch_id: uuid.UUID | None,
    succeeded: bool,
) -> AppliedAnswer | None:
    """Write ``values`` to the comparison if it still waits for this answer.

    A pending row takes any answer; a timed-out one only a success (the judge answered
    after the sweep gave up, and the work is kept). ``batch_id``, if the answer names one,
    must be the comparison's. None when nothing changed: unknown comparison, another
    batch, an ended batch, or an answer already stored (:func:`answer_target` tells which).
    """
    accepted = [ComparisonRowStatus.PENDING]
    if succeeded:
        accepted.append(ComparisonRowStatus.TIMED_OUT)
    for before in accepted:
        row = session.execute(
            _guarded_update(comparison_id, batch_id, before).values(**values)
        ).one_or_none()
        if row is not None:
            return AppliedAnswer(batch_id=row.batch_id, wave=row.wave, before=before)
    return None


def _guarded_update(
    comparison_id: uuid.UUID, batch_id: uuid.UUID | None, before: ComparisonRowStatus
) -> sa.Update:
    live = sa.exists().where(Batch.id == Comparison.batch_id, Batch.state.in_(LIVE_STATES))
    statement = (
        sa.update(Comparison)
        .where(Comparison.id == comparison_id, Comparison.status == before, live)
        .returning(Comparison.batch_id, Comparison.wave)
        .execution_options(synchronize_session=False)
    )
    if batch_id is not None:
        statement = statement.where(Comparison.batch_id == batch_id)
    return statement


_SUCCEEDED = Batch.comparisons_succeeded
_FAILED = Batch.comparisons_failed


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
    statement = (
        sa.update(Batch)
        .where(Batch.id == batch_id)
        .values(
            comparisons_succeeded=_SUCCEEDED + succeeded,
            comparisons_failed=_FAILED + failed,
            last_activity_at=now,
        )
        .returning(
            Batch.state,
            Batch.current_wave,
            Batch.comparisons_submitted - Batch.comparisons_succeeded - Batch.comparisons_failed,
        )
        .execution_options(synchronize_session=False)
    )
    state, current_wave, pending = session.execute(statement).one()
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
            Batch.comparisons_submitted - Batch.comparisons_succeeded - Batch.comparisons_failed,
        )
        .join(Batch, Batch.id == Comparison.batch_id)
        .where(Comparison.id == comparison_id)
    )
    row = session.execute(statement).one_or_none()
    if row is None:
        return None
    batch_id, wave, state, current_wave, pending = row
    return AnswerTarget(batch_id, int(wave), state, int(current_wave), int(pending))
