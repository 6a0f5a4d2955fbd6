"""``cj-worker`` in-process: the demo, reading a batch back, and one-line errors."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from celery import Celery

from cj_worker import cli, client, task_names
from cj_worker.celery_app import configure
from cj_worker.config import Settings, get_settings
from cj_worker.db.engine import get_engine, session_scope
from cj_worker.payloads import BatchRequest, parse
from tests.factories import make_batch

ROOT = Path(__file__).resolve().parents[2]
STOP_REASONS = {
    "stable",
    "budget_exhausted",
    "max_iterations",
    "small_net_resampling_cap",
    "resampling_cap",
    "no_pairs_left",
}
EXPORT_COLUMNS = [
    "rank",
    "id",
    "score",
    "se",
    "ci95_low",
    "ci95_high",
    "comparisons",
    "wins",
    "is_anchor",
    "grade",
    "confidence",
    "projected_grade",
    "infit",
    "outfit",
    "misfit",
]
COVERAGE_KEYS = (
    "max_possible_pairs",
    "successful_pairs_count",
    "unique_coverage_complete",
    "resampling_pass_count",
)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


class Runner(Protocol):
    def __call__(self, *argv: str) -> Run: ...


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


def queued(app: Celery, queue: str) -> int:
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        try:
            return int(simple.qsize())
        finally:
            simple.close()


@pytest.fixture
def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    broker: Celery,
) -> Iterator[Runner]:
    """``run(*argv)`` calls ``cli.main`` and returns its exit code and output.

    ``demo`` writes ``CJ_DATABASE_URL`` into the environment and a temporary folder; both
    are pointed inside this test's ``tmp_path`` first, so they are undone afterwards.
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


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("CJ_DATABASE_URL", url)
    get_settings.cache_clear()


def assert_one_line_error(result: Run, *, contains: str, code: int | None = None) -> str:
    assert result.code != 0
    if code is not None:
        assert result.code == code
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("cj-worker: error: ")
    assert contains in lines[0]
    assert result.out == ""
    return lines[0]


# ------------------------------------------------------------------------------ demo


def test_demo_prints_the_results_as_json(run: Runner, tmp_path: Path) -> None:
    result = run("demo", "--essays", "12", "--budget", "60", "--json")

    assert result.code == 0, result.err
    assert result.err == "", "no progress bar with --json"
    output = json.loads(result.out)
    assert len(output["essays"]) == 12
    assert output["stop_reason"] in STOP_REASONS
    assert output["state"] == "completed"
    assert 0 < output["comparisons_made"] <= 60
    assert [essay["rank"] for essay in output["essays"]] == list(range(1, 13))
    assert {essay["id"] for essay in output["essays"]} == {f"essay-{i:03d}" for i in range(1, 13)}
    assert Path(output["database"]).is_relative_to(tmp_path), "the default temporary database"
    assert Path(output["database"]).is_file()


def test_demo_prints_a_table(run: Runner, tmp_path: Path) -> None:
    result = run(
        "demo", "--essays", "6", "--budget", "30", "--seed", "3", "--db", str(tmp_path / "t.db")
    )

    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "id"])
    assert len(lines) - header - 1 == 6
    assert [line.split()[0] for line in lines[header + 1 :]] == ["1", "2", "3", "4", "5", "6"]
    assert any(line.startswith("stopped: ") for line in lines)
    assert any(line.startswith("Spearman with the true scores: ") for line in lines)
    assert "judging" in result.err, "the progress bar goes to stderr"


def test_demo_with_one_essay_ends_with_insufficient_essays(run: Runner, tmp_path: Path) -> None:
    result = run("demo", "--essays", "1", "--json", "--db", str(tmp_path / "one.db"))

    assert result.code == 0, result.err
    output = json.loads(result.out)
    assert output["stop_reason"] == "insufficient_essays"
    assert [(e["rank"], e["score"]) for e in output["essays"]] == [(1, 0.0)]


def test_demo_reads_an_essay_file(run: Runner, tmp_path: Path) -> None:
    essays = tmp_path / "net.jsonl"
    essays.write_text(
        "\n".join(json.dumps({"id": f"x{i}", "true_score": i * 2.0}) for i in range(4))
    )

    result = run("demo", "--file", str(essays), "--json", "--db", str(tmp_path / "f.db"))

    assert result.code == 0, result.err
    assert {e["id"] for e in json.loads(result.out)["essays"]} == {"x0", "x1", "x2", "x3"}


