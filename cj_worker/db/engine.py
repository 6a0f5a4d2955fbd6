"""Engines and sessions, one engine per database URL per process.

Engines are created on first use rather than at import so that importing the package never
connects, and so that a forked Celery worker can drop its parent's pool
(:func:`dispose_engines`) before it touches the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite transaction waits for the write lock before failing."""

_lock = threading.RLock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}


def get_engine(url: str) -> Engine:
    """The process's engine for ``url``, created on first use."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
        return engine


def session_factory(url: str) -> sessionmaker[Session]:
    """Sessions on ``url``.

    ``expire_on_commit=False``: tasks commit and then enqueue follow-up work using values
    they read in the transaction; expiring them would reload (or fail on) closed sessions.
    """
    with _lock:
        factory = _factories.get(url)
        if factory is None:
            factory = sessionmaker(get_engine(url), expire_on_commit=False)
            _factories[url] = factory
        return factory


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: committed if the block succeeds, rolled back if it raises."""
    with session_factory(url).begin() as session:
        yield session


def dispose_engines() -> None:
    """Forget the pooled connections inherited from a parent process.

    Call it in a freshly forked worker. ``close=False`` leaves the sockets to the parent:
    closing them here would end the parent's sessions too.
    """
    with _lock:
        engines = list(_engines.values())
        # Re-created on next use, with the process's own settings (:func:`ping_on_checkout`).
        _engines.clear()
        _factories.clear()
    for engine in engines:
        engine.dispose(close=False)


_pre_ping = True


def ping_on_checkout(enabled: bool) -> None:
    """Whether engines created from now on test each connection before lending it.

    On by default: a CLI command or a producer's status read should not fail because the
    database restarted since the pooled connection was opened. Celery pool processes turn
    it off: the ping is a round trip on every task, and a task that meets a dead
    connection fails with a transient error, which invalidates the pool and is retried
    with backoff (``cj_worker.tasks.base``).
    """
    global _pre_ping
    _pre_ping = enabled


def _create_engine(url: str) -> Engine:
    engine = sa.create_engine(url, pool_pre_ping=_pre_ping)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "rollback", _forget_session_settings)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_immediate)
    return engine


LOCK_TIMEOUT_KEY = "cj_lock_timeout_ms"
"""Key in a pooled connection's ``info``: the ``lock_timeout`` its session has, if set
(``repositories.bound_lock_wait``)."""


def _forget_session_settings(connection: Connection) -> None:
    # A session-level SET made in a transaction that rolls back is undone with it.
    connection.info.pop(LOCK_TIMEOUT_KEY, None)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, decides where transactions begin (see
    # _begin_immediate); the pragmas must run outside a transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # SQLite ignores SELECT ... FOR UPDATE. Taking the database write lock when the
    # transaction begins gives the same guarantee as the batch row lock (one writer at a
    # time, reading current data) and makes savepoints part of the enclosing transaction.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
