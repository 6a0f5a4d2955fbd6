"""Fixtures of the command-line tests: an in-memory broker, a runner, demo batches."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from cj_worker import cli, client, task_names
from cj_worker.celery_app import configure
from cj_worker.config import Settings, get_settings
from cj_worker.db.engine import get_engine
from tests.unit.cli.runs import DemoBatch, Run, Runner


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    """The client's default app, swapped for one on the in-memory broker: an in-process
    ``submit`` never reaches a real Redis."""
    producer = Celery("cli-test-producer", set_as_current=False)
    configure(producer, Settings(broker_url="memory://"))
    monkeypatch.setattr(client, "default_app", producer)
    with producer.connection_for_write() as connection:
        intake = connection.SimpleQueue(task_names.INTAKE_QUEUE)
        intake.clear()  # the in-memory broker is shared by the whole process
        intake.close()
    yield producer
    producer.close()


@pytest.fixture
def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    broker: Celery,
) -> Iterator[Runner]:
    """``run(*argv)`` calls ``cli.main`` and returns its exit code and output.

    ``CJ_DATABASE_URL`` and the folder of the demo's temporary database are pointed inside
    this test's ``tmp_path``, so nothing a command writes outlives the test.
    """
    monkeypatch.setenv("CJ_DATABASE_URL", f"sqlite:///{tmp_path / 'default.sqlite3'}")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    get_settings.cache_clear()
    urls: list[str] = []

    def call(*argv: str) -> Run:
        capsys.readouterr()
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        urls.append(os.environ["CJ_DATABASE_URL"])
        return Run(code, captured.out, captured.err)

    yield call
    for url in set(urls):
        if url.startswith("sqlite:///"):  # the others never got an engine
            get_engine(url).dispose()
    get_settings.cache_clear()


@pytest.fixture
def essay_file(tmp_path: Path) -> str:
    path = tmp_path / "net.csv"
    path.write_text("id,text,true_score\na,first,1\nb,second,0\n")
    return str(path)


def _demo_batch(path: Path, sqlite_template: Path, *options: str) -> DemoBatch:
    """Run the demo on a copy of the migrated template (its upgrade is then a no-op)."""
    shutil.copyfile(sqlite_template, path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["demo", *options, "--json", "--db", str(path)])
    assert code == 0
    output = json.loads(out.getvalue())
    return DemoBatch(f"sqlite:///{path}", output["batch_id"], output)


@pytest.fixture(scope="package")
def demo_batch(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[DemoBatch]:
    """One demo batch in a SQLite file, shared by the read-only tests."""
    path = tmp_path_factory.mktemp("cli-demo") / "demo.sqlite3"
    batch = _demo_batch(path, sqlite_template, "--essays", "12", "--budget", "60")
    yield batch
    get_engine(batch.url).dispose()


def anchored_essays(path: Path) -> Path:
    """A JSONL net of 16 students and 8 anchors (E, C, A), true scores one logit apart."""
    grades = {0: "E", 1: "E", 7: "C", 8: "C", 9: "C", 15: "A", 16: "A", 17: "A"}
    lines = [
        {
            "id": f"x{i:02d}",
            "text": f"essay {i}",
            "true_score": i - 12.0,
            "is_anchor": i in grades,
            "grade": grades.get(i),
        }
        for i in range(24)
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    return path


@pytest.fixture(scope="package")
def graded_batch(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[DemoBatch]:
    """A demo batch with anchors, so its results carry grades."""
    folder = tmp_path_factory.mktemp("cli-graded")
    essays = anchored_essays(folder / "net.jsonl")
    batch = _demo_batch(
        folder / "graded.sqlite3", sqlite_template, "--file", str(essays), "--budget", "200"
    )
    yield batch
    get_engine(batch.url).dispose()