# ------------------------------------------------------------ status and export


@dataclass(frozen=True)
class DemoBatch:
    url: str
    batch_id: str
    output: dict[str, Any]


@pytest.fixture(scope="module")
def demo_batch(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[DemoBatch]:
    """One demo batch in a SQLite file, shared by the read-only tests below."""
    path = tmp_path_factory.mktemp("cli-demo") / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)  # already migrated: the demo's upgrade is a no-op
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setenv("CJ_DATABASE_URL", "sqlite:///unused")  # undone with the patch
        code = cli.main(["demo", "--essays", "12", "--budget", "60", "--json", "--db", str(path)])
    get_settings.cache_clear()
    assert code == 0
    output = json.loads(out.getvalue())
    url = f"sqlite:///{path}"
    yield DemoBatch(url, output["batch_id"], output)
    get_engine(url).dispose()


def test_status_shows_state_counters_coverage_and_waves(
    run: Runner, demo_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, demo_batch.url)

    result = run("status", demo_batch.batch_id)

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"batch {demo_batch.batch_id}"
    assert f"completed ({demo_batch.output['stop_reason']})" in lines[1]
    assert "essays           12" in result.out
    made = demo_batch.output["comparisons_made"]
    assert f"comparisons      {made} of budget 60: {made} succeeded, 0 failed" in result.out
    for key in COVERAGE_KEYS:
        assert any(line.split()[:1] == [key] for line in lines), key
    assert any(line.strip().startswith("after wave   0: request_coverage_wave") for line in lines)


def test_status_as_json(
    run: Runner, demo_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, demo_batch.url)

    result = run("status", demo_batch.batch_id, "--json")

    assert result.code == 0, result.err
    status = json.loads(result.out)
    assert (status["batch_id"], status["state"], status["essays"]) == (
        demo_batch.batch_id,
        "completed",
        12,
    )
    assert status["final_reason"] == demo_batch.output["stop_reason"]
    assert status["comparisons"]["submitted"] == demo_batch.output["comparisons_made"]
    assert set(COVERAGE_KEYS) <= set(status["processing_metadata"])
    assert status["processing_metadata"]["max_possible_pairs"] == 66
    assert [wave["wave"] for wave in status["waves"]] == list(range(len(status["waves"])))
    assert status["waves"][-1]["reason"] == demo_batch.output["stop_reason"]


def test_export_as_csv(run: Runner, demo_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch) -> None:
    use_database(monkeypatch, demo_batch.url)

    result = run("export", demo_batch.batch_id, "--csv")

    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert list(rows[0]) == EXPORT_COLUMNS, "no p_<grade> columns without a projection"
    expected = demo_batch.output["essays"]
    assert [row["id"] for row in rows] == [essay["id"] for essay in expected]
    assert [int(row["rank"]) for row in rows] == list(range(1, 13))
    for row, essay in zip(rows, expected, strict=True):
        assert float(row["score"]) == pytest.approx(essay["score"], abs=1e-6)
        assert float(row["se"]) == pytest.approx(essay["se"], abs=1e-6)
        half = 1.959964 * essay["se"]
        assert float(row["ci95_low"]) == pytest.approx(essay["score"] - half, abs=1e-5)
        assert float(row["ci95_high"]) == pytest.approx(essay["score"] + half, abs=1e-5)
        assert (int(row["comparisons"]), int(row["wins"])) == (essay["comparisons"], essay["wins"])
        assert (row["is_anchor"], row["grade"], row["confidence"]) == ("False", "", "")
        assert float(row["infit"]) == pytest.approx(essay["infit"], abs=1e-6)
        assert row["misfit"] in ("True", "False")


def test_export_as_json_is_what_the_demo_printed(
    run: Runner, demo_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, demo_batch.url)

    result = run("export", demo_batch.batch_id, "--json")

    assert result.code == 0, result.err
    expected = {key: value for key, value in demo_batch.output.items() if key != "database"}
    assert json.loads(result.out) == expected


