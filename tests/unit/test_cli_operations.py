"""``cj-worker flower`` and the metrics directory ``cj-worker worker`` prepares."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cj_worker import cli
from cj_worker.celery_app import app
from cj_worker.config import get_settings

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
    assert started == [["flower", "--port=5601", "--basic_auth=ops:pw"]]


def test_flower_defaults_to_its_usual_port(started: list[list[str]]) -> None:
    assert cli.main(["flower"]) == 0
    assert started == [["flower", "--port=5555"]]


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
