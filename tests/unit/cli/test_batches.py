"""``cj-worker submit``, ``status`` and ``export``: a deployment's batches from outside."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery

from cj_worker import cli, task_names
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
