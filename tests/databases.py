"""Throw-away PostgreSQL databases for tests, so that no test touches a shared schema, and
the reachability check of the Redis databases tests use."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from cj_worker.db.engine import get_engine

POSTGRES_ADMIN_URL = os.environ.get(
    "CJ_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
"""A database the tests may connect to with the right to create and drop databases."""


def _admin_engine(admin_url: str) -> sa.Engine:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return sa.create_engine(
        admin_url,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )


def postgres_unreachable_reason(admin_url: str) -> str | None:
    """Why PostgreSQL cannot be used, or None if it can."""
    engine = _admin_engine(admin_url)
    try:
        with engine.connect():
            return None
    except sa.exc.OperationalError as error:
        return f"PostgreSQL is not reachable at {admin_url}: {error.orig}"
    finally:
        engine.dispose()


@contextmanager
def temporary_database(admin_url: str, prefix: str = "cj_test") -> Iterator[str]:
    """The URL of a new, empty database ``<prefix>_<hex>``, dropped (connections and all)
    on exit. The benchmarks use it too, under their own prefix."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    admin = _admin_engine(admin_url)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield url
        finally:
            get_engine(url).dispose()
            with admin.connect() as connection:
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.dispose()


def reachable_redis(url: str) -> redis.Redis:
    """A client of ``url``; fails the test under CI, skips it elsewhere, if Redis is down."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {url}: {error}")
        pytest.skip(f"Redis is not reachable at {url}: {error}")
    return client
