"""The batch row lock and essay loading."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.engine import session_factory, session_scope
from cj_worker.db.models import Batch, Essay
from cj_worker.db.repositories import load_essays, lock_batch
from tests.factories import make_batch

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
