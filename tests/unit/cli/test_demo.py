"""``cj-worker demo``: a whole batch in this process, printed as JSON or as a table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cj_worker.cli.demo import demo_settings, sample_essays
from cj_worker.config import get_settings
from cj_worker.tasks import base
from tests.unit.cli.runs import STOP_REASONS, DemoBatch, Runner


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


def test_demo_leaves_the_environment_and_the_configured_database_alone(
    run: Runner, tmp_path: Path
) -> None:
    """The demo hands its database to the runner as a setting: ``CJ_DATABASE_URL``, the
    cached settings and the task bodies' settings are what they were, and the configured
    database is never opened."""
    configured = os.environ["CJ_DATABASE_URL"]
    settings = get_settings()

    result = run("demo", "--essays", "4", "--json", "--db", str(tmp_path / "own.db"))

    assert result.code == 0, result.err
    assert json.loads(result.out)["database"] == str(tmp_path / "own.db")
    assert os.environ["CJ_DATABASE_URL"] == configured
    assert get_settings() is settings, "the cached settings were not rebuilt"
    assert base.settings() is settings, "the task bodies run with the environment's again"
    assert not (tmp_path / "default.sqlite3").exists(), "the configured database is untouched"


def test_demo_settings_are_the_configured_ones_on_the_demo_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CJ_MAX_ITERATIONS", "7")
    get_settings.cache_clear()
    try:
        settings = demo_settings(tmp_path / "d.sqlite3")
    finally:
        get_settings.cache_clear()

    assert settings.database_url == f"sqlite:///{tmp_path / 'd.sqlite3'}"
    assert settings.max_iterations == 7


def test_sample_essays_are_reproducible_and_carry_true_scores() -> None:
    first, again = sample_essays(5, seed=3), sample_essays(5, seed=3)

    assert [e.id for e in first] == [f"essay-{i:03d}" for i in range(1, 6)]
    assert [e.true_score for e in first] == [e.true_score for e in again]
    assert [e.true_score for e in first] != [e.true_score for e in sample_essays(5, seed=4)]


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
