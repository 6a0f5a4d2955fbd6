"""Fixtures of the unit tests that need a database: a migrated SQLite file per test.

Migrating costs about a second (one sync per DDL statement), so the suite migrates one
template file per run and each test gets a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cj_worker.config import get_settings
from cj_worker.db.engine import get_engine
from cj_worker.db.migrate import upgrade


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy (only Alembic's own engine ever opens it)."""
    path = tmp_path_factory.mktemp("unit-sqlite-template") / "cj-worker.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def migrated_sqlite_file(sqlite_template: Path, tmp_path: Path) -> Path:
    """A migrated SQLite database file of this test's own."""
    path = tmp_path / sqlite_template.name
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.fixture
def database_url(migrated_sqlite_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite database that ``CJ_DATABASE_URL`` (and so every task) points at."""
    url = f"sqlite:///{migrated_sqlite_file}"
    monkeypatch.setenv("CJ_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_engine(url).dispose()
    get_settings.cache_clear()  # monkeypatch restores the environment after this
