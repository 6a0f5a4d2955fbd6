"""``cj-worker submit``, ``status`` and ``export``: a deployment's batches from outside."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from cj_worker import cli, task_names
from cj_worker.db.engine import get_engine
from cj_worker.payloads import BatchRequest, parse
from tests.unit.cli.runs import (
    COVERAGE_KEYS,
    EXPORT_COLUMNS,
    DemoBatch,
    Run,
    Runner,
    assert_one_line_error,
    queued,
    use_database,
)

ROOT = Path(__file__).resolve().parents[3]


def table_header(lines: list[str]) -> int:
    """Index of the essay table's header line."""
    return next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "id"])


# ---------------------------------------------------------------------------- status


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


# ---------------------------------------------------------------------------- export


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
    exported = json.loads(result.out)
    assert exported.pop("duration_seconds") >= 0, "the demo leaves out only the run's time"
    expected = {key: value for key, value in demo_batch.output.items() if key != "database"}
    assert exported == expected


def test_export_as_a_table(
    run: Runner, demo_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, demo_batch.url)

    result = run("export", demo_batch.batch_id)

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"Batch {demo_batch.batch_id}: 12 essays, completed")
    header = table_header(lines)
    rows = lines[header + 1 : header + 13]
    assert [line.split()[1] for line in rows] == [e["id"] for e in demo_batch.output["essays"]]
    assert lines[header + 13 : header + 15] == ["", "How to read this:"], "then the legend"


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
    lines = result.out.splitlines()
    header = table_header(lines)
    assert lines[header].split()[-4:] == ["grade", "conf", "infit", "outfit"]
    assert any(line.startswith("Grades: projected from 8 anchors") for line in lines)
    by_id = {e["id"]: e for e in graded_batch.output["essays"]}
    rows = lines[header + 1 : header + 1 + len(by_id)]
    for line in rows:
        fields = line.split()
        essay = by_id[fields[1]]
        assert fields[-4] == essay["grade"]
        assert fields[-1].endswith("*") == essay["misfit"], "the flag follows the outfit"
        assert ("yes" in fields) == essay["is_anchor"]


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


