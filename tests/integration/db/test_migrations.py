"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from pathlib import Path

import alembic.command
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cj_worker.db import migrate
from cj_worker.db.migrate import MigrationsNotFoundError, alembic_config, downgrade, upgrade
from cj_worker.db.models import Base

TABLES = {
    "batches",
    "essays",
    "essay_scores",
    "comparisons",
    "decisions",
    "essay_results",
    "batch_results",
    "outbox",
    "alembic_version",
}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _schema_differences(url: str) -> list[object]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_there_is_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.integration), "sqlite"])
def empty_url(request: pytest.FixtureRequest) -> str:
    fixture = "scratch_pg_url" if request.param == "postgresql" else "sqlite_url"
    url: str = request.getfixturevalue(fixture)
    return url


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    upgrade(empty_url)
    assert _tables(empty_url) == TABLES
    downgrade(empty_url, "base")
    assert _tables(empty_url) == {"alembic_version"}
    upgrade(empty_url)
    assert _tables(empty_url) == TABLES


@pytest.mark.integration
def test_models_match_the_migrated_postgresql_schema(pg_url: str) -> None:
    assert _schema_differences(pg_url) == []


def test_models_match_the_migrated_sqlite_schema(sqlite_template: Path) -> None:
    assert _schema_differences(f"sqlite:///{sqlite_template}") == []


def test_offline_mode_prints_the_sql(capsys: pytest.CaptureFixture[str]) -> None:
    alembic.command.upgrade(alembic_config("postgresql://"), "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE batches" in sql
    assert "JSONB" in sql


def test_missing_migrations_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path / "alembic")
    with pytest.raises(MigrationsNotFoundError, match="source checkout"):
        upgrade("sqlite://")