def test_export_as_a_table(
    run: Runner, demo_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, demo_batch.url)

    result = run("export", demo_batch.batch_id)

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:2] == ["rank", "id"]
    assert [line.split()[1] for line in lines[1:]] == [e["id"] for e in demo_batch.output["essays"]]


def anchored_essays(path: Path) -> Path:
    """A JSONL net of 16 students and 8 anchors (E, C, A), true scores one logit apart."""
    grades = {0: "E", 1: "E", 7: "C", 8: "C", 9: "C", 15: "A", 16: "A", 17: "A"}
    lines = [
        {
            "id": f"x{i:02d}",
            "true_score": i - 12.0,
            "is_anchor": i in grades,
            "grade": grades.get(i),
        }
        for i in range(24)
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    return path


@pytest.fixture(scope="module")
def graded_batch(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[DemoBatch]:
    """A demo batch with anchors, so its results carry grades."""
    folder = tmp_path_factory.mktemp("cli-graded")
    path = folder / "graded.sqlite3"
    shutil.copyfile(sqlite_template, path)
    essays = anchored_essays(folder / "net.jsonl")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setenv("CJ_DATABASE_URL", "sqlite:///unused")
        code = cli.main(
            ["demo", "--file", str(essays), "--budget", "200", "--json", "--db", str(path)]
        )
    get_settings.cache_clear()
    assert code == 0
    url = f"sqlite:///{path}"
    output = json.loads(out.getvalue())
    yield DemoBatch(url, output["batch_id"], output)
    get_engine(url).dispose()


def test_a_demo_with_anchors_reports_grades(graded_batch: DemoBatch) -> None:
    output = graded_batch.output
    assert output["grading"]["status"] == "projected"
    assert output["grade_scale"]["name"] == "swedish_8_anchor"
    for essay in output["essays"]:
        probabilities = essay["grade_probabilities"]
        assert list(probabilities) == ["F", "E", "D", "D+", "C", "C+", "B", "A"]
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert essay["confidence"] == probabilities[essay["grade"]]
    anchors = {e["id"]: e["grade"] for e in output["essays"] if e["is_anchor"]}
    assert anchors == {"x00": "E", "x01": "E", "x07": "C", "x08": "C", "x09": "C"} | {
        "x15": "A",
        "x16": "A",
        "x17": "A",
    }


def test_export_as_csv_has_a_probability_column_per_grade(
    run: Runner, graded_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, graded_batch.url)

    result = run("export", graded_batch.batch_id, "--csv")

    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    grades = ["F", "E", "D", "D+", "C", "C+", "B", "A"]
    assert list(rows[0]) == EXPORT_COLUMNS + [f"p_{grade}" for grade in grades]
    for row in rows:
        probabilities = {grade: float(row[f"p_{grade}"]) for grade in grades}
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert float(row["confidence"]) == pytest.approx(probabilities[row["grade"]], abs=1e-6)


def test_export_as_a_table_shows_grades(
    run: Runner, graded_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, graded_batch.url)

    result = run("export", graded_batch.batch_id)

    assert result.code == 0, result.err
    header, *lines = result.out.splitlines()
    assert header.split()[-3:] == ["grade", "conf", "infit"]
    by_id = {e["id"]: e for e in graded_batch.output["essays"]}
    for line in lines:
        fields = line.split()
        assert fields[-3] == by_id[fields[1]]["grade"]


def test_export_draws_a_plot(
    run: Runner, graded_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_database(monkeypatch, graded_batch.url)
    target = tmp_path / "net.png"

    result = run("export", graded_batch.batch_id, "--csv", "--plot", str(target))

    assert result.code == 0, result.err
    assert target.read_bytes().startswith(b"\x89PNG"), "a PNG file"
    assert result.out.startswith("rank,id,"), "the CSV still goes to stdout"


def test_export_without_matplotlib_says_which_extra_to_install(
    run: Runner, graded_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_database(monkeypatch, graded_batch.url)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises

    result = run("export", graded_batch.batch_id, "--plot", str(tmp_path / "net.png"))

    assert_one_line_error(result, contains="pip install 'cj-worker[plot]'", code=2)
    assert not (tmp_path / "net.png").exists()


# ---------------------------------------------------------------------------- submit


def test_submit_sends_the_file_and_prints_the_batch_id(
    run: Runner, tmp_path: Path, broker: Celery
) -> None:
    essays = tmp_path / "net.csv"
    essays.write_text("id,text\na,first\nb,second\n")

    result = run(
        "submit",
        str(essays),
        "--budget",
        "9",
        "--judge",
        "external:producer.judge",
        "--set",
        "MAX_ITERATIONS=4",
        "--set",
        "pair_seed=none",
        "--tenant",
        "t1",
        "--json",
    )

    assert result.code == 0, result.err
    batch_id = json.loads(result.out)["batch_id"]
    assert queued(broker, task_names.INTAKE_QUEUE) == 1
    with broker.connection_for_read() as connection:
        queue = connection.SimpleQueue(task_names.INTAKE_QUEUE)
        message = queue.get(timeout=1)
        message.ack()
        queue.close()
    _, kwargs, _ = message.payload
    request = parse(BatchRequest, kwargs["request"])
    assert str(request.batch_id) == batch_id
    assert (request.budget, request.tenant, request.judge.kind) == (9, "t1", "external")
    assert request.settings == {"max_iterations": "4", "pair_seed": None}
    assert request.scale().name == "swedish_8_anchor"
    assert queued(broker, task_names.INTAKE_QUEUE) == 0, "one message"


@pytest.mark.parametrize(
    ("option", "grades"),
    [
        pytest.param("eng5_np_national_9_step", tuple("0123456789"), id="built-in"),
        pytest.param('{"name": "pf", "grades": ["fail", "pass"]}', ("fail", "pass"), id="json"),
    ],
)
def test_submit_sends_the_grade_scale(
    run: Runner, tmp_path: Path, broker: Celery, option: str, grades: tuple[str, ...]
) -> None:
    essays = tmp_path / "net.csv"
    essays.write_text("id,text\na,first\nb,second\n")

    result = run(
        "submit", str(essays), "--judge", "external:producer.judge", "--grade-scale", option
    )

    assert result.code == 0, result.err
    with broker.connection_for_read() as connection:
        queue = connection.SimpleQueue(task_names.INTAKE_QUEUE)
        message = queue.get(timeout=1)
        message.ack()
        queue.close()
    _, kwargs, _ = message.payload
    assert parse(BatchRequest, kwargs["request"]).scale().grades == grades


def test_submit_to_an_unreachable_broker_fails_fast_in_one_line(tmp_path: Path) -> None:
    """A separate process, as a user runs it: the broker URL is read at start-up."""
    essays = tmp_path / "net.csv"
    essays.write_text("id,text,true_score\na,first,1\nb,second,0\n")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CJ_")}
    environment.update(
        CJ_BROKER_URL="redis://127.0.0.1:1/0",
        CJ_DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        PYTHONPATH=str(ROOT),
    )
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "cj_worker.cli", "submit", str(essays)],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started

    assert_one_line_error(
        Run(completed.returncode, completed.stdout, completed.stderr),
        contains="cannot reach the broker",
        code=cli.EXIT_UNREACHABLE,
    )
    assert elapsed < 15, f"took {elapsed:.1f}s to give up on the broker"


# ---------------------------------------------------------------------------- errors


@pytest.fixture
def essay_file(tmp_path: Path) -> str:
    path = tmp_path / "net.csv"
    path.write_text("id,text,true_score\na,first,1\nb,second,0\n")
    return str(path)


@pytest.mark.parametrize(
    ("argv", "contains"),
    [
        pytest.param(
            ["status", "not-a-uuid"],
            "BATCH must be a batch id (a UUID), got 'not-a-uuid'",
            id="status-not-a-uuid",
        ),
        pytest.param(
            ["export", "12345", "--csv"], "BATCH must be a batch id", id="export-not-a-uuid"
        ),
        pytest.param(
            ["submit", "/no/such/essays.csv"],
            "/no/such/essays.csv: no such file",
            id="submit-missing-file",
        ),
        pytest.param(
            ["submit", "{file}", "--set", "max_iterations"],
            "--set takes KEY=VALUE",
            id="set-without-value",
        ),
        pytest.param(
            ["submit", "{file}", "--set", "=3"], "--set takes KEY=VALUE", id="set-without-key"
        ),
        pytest.param(
            ["submit", "{file}", "--grade-scale", "{{not json"],
            "--grade-scale is not valid JSON",
            id="grade-scale-bad-json",
        ),
        pytest.param(
            ["submit", "{file}", "--grade-scale", "ib_7"],
            "unknown grade scale 'ib_7'",
            id="grade-scale-unknown",
        ),
        pytest.param(
            ["submit", "{file}", "--judge", "oracle"],
            "--judge must be 'simulated' or 'external:",
            id="bad-judge",
        ),
        pytest.param(
            ["submit", "{file}", "--judge", "external:"],
            "--judge must be",
            id="external-judge-without-task",
        ),
        pytest.param(
            ["submit", "{file}", "--set", "no_such_knob=1"],
            "no_such_knob",
            id="submit-unknown-setting",
        ),
        pytest.param(["submit", "{file}", "--budget", "0"], "budget", id="submit-budget-0"),
        pytest.param(["demo", "--essays", "0"], "--essays must be at least 1", id="demo-no-essays"),
        pytest.param(
            ["demo", "--essays", "3", "--set", "no_such_knob=1"],
            "no_such_knob",
            id="demo-unknown-setting",
        ),
        pytest.param(
            ["demo", "--essays", "3", "--set", "max_iterations=0"],
            "max_iterations",
            id="demo-bad-setting",
        ),
        pytest.param(["demo", "--essays", "3", "--budget", "0"], "budget", id="demo-budget-0"),
        pytest.param(
            ["demo", "--essays", "3", "--error-rate", "2"], "error_rate", id="demo-bad-error-rate"
        ),
        pytest.param(
            ["demo", "--file", "{file_without_truth}"],
            "true_score",
            id="demo-file-without-true-scores",
        ),
    ],
)
def test_a_user_error_prints_one_line(
    run: Runner, broker: Celery, tmp_path: Path, essay_file: str, argv: list[str], contains: str
) -> None:
    without_truth = tmp_path / "plain.csv"
    without_truth.write_text("id,text\na,first\nb,second\n")
    argv = [arg.format(file=essay_file, file_without_truth=without_truth) for arg in argv]
    argv += ["--db", str(tmp_path / "demo.db")] if argv[0] == "demo" else []

    assert_one_line_error(run(*argv), contains=contains, code=cli.EXIT_USER_ERROR)
    assert queued(broker, task_names.INTAKE_QUEUE) == 0, "nothing is submitted"


def test_an_unknown_batch_prints_one_line(
    run: Runner, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, database_url)
    missing = str(uuid.uuid4())
    for command in (["status", missing], ["export", missing, "--json"]):
        assert_one_line_error(
            run(*command), contains=f"no batch {missing}", code=cli.EXIT_USER_ERROR
        )


def test_exporting_a_batch_without_results_prints_one_line(
    run: Runner, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, database_url)
    with session_scope(database_url) as session:
        batch_id = str(make_batch(session, 3).id)

    for argv in (["export", batch_id], ["export", batch_id, "--csv", "--plot", "x.png"]):
        assert_one_line_error(run(*argv), contains="has no results yet (state collecting)")
    header = run("export", batch_id, "--csv").out
    assert header.startswith("rank,id,score"), "--csv alone still prints its header"


def test_an_unreachable_database_prints_one_line(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, "postgresql+psycopg2://cj@127.0.0.1:1/x")

    assert_one_line_error(
        run("status", str(uuid.uuid4())),
        contains="cannot reach the database",
        code=cli.EXIT_UNREACHABLE,
    )


def test_a_bare_postgresql_url_prints_one_line(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, which the package does not
    install: with it the server is unreachable, without it the driver is missing."""
    use_database(monkeypatch, "postgresql://127.0.0.1:1/x")

    line = assert_one_line_error(run("status", str(uuid.uuid4())), contains="")
    assert "cannot reach the database" in line or "module 'psycopg' is not installed" in line


@pytest.mark.parametrize(
    "url", ["not a url", "postgresql+nosuchdriver://127.0.0.1/x", "nosuchdb://x"]
)
def test_a_bad_database_url_prints_one_line(
    run: Runner, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    use_database(monkeypatch, url)

    assert_one_line_error(
        run("status", str(uuid.uuid4())),
        contains="bad CJ_DATABASE_URL",
        code=cli.EXIT_USER_ERROR,
    )