def test_export_writes_a_report(
    run: Runner, graded_batch: DemoBatch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_database(monkeypatch, graded_batch.url)
    target = tmp_path / "report.html"

    result = run("export", graded_batch.batch_id, "--csv", "--report", str(target))

    assert result.code == 0, result.err
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert graded_batch.batch_id in page
    assert result.out.startswith("rank,id,"), "the CSV still goes to stdout"


# ------------------------------------------------------------- where a batch is read from


def test_status_and_export_read_a_demo_file_with_db(
    run: Runner, demo_batch: DemoBatch, tmp_path: Path
) -> None:
    """``CJ_DATABASE_URL`` names a file that does not exist: ``--db`` is what is read."""
    path = demo_batch.url.removeprefix("sqlite:///")

    status = run("status", demo_batch.batch_id, "--db", path, "--json")
    export = run("export", demo_batch.batch_id, "--db", path, "--json")

    assert status.code == export.code == 0, status.err + export.err
    assert json.loads(status.out)["batch_id"] == demo_batch.batch_id
    assert json.loads(export.out)["essays"] == demo_batch.output["essays"]
    assert not (tmp_path / "default.sqlite3").exists()


@pytest.mark.parametrize("command", ["status", "export"])
def test_reading_never_creates_a_sqlite_file(run: Runner, tmp_path: Path, command: str) -> None:
    batch = str(uuid.uuid4())

    line = assert_one_line_error(run(command, batch), contains="no database file", code=2)

    assert "default.sqlite3" in line
    assert "--db FILE" in line, "says how to read a demo's file"
    assert not (tmp_path / "default.sqlite3").exists()
    assert_one_line_error(
        run(command, batch, "--db", str(tmp_path / "nope.db")), contains="no such file", code=2
    )
    assert not (tmp_path / "nope.db").exists()


def test_an_unmigrated_sqlite_file_is_a_user_error(run: Runner, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()

    assert_one_line_error(
        run("status", str(uuid.uuid4()), "--db", str(empty)),
        contains="not at cj-worker's current schema (no such table: batches): migrate it",
        code=2,
    )


# ------------------------------------------------------------------------ a failed batch


@pytest.fixture(scope="package")
def failed_batch(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[DemoBatch]:
    """A demo batch whose judge fails every comparison: it ends ``judge_failed_wave``."""
    path = tmp_path_factory.mktemp("cli-failed") / "failed.sqlite3"
    shutil.copyfile(sqlite_template, path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["demo", "--essays", "8", "--error-rate", "1", "--json", "--db", str(path)])
    assert code == 0
    output = json.loads(out.getvalue())
    yield DemoBatch(f"sqlite:///{path}", output["batch_id"], output)
    get_engine(f"sqlite:///{path}").dispose()


def test_exporting_a_failed_batch_says_why(run: Runner, failed_batch: DemoBatch) -> None:
    assert (failed_batch.output["state"], failed_batch.output["stop_reason"]) == (
        "failed",
        "judge_failed_wave",
    )
    path = failed_batch.url.removeprefix("sqlite:///")

    for extra in ([], ["--report", "r.html"], ["--csv", "--plot", "p.png"]):
        line = assert_one_line_error(
            run("export", failed_batch.batch_id, "--db", path, *extra),
            contains=f"batch {failed_batch.batch_id} failed (judge_failed_wave) and has no results",
            code=1,
        )
        assert "the judge is down or broken" in line
    tools = run("export", failed_batch.batch_id, "--db", path, "--json")
    assert json.loads(tools.out)["state"] == "failed", "tools still get the JSON"


def test_the_status_of_a_failed_batch_says_why_in_words(
    run: Runner, failed_batch: DemoBatch
) -> None:
    path = failed_batch.url.removeprefix("sqlite:///")

    result = run("status", failed_batch.batch_id, "--db", path)

    assert result.code == 0
    assert result.out.splitlines()[1:3] == [
        "  state            failed (judge_failed_wave)",
        "  in words         Failed: every comparison of wave 1 failed, so the judge is down or "
        "broken; check the judge and submit the batch again.",
    ]


# ----------------------------------------------------------------- a reader that leaves


def test_a_reader_that_closes_the_pipe_is_not_an_error(
    demo_batch: DemoBatch, tmp_path: Path
) -> None:
    """``cj-worker status B | head -1``: stdout's reader is gone before anything is written."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CJ_")}
    environment.update(PYTHONPATH=str(ROOT), CJ_BROKER_URL="redis://127.0.0.1:1/0")
    path = demo_batch.url.removeprefix("sqlite:///")
    for command in (["status", demo_batch.batch_id], ["export", demo_batch.batch_id]):
        process = subprocess.Popen(
            [sys.executable, "-m", "cj_worker.cli", *command, "--db", path],
            env=environment,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()  # before the command can have written a byte
        err = process.stderr.read().decode()
        assert process.wait(timeout=60) == 0, err
        assert err == ""


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


def sent_request(broker: Celery) -> BatchRequest:
    with broker.connection_for_read() as connection:
        queue = connection.SimpleQueue(task_names.INTAKE_QUEUE)
        message = queue.get(timeout=1)
        message.ack()
        queue.close()
    _, kwargs, _ = message.payload
    return parse(BatchRequest, kwargs["request"])


def test_submit_derives_the_budget_from_comparisons_per_essay(
    run: Runner, tmp_path: Path, broker: Celery
) -> None:
    essays = tmp_path / "net.csv"
    essays.write_text("id,text\n" + "".join(f"e{i},essay {i}\n" for i in range(30)))

    result = run(
        "submit", str(essays), "--comparisons-per-essay", "12", "--judge", "external:p.judge"
    )

    assert result.code == 0, result.err
    assert result.err == "cj-worker: budget 180 from --comparisons-per-essay 12 for 30 essays\n"
    assert sent_request(broker).budget == 180


def test_submit_warns_at_intake_with_the_numbers(
    run: Runner, tmp_path: Path, broker: Celery
) -> None:
    essays = tmp_path / "net.csv"
    essays.write_text("id,text\n" + "".join(f"e{i},essay {i}\n" for i in range(200)))

    result = run("submit", str(essays), "--judge", "external:p.judge")

    assert result.code == 0, result.err
    assert result.err.startswith(
        "cj-worker: warning: 300 comparisons for 200 essays is 3.0 per essay: below 10"
    )
    assert sent_request(broker).budget is None, "the worker's default still applies"


def test_submit_refuses_a_target_the_settings_cannot_reach(
    run: Runner, tmp_path: Path, broker: Celery
) -> None:
    essays = tmp_path / "net.csv"
    essays.write_text("id,text\n" + "".join(f"e{i},essay {i}\n" for i in range(12)))

    assert_one_line_error(
        run("submit", str(essays), "--comparisons-per-essay", "40"),
        contains="--comparisons-per-essay: it needs 240 comparisons, but 12 essays have 66 pairs",
        code=2,
    )
    assert queued(broker, task_names.INTAKE_QUEUE) == 0
