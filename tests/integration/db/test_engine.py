"""Engines are cached per URL, sessions commit or roll back, SQLite behaves like a server."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
import sqlalchemy as sa

from cj_worker.db.engine import (
    dispose_engines,
    get_engine,
    ping_on_checkout,
    session_factory,
    session_scope,
)
from cj_worker.db.models import Batch, Essay
from tests.builders.db import make_batch


def _batch_count(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Batch)) or 0


def _make_batch_then_fail(url: str, *, in_savepoint: bool) -> None:
    with session_scope(url) as session:
        if in_savepoint:
            with session.begin_nested():
                make_batch(session, 2)
        else:
            make_batch(session, 2)
        raise RuntimeError("boom")


def test_engines_and_session_factories_are_cached_per_url(sqlite_url: str) -> None:
    assert get_engine(sqlite_url) is get_engine(sqlite_url)
    assert session_factory(sqlite_url) is session_factory(sqlite_url)
    assert get_engine(sqlite_url) is not get_engine("sqlite://")


def test_session_scope_commits_on_success_and_rolls_back_on_error(fresh_sqlite_url: str) -> None:
    with session_scope(fresh_sqlite_url) as session:
        make_batch(session, 2)
    with pytest.raises(RuntimeError, match="boom"):
        _make_batch_then_fail(fresh_sqlite_url, in_savepoint=False)
    assert _batch_count(fresh_sqlite_url) == 1


def test_engines_work_after_dispose(fresh_sqlite_url: str) -> None:
    assert _batch_count(fresh_sqlite_url) == 0
    dispose_engines()
    assert _batch_count(fresh_sqlite_url) == 0


def test_sqlite_enforces_foreign_keys_and_uses_wal(fresh_sqlite_url: str) -> None:
    with get_engine(fresh_sqlite_url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with (
        pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"),
        session_scope(fresh_sqlite_url) as session,
    ):
        session.add(Essay(batch_id=uuid.uuid4(), external_id="e", position=0, text=""))


def test_a_sqlite_transaction_holds_the_write_lock_from_its_start(fresh_sqlite_url: str) -> None:
    path = sa.make_url(fresh_sqlite_url).database
    assert path is not None
    with session_scope(fresh_sqlite_url) as session:
        session.execute(sa.select(Batch))  # a read is enough to exclude other writers
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_sqlite_savepoints_belong_to_the_enclosing_transaction(fresh_sqlite_url: str) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _make_batch_then_fail(fresh_sqlite_url, in_savepoint=True)
    assert _batch_count(fresh_sqlite_url) == 0


def test_pool_processes_retry_instead_of_pinging_every_checkout(fresh_sqlite_url: str) -> None:
    assert get_engine(fresh_sqlite_url).pool._pre_ping
    ping_on_checkout(False)
    try:
        dispose_engines()  # what a forked pool process does first
        assert not get_engine(fresh_sqlite_url).pool._pre_ping
        assert _batch_count(fresh_sqlite_url) == 0
    finally:
        ping_on_checkout(True)
        dispose_engines()
    assert get_engine(fresh_sqlite_url).pool._pre_ping
