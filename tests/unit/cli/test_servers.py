"""``cj-worker migrate``, ``flower`` and the metrics directory ``cj-worker worker`` prepares."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cj_worker import cli
from cj_worker.celery_app import app
from cj_worker.cli.servers import redacted
from cj_worker.config import get_settings
from cj_worker.db.engine import get_engine

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv of every ``celery`` command the CLI starts, instead of starting it."""
    calls: list[list[str]] = []
    monkeypatch.setattr(app, "start", lambda argv: calls.append(list(argv)))
    return calls


def test_flower_starts_celery_flower_on_the_app(started: list[list[str]]) -> None:
    assert cli.main(["flower", "--port", "5601", "--basic_auth=ops:pw"]) == 0
    # Flower's options are tornado options, which need the --name=value form.
    assert started == [["flower", "--port=5601", "--address=127.0.0.1", "--basic_auth=ops:pw"]]


def test_flower_defaults_to_its_usual_port(started: list[list[str]]) -> None:
    assert cli.main(["flower"]) == 0
    assert started == [["flower", "--port=5555", "--address=127.0.0.1"]], "this host only"


def test_beat_passes_its_options_on(started: list[list[str]]) -> None:
    assert cli.main(["beat", "-l", "DEBUG", "--pidfile="]) == 0
    assert started == [["beat", "--loglevel", "DEBUG", "--pidfile="]]


def test_migrate_brings_the_configured_database_to_head(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    monkeypatch.setenv("CJ_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert cli.main(["migrate"]) == 0
    finally:
        get_settings.cache_clear()

    assert capsys.readouterr().out == f"database at head: {url}\n"
    engine = get_engine(url)
    try:
        assert "batches" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_printed_url_hides_its_password() -> None:
    shown = redacted("postgresql+psycopg2://cj:secret@db:5432/cj")
    assert "secret" not in shown
    assert shown.startswith("postgresql+psycopg2://cj:***@db")


@pytest.fixture
def worker_started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    """Runs ``cj-worker worker`` up to Celery, noting the metrics directory it had then."""
    seen: list[str | None] = []

    def worker_main(argv: list[str]) -> None:
        directory = os.environ.get(VARIABLE)
        seen.append(directory)
        assert directory is None or Path(directory).is_dir()

    monkeypatch.setattr(app, "worker_main", worker_main)
    monkeypatch.delenv(VARIABLE, raising=False)
    # Other tests of this process may have imported prometheus_client; a starting worker
    # has not.
    monkeypatch.delitem(sys.modules, "prometheus_client", raising=False)
    get_settings.cache_clear()
    yield seen
    get_settings.cache_clear()


def test_a_worker_gets_a_fresh_metrics_directory_of_its_own(
    worker_started: list[str | None],
) -> None:
    assert cli.main(["worker"]) == 0

    [directory] = worker_started
    assert directory is not None
    assert not Path(directory).exists(), "removed when the worker exits"
    assert VARIABLE not in os.environ


def test_an_operators_directory_is_kept(
    worker_started: list[str | None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(VARIABLE, str(tmp_path))
    assert cli.main(["worker"]) == 0
    assert worker_started == [str(tmp_path)]
    assert tmp_path.is_dir()


def test_no_directory_without_metrics(
    worker_started: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJ_METRICS_PORT", "0")
    get_settings.cache_clear()
    assert cli.main(["worker"]) == 0
    assert worker_started == [None]
