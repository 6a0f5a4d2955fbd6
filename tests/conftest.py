"""Database fixtures shared by every test directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cj_worker.db.migrate import upgrade
from tests.databases import POSTGRES_ADMIN_URL, postgres_unreachable_reason, temporary_database


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The admin URL; skips without PostgreSQL, except in CI, where that is a failure."""
    reason = postgres_unreachable_reason(POSTGRES_ADMIN_URL)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
        pytest.skip(f"{reason} (set CJ_TEST_POSTGRES_ADMIN_URL to point at one)")
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database shared by the whole run; tests use their own batches."""
    with temporary_database(pg_admin_url) as url:
        upgrade(url)
        yield url


@pytest.fixture
def scratch_pg_url(pg_admin_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of this test's own."""
    with temporary_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database file of this test's own."""
    return f"sqlite:///{tmp_path / 'cj-worker.sqlite3'}"
