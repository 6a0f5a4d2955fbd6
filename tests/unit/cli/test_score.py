"""``cj-worker score FILE``: decisions made elsewhere, reported like a batch, no servers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from cj_worker import cli
from cj_worker.db.results import EssayResult
from tests.builders.decision_files import essay_id, panel, write_csv, write_jsonl


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["score", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def decisions(tmp_path: Path) -> Path:
    """A panel of 40 essays and 5 judges, with one self-comparison (line 4), one missing
    winner (line 6) and one tie (line 8)."""
    rows: list[dict[str, Any]] = [dict(row) for row in panel(40, 10, 5, seed=1)[0]]
    rows.insert(2, {"winner": essay_id(1), "loser": essay_id(1), "judge": "judge-00"})
    rows.insert(4, {"winner": "N/A", "loser": "unseen", "judge": "judge-01"})
    rows.insert(6, {"winner": essay_id(2), "loser": essay_id(3), "judge": "judge-01", "tie": 1})
    return write_csv(tmp_path / "decisions.csv", rows)


def test_the_text_report_explains_every_row_it_did_not_use(
    capsys: pytest.CaptureFixture[str], decisions: Path
) -> None:
    code, out, err = run(capsys, str(decisions), "--splits", "5")

    assert code == 0, err
    text = " ".join(out.split())  # sentences are wrapped
    assert f"decisions of {decisions.read_text().count(chr(10)) - 1} rows" in text
    assert "Not used: 1 rows comparing an essay with itself: line 4." in text
    assert "Not used: 1 rows without a winner (empty or N/A): line 6." in text
    assert "Not used: 1 rows ties" in text
    assert "line 8." in text
    assert "Never compared, so not scored and in no reliability: 1 (unseen)." in text
    assert "As published CJ studies compute it (sirt::btm" in text
    assert "median r of 5 random splits of the 5 judges, no Spearman-Brown" in text
    assert "Judges: " in text
    assert "--anchors FILE" in text
    table = out.splitlines()
    header = next(i for i, line in enumerate(table) if line.split()[:2] == ["rank", "id"])
    assert (
        len([line for line in table[header + 1 :] if line.strip().startswith(tuple("0123456789"))])
        >= 40
    )
    assert "How to read this:" in out


def test_json_is_the_export_with_what_only_imported_decisions_have(
    capsys: pytest.CaptureFixture[str], decisions: Path
) -> None:
    code, out, err = run(capsys, str(decisions), "--json", "--splits", "5")

    assert code == 0, err
    document = json.loads(out)
    assert document["stop_reason"] == "external_decisions"
    assert len(document["essays"]) == 40
    assert document["never_compared"] == ["unseen"]
    assert document["decisions"]["self_comparison"] == 1
    assert document["decisions"]["missing_winner"] == 1
    assert document["decisions"]["tie"] == 1
    assert document["literature"]["split_half_splits"] == 5
    assert 0.0 < document["literature"]["ssr"] < 1.0
    assert len(document["components"]) == 1


def test_csv_is_the_exports_csv(capsys: pytest.CaptureFixture[str], decisions: Path) -> None:
    code, out, err = run(capsys, str(decisions), "--csv", "--splits", "0")

    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == EssayResult.csv_header()
    assert len(rows) == 41
    assert {row[1] for row in rows[1:]} == {essay_id(i) for i in range(40)}


def test_report_and_plot_are_written_by_the_batch_renderers(
    capsys: pytest.CaptureFixture[str], decisions: Path, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    report, plot = tmp_path / "report.html", tmp_path / "plot.png"
    code, _, err = run(
        capsys, str(decisions), "--report", str(report), "--plot", str(plot), "--splits", "0"
    )

    assert code == 0, err
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert essay_id(0) in page
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_anchors_and_a_scale_of_ones_own(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows, truth = panel(40, 12, 4, seed=2)
    ranked = sorted(truth, key=truth.__getitem__)
    anchors = tmp_path / "anchors.jsonl"
    write_jsonl(
        anchors,
        [{"id": ranked[i], "grade": "low"} for i in range(5)]
        + [{"id": ranked[-i], "grade": "high"} for i in range(1, 6)],
    )
    scale = '{"name": "mine", "grades": ["low", "high"]}'
    code, out, err = run(
        capsys,
        str(write_jsonl(tmp_path / "d.jsonl", rows)),
        "--anchors",
        str(anchors),
        "--grade-scale",
        scale,
        "--json",
        "--splits",
        "0",
    )

    assert code == 0, err
    document = json.loads(out)
    assert document["grading"]["status"] == "projected"
    assert document["grade_scale"]["grades"] == ["low", "high"]
    assert {essay["grade"] for essay in document["essays"]} == {"low", "high"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("winner,loser\na,b\nc\n", None),
        ("winner,judge\na,j\n", "decisions.csv:1: no loser field"),
        ("winner,loser,tie\na,b,perhaps\n", "decisions.csv:2: tie: must be true or false"),
        ("winner,loser\na,a\n", "no usable decision among 1 rows (1 self comparison)"),
    ],
)
def test_bad_files_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str | None
) -> None:
    path = tmp_path / "decisions.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, str(path), "--splits", "0")

    if message is None:  # a short row is a missing loser, not an error
        assert code == 0, err
        assert "Not used: 1 rows without a loser: line 3." in " ".join(out.split())
        return
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_ties_can_be_refused(capsys: pytest.CaptureFixture[str], decisions: Path) -> None:
    code, _, err = run(capsys, str(decisions), "--ties", "error", "--splits", "0")
    assert code == 2
    assert "decisions.csv:8: tie: a tie, and ties were refused" in err
