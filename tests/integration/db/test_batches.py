"""The batch row: its lock, its essays, its counters, and which batches are idle."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import get_engine, session_factory, session_scope
from cj_worker.db.models import Batch, Essay
from cj_worker.db.repositories import (
    RowCounts,
    bound_lock_wait,
    count_comparisons,
    essay_texts,
    idle_batches,
    insert_batch,
    load_essays,
    lock_batch,
)
from cj_worker.db.states import BatchState, ComparisonRowStatus
from tests.builders.db import make_batch

PENDING = ComparisonRowStatus.PENDING
SUCCEEDED = ComparisonRowStatus.SUCCEEDED
FAILED = ComparisonRowStatus.FAILED
TIMED_OUT = ComparisonRowStatus.TIMED_OUT

LOCK_NOT_AVAILABLE = "55P03"


def test_lock_batch_returns_none_for_an_unknown_batch(session: Session) -> None:
    assert lock_batch(session, uuid.uuid4()) is None


def test_lock_batch_returns_the_batch(session: Session) -> None:
    batch = make_batch(session, 2)
    assert lock_batch(session, batch.id) is batch


@pytest.mark.integration
def test_lock_batch_excludes_a_second_locker(pg_url: str) -> None:
    with session_scope(pg_url) as setup:
        batch_id = make_batch(setup, 2).id
    new_session = session_factory(pg_url)
    with new_session() as holder, new_session() as waiter:
        assert lock_batch(holder, batch_id) is not None
        waiter.execute(sa.text("SET LOCAL lock_timeout = '50ms'"))
        with pytest.raises(sa.exc.OperationalError) as raised:
            lock_batch(waiter, batch_id)
        assert getattr(raised.value.orig, "pgcode", None) == LOCK_NOT_AVAILABLE
        waiter.rollback()
        holder.rollback()
        assert lock_batch(waiter, batch_id) is not None


@pytest.mark.integration
def test_a_sweep_s_lock_skips_a_batch_someone_holds(pg_url: str) -> None:
    with session_scope(pg_url) as setup:
        batch_id = make_batch(setup, 2).id
    new_session = session_factory(pg_url)
    with new_session() as holder, new_session() as sweeper:
        assert lock_batch(holder, batch_id) is not None
        assert lock_batch(sweeper, batch_id, skip_locked=True) is None
        holder.rollback()
        assert lock_batch(sweeper, batch_id, skip_locked=True) is not None


@pytest.mark.integration
def test_a_bounded_lock_wait_fails_instead_of_waiting_on(pg_url: str) -> None:
    with session_scope(pg_url) as setup:
        batch_id = make_batch(setup, 2).id
    new_session = session_factory(pg_url)
    with new_session() as holder, new_session() as waiter:
        assert lock_batch(holder, batch_id) is not None
        bound_lock_wait(waiter, 0.2)
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError) as raised:
            lock_batch(waiter, batch_id)
        assert time.monotonic() - started < 5
        assert getattr(raised.value.orig, "pgcode", None) == LOCK_NOT_AVAILABLE
        holder.rollback()


@pytest.mark.integration
def test_the_lock_bound_is_set_once_per_connection_and_again_after_a_rollback(
    pg_url: str,
) -> None:
    """Set once per pooled connection (no round trip per transaction); a rollback undoes
    a session-level SET, so the next transaction on that connection sets it again."""
    engine = get_engine(pg_url)
    engine.dispose()  # one pooled connection from here on: the same for every session
    new_session = session_factory(pg_url)

    def shown(session: Session) -> str:
        return str(session.execute(sa.text("SHOW lock_timeout")).scalar_one())

    with new_session() as session:
        bound_lock_wait(session, 0.25)
        assert shown(session) == "250ms"
        session.commit()
    with new_session() as session:
        assert shown(session) == "250ms", "kept by the connection after a commit"
        bound_lock_wait(session, 0.25)
        session.rollback()
    with new_session() as session:
        bound_lock_wait(session, 0.3)
        session.rollback()  # the SET of this transaction is undone...
    with new_session() as session:
        bound_lock_wait(session, 0.3)  # ...so it is set again here
        assert shown(session) == "300ms"
        session.commit()


@pytest.mark.integration
def test_lock_batch_rereads_a_row_the_session_already_holds(pg_url: str) -> None:
    with session_scope(pg_url) as setup:
        batch_id = make_batch(setup, 2).id
    new_session = session_factory(pg_url)
    with new_session() as reader:
        stale = reader.get(Batch, batch_id)
        assert stale is not None
        assert stale.current_wave == 0
        with session_scope(pg_url) as writer:
            writer.execute(sa.update(Batch).where(Batch.id == batch_id).values(current_wave=3))
        locked = lock_batch(reader, batch_id)
        assert locked is stale
        assert locked.current_wave == 3


def test_load_essays_orders_by_position(session: Session) -> None:
    batch = make_batch(session, 0)
    session.add_all(
        Essay(batch_id=batch.id, external_id=f"e{position}", position=position, text="")
        for position in (2, 0, 1)
    )
    session.flush()
    essays = load_essays(session, batch.id)
    assert [essay.position for essay in essays] == [0, 1, 2]
    assert [essay.external_id for essay in essays] == ["e0", "e1", "e2"]
    assert load_essays(session, make_batch(session, 0).id) == []


def test_insert_batch_inserts_once_and_keeps_the_transaction_usable(session: Session) -> None:
    batch_id = uuid.uuid4()
    values = {
        "id": batch_id,
        "state": BatchState.CREATED,
        "total_budget": 10,
        "settings": {},
        "judge": {"kind": "simulated"},
        "seed": 1,
    }

    def essays(text: str) -> list[Essay]:
        return [Essay(batch_id=batch_id, external_id="e0", position=0, text=text)]

    assert insert_batch(session, values, essays("first"))
    assert not insert_batch(session, {**values, "total_budget": 99}, essays("second"))
    session.flush()

    assert essay_texts(session, batch_id, [0]) == {0: "first"}
    assert session.get(Batch, batch_id).total_budget == 10  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, PENDING, (3, 1, 1)),
        (PENDING, SUCCEEDED, (2, 2, 1)),
        (PENDING, FAILED, (2, 1, 2)),
        (PENDING, TIMED_OUT, (2, 1, 2)),
        (TIMED_OUT, SUCCEEDED, (2, 2, 0)),
    ],
)
def test_the_counters_follow_each_status_change(
    session: Session,
    before: ComparisonRowStatus | None,
    after: ComparisonRowStatus,
    expected: tuple[int, int, int],
) -> None:
    batch = make_batch(session, 2)
    batch.comparisons_submitted, batch.comparisons_succeeded, batch.comparisons_failed = 2, 1, 1

    count_comparisons(batch, before, after)

    counts = RowCounts.of_batch(batch)
    assert (counts.submitted, counts.succeeded, counts.failed) == expected
    assert counts.pending == counts.submitted - counts.succeeded - counts.failed


def test_idle_batches_are_unfinished_and_quiet_since_the_cut_off(session: Session) -> None:
    cut_off = utc_now() - timedelta(minutes=5)
    quiet = make_batch(session, 2)
    quiet.last_activity_at = cut_off - timedelta(seconds=1)
    busy = make_batch(session, 2)
    busy.last_activity_at = cut_off + timedelta(seconds=1)
    done = make_batch(session, 2, state=BatchState.COMPLETED)
    done.last_activity_at = cut_off - timedelta(hours=1)
    session.flush()

    idle = idle_batches(session, cut_off)  # the database may hold other tests' batches
    assert quiet.id in idle
    assert busy.id not in idle
    assert done.id not in idle
