"""The batch row: its lock, its essays, its comparison counters, the batches to sweep."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.engine import LOCK_TIMEOUT_KEY
from cj_worker.db.models import Batch, Essay
from cj_worker.db.repositories.conflicts import insert_unless_exists
from cj_worker.db.states import LIVE_STATES, ComparisonRowStatus


def lock_batch(session: Session, batch_id: uuid.UUID, *, skip_locked: bool = False) -> Batch | None:
    """The batch, locked until the transaction ends (``SELECT ... FOR UPDATE``).

    Every state change takes this lock first, so continuation, callbacks and the sweep
    cannot act on the same batch at once. The row is re-read even if the session already
    holds it: what was loaded before the lock may be stale. On SQLite the engine's
    ``BEGIN IMMEDIATE`` gives the same guarantee.

    ``skip_locked``: None instead of waiting when another transaction holds the lock (the
    sweep: a batch someone is working on is not stuck). The wait is otherwise bounded by
    :func:`bound_lock_wait`.
    """
    statement = (
        sa.select(Batch)
        .where(Batch.id == batch_id)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).one_or_none()


def bound_lock_wait(session: Session, seconds: float) -> None:
    """Make a lock wait in this transaction fail after ``seconds`` (PostgreSQL ``lock_timeout``).

    A task blocked on a batch row then fails with a transient error and is retried with
    backoff, instead of running into its time limit and being killed mid-way. SQLite's
    write lock is bounded by its own busy timeout.

    Set once per connection (a session-level ``SET``, remembered in the pooled
    connection's ``info``), not per transaction: ``SET LOCAL`` would cost every callback
    a round trip. A rollback undoes the ``SET`` and forgets it (:mod:`cj_worker.db.engine`),
    so the next transaction on that connection sets it again.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    milliseconds = int(seconds * 1000)
    if connection.info.get(LOCK_TIMEOUT_KEY) != milliseconds:
        connection.exec_driver_sql(f"SET lock_timeout = {milliseconds}")
        connection.info[LOCK_TIMEOUT_KEY] = milliseconds


def get_batch(session: Session, batch_id: uuid.UUID) -> Batch | None:
    """The batch without a lock, for reads that change nothing."""
    return session.get(Batch, batch_id)


def insert_batch(session: Session, values: Mapping[str, Any], essays: Iterable[Essay]) -> bool:
    """Insert a batch and its essays; False, inserting nothing, if its id already exists.

    A redelivered intake message then changes nothing, and the transaction stays usable
    (see :func:`~cj_worker.db.repositories.conflicts.insert_unless_exists`).
    """
    if not insert_unless_exists(session, Batch, dict(values), unique_key=("id",)):
        return False
    session.add_all(essays)
    return True


@dataclass(frozen=True)
class EssayRef:
    """What finalization needs of an essay: never its text."""

    id: int
    position: int
    external_id: str
    is_anchor: bool
    grade: str | None


def load_essays(session: Session, batch_id: uuid.UUID) -> list[EssayRef]:
    """The batch's essays in position order, i.e. indexed as the core indexes them.

    Five columns as plain values: whole ORM rows would read every text (tens of
    megabytes at 20,000 essays) and cost a tenth of a second per thousand objects;
    :func:`~cj_worker.db.repositories.essay_texts` reads texts when they are wanted.
    """
    statement = (
        sa.select(Essay.id, Essay.position, Essay.external_id, Essay.is_anchor, Essay.grade)
        .where(Essay.batch_id == batch_id)
        .order_by(Essay.position)
    )
    return [EssayRef(*row) for row in session.execute(statement)]


_COUNTER = {
    ComparisonRowStatus.SUCCEEDED: "comparisons_succeeded",
    ComparisonRowStatus.FAILED: "comparisons_failed",
    ComparisonRowStatus.TIMED_OUT: "comparisons_failed",
}
"""The batch counter each finished status counts in; pending rows are submitted only."""


def count_comparisons(
    batch: Batch,
    before: ComparisonRowStatus | None,
    after: ComparisonRowStatus,
    count: int = 1,
) -> None:
    """Move ``count`` comparisons from status ``before`` (None: new rows) to ``after``.

    The one writer of the batch's ``comparisons_*`` counters, called under the batch lock
    in the transaction that changes the rows, so the counters always equal the row
    counts and a status read can take them instead of grouping every row.
    """
    if before is None:
        batch.comparisons_submitted += count
    elif before in _COUNTER:
        column = _COUNTER[before]
        setattr(batch, column, getattr(batch, column) - count)
    if after in _COUNTER:
        column = _COUNTER[after]
        setattr(batch, column, getattr(batch, column) + count)


def idle_batches(session: Session, before: datetime) -> list[uuid.UUID]:
    """Unfinished batches with no activity since ``before``: the sweep looks at these.

    The states are inline, as the predicate of ``ix_batches_live`` lists them
    (``models.LIVE_BATCH_SQL``): a partial index serves only a query that states its
    predicate literally, which bound parameters do not (SQLite; PostgreSQL generic plans).
    """
    live: list[sa.ColumnClause[Any]] = [sa.literal_column(f"'{state}'") for state in LIVE_STATES]
    statement = sa.select(Batch.id).where(Batch.state.in_(live), Batch.last_activity_at < before)
    return list(session.scalars(statement))
