"""Run the repository tests on both supported databases."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cj_worker.db.engine import session_factory
from cj_worker.db.migrate import upgrade


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy: cheaper than migrating (a sync per DDL) every time.

    Only Alembic's own engine opens it, so it stays in rollback-journal mode and the one
    file is the whole database.
    """
    path = tmp_path_factory.mktemp("sqlite-template") / "cj-worker.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_sqlite_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite-shared") / sqlite_template.name
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def fresh_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of this test's own."""
    path = tmp_path / sqlite_template.name
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(
    params=[pytest.param("postgresql", marks=pytest.mark.integration), "sqlite"],
)
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each kind (PostgreSQL only when reachable, see ``pg_url``)."""
    fixture = "pg_url" if request.param == "postgresql" else "migrated_sqlite_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """A session whose work is rolled back after the test.

    On SQLite it holds the database write lock for the whole test: open no second session.
    """
    with session_factory(db_url)() as session:
        try:
            yield session
        finally:
            session.rollback()
