"""``cj-worker demo``: a whole batch in this process, printed as JSON or as a table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cj_worker import cli, embedded
from cj_worker.cli.demo import demo_settings, sample_essays
from cj_worker.config import Settings, get_settings
from cj_worker.embedded import EmbeddedRunError
from cj_worker.payloads import BatchRequest
from cj_worker.tasks import base
from tests.unit.cli.runs import (
    STOP_REASONS,
    DemoBatch,
    Runner,
    assert_one_line_error,
    use_database,
)


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
    assert output["database"] is None, "the default temporary database is not kept"
    assert "duration_seconds" not in output, "wall-clock time would make runs differ"
    assert list(tmp_path.glob("cj-demo-*")) == [], "and removed at exit"


def test_demo_prints_a_report_that_explains_itself(run: Runner, tmp_path: Path) -> None:
    database = tmp_path / "t.db"
    result = run("demo", "--essays", "6", "--budget", "30", "--seed", "3", "--db", str(database))

    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    batch_id = lines[0].split()[1].rstrip(":")
    assert lines[0] == f"Batch {batch_id}: 6 essays, completed after {lines[0].split()[-2]} waves."
    summary = [line for line in lines[1:] if not line.startswith("  ")][:4]
    assert summary[0].startswith(("Stopped", "Used", "Every", "No pair")), "in words"
    assert summary[1].startswith("Comparisons: ")
    assert summary[2].startswith("Reliability: ")
    assert summary[3].startswith("Grades: none, because there are no anchors in the file")
    assert any(
        line.startswith("Against the true scores (known in a simulation only): ") for line in lines
    )
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "id"])
    rows = lines[header + 1 : header + 7]
    assert [line.split()[0] for line in rows] == ["1", "2", "3", "4", "5", "6"]
    assert lines[header + 7 : header + 9] == ["", "How to read this:"]
    assert lines[-2:] == [
        f"Next: cj-worker export {batch_id} --db {database} --report report.html",
        "  (or --csv, --json, --plot FILE.png)",
    ]
    assert "judging" in result.err, "the progress bar goes to stderr"


def test_a_temporary_demo_says_how_to_keep_its_batch(run: Runner, tmp_path: Path) -> None:
    result = run("demo", "--essays", "4", "--budget", "6", "--seed", "3")

    assert result.code == 0, result.err
    batch_id = result.out.split()[1].rstrip(":")
    assert result.out.rstrip().endswith(
        "Next: this demo's database was temporary. Run the same command again with\n"
        "  --db demo.sqlite3 (same options, same batch), then\n"
        f"  cj-worker export {batch_id} --db demo.sqlite3 --report report.html\n"
        "  (or --csv, --json, --plot FILE.png)"
    )
    assert list(tmp_path.glob("cj-demo-*")) == []


def test_demo_with_one_essay_ends_with_insufficient_essays(run: Runner, tmp_path: Path) -> None:
    result = run("demo", "--essays", "1", "--json", "--db", str(tmp_path / "one.db"))

    assert result.code == 0, result.err
    output = json.loads(result.out)
    assert output["stop_reason"] == "insufficient_essays"
    assert [(e["rank"], e["score"]) for e in output["essays"]] == [(1, 0.0)]


def test_demo_reads_an_essay_file(run: Runner, tmp_path: Path) -> None:
    essays = tmp_path / "net.jsonl"
    essays.write_text(
        "\n".join(
            json.dumps({"id": f"x{i}", "text": f"essay {i}", "true_score": i * 2.0})
            for i in range(4)
        )
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


# ------------------------------------------------------------------- reproducible runs


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(run: Runner) -> None:
    """Each run on a temporary database of its own: nothing is shared but the options."""
    options = ["demo", "--essays", "12", "--budget", "60", "--json"]

    first, again, other = run(*options), run(*options), run(*options, "--seed", "8")

    assert first.code == again.code == other.code == 0, first.err + other.err
    assert first.out == again.out
    assert json.loads(other.out)["batch_id"] != json.loads(first.out)["batch_id"]
    assert json.loads(other.out)["essays"] != json.loads(first.out)["essays"]


def test_the_text_report_is_reproducible_too(run: Runner) -> None:
    options = ["demo", "--essays", "8", "--budget", "30", "--seed", "11"]
    first, again = run(*options), run(*options)

    assert first.code == again.code == 0
    assert first.out == again.out


# ----------------------------------------------------------------------- demo hygiene


@pytest.mark.parametrize(
    "failure",
    [KeyboardInterrupt(), EmbeddedRunError("the run broke")],
    ids=["ctrl-c", "error"],
)
def test_the_temporary_database_is_removed_however_the_demo_ends(
    run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    seen: list[Path] = []

    def broken(request: object, progress: object, *, settings: Settings) -> None:
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        path.write_bytes(b"half a run")
        seen.append(path)
        raise failure

    monkeypatch.setattr(embedded, "run_batch", broken)

    result = run("demo", "--essays", "4")

    assert result.code == (130 if isinstance(failure, KeyboardInterrupt) else 2)
    [path] = seen
    assert path.parent.name.startswith("cj-demo-")
    assert not path.parent.exists()


def test_a_kept_database_has_no_write_ahead_log_beside_it(run: Runner, tmp_path: Path) -> None:
    result = run(
        "demo", "--essays", "6", "--budget", "10", "--json", "--db", str(tmp_path / "k.db")
    )

    assert result.code == 0, result.err
    assert sorted(path.name for path in tmp_path.glob("k.db*")) == ["k.db"]


# ---------------------------------------------------------------------------- budgets


def test_a_budget_from_comparisons_per_essay(
    run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "k.db"

    result = run(
        "demo", "--essays", "12", "--comparisons-per-essay", "5", "--json", "--db", str(database)
    )

    assert result.code == 0, result.err
    err = result.err.splitlines()
    assert err[0] == "cj-worker: budget 30 from --comparisons-per-essay 5 for 12 essays"
    assert err[1].startswith("cj-worker: warning: 30 comparisons for 12 essays is 5.0 per essay")
    use_database(monkeypatch, f"sqlite:///{database}")
    status = run("status", json.loads(result.out)["batch_id"], "--json")
    assert json.loads(status.out)["total_budget"] == 30


def test_a_budget_from_a_target_reliability_says_where_it_comes_from(run: Runner) -> None:
    result = run("demo", "--essays", "12", "--target-reliability", "0.7", "--json")

    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        "cj-worker: budget 60 from --target-reliability 0.7: about 10.0 comparisons per essay "
        "for 12 essays (Verhavert et al. 2019: 10-14 per essay for reliability 0.70, 26-37 for "
        "0.90; assumes random-like pairing)"
    ]
    assert json.loads(result.out)["comparisons_made"] <= 60


def test_a_target_the_settings_cannot_reach_is_refused_before_anything_runs(
    run: Runner, tmp_path: Path
) -> None:
    result = run(
        "demo", "--essays", "40", "--target-reliability", "0.9", "--set", "max_iterations=10"
    )

    line = assert_one_line_error(result, contains="--target-reliability: it needs 600", code=2)
    assert (
        "raise max_iterations to at least 30 (--set max_iterations=N), or lower the target" in line
    )
    assert list(tmp_path.glob("cj-demo-*")) == []


def test_a_budget_the_settings_cannot_spend_is_a_warning(run: Runner) -> None:
    result = run("demo", "--essays", "6", "--budget", "100", "--json")

    assert result.code == 0
    assert result.err.startswith("cj-worker: warning: the budget cannot be spent: it is 100")
    assert json.loads(result.out)["comparisons_made"] <= 45


def test_the_budget_options_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--budget", "10", "--comparisons-per-essay", "4"])

    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_kept_file_with_an_interrupted_run_of_the_same_batch_is_said(
    run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = embedded.run_batch

    def interrupted(request: BatchRequest, progress: object, *, settings: Settings) -> object:
        def stop(done: int, budget: int) -> None:
            if done == 3:
                raise KeyboardInterrupt

        return real(request, stop, settings=settings)

    options = ["demo", "--essays", "6", "--budget", "30", "--json", "--db", str(tmp_path / "i.db")]
    monkeypatch.setattr(embedded, "run_batch", interrupted)
    assert run(*options).code == 130
    monkeypatch.setattr(embedded, "run_batch", real)

    assert_one_line_error(
        run(*options), contains="holds an unfinished run of this same batch", code=2
    )


def test_a_failed_demo_points_at_status_not_export(run: Runner, tmp_path: Path) -> None:
    result = run("demo", "--essays", "8", "--error-rate", "1", "--db", str(tmp_path / "f.db"))

    assert result.code == 0, result.err
    assert result.out.splitlines()[1].startswith("Failed: every comparison of wave 1 failed")
    assert "How to read this:" not in result.out, "no table, no legend without results"
    assert f"Next: cj-worker status {result.out.split()[1].rstrip(':')} --db" in result.out
