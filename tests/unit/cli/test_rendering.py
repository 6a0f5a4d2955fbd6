"""What the commands print, from read models to text, without a database."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cj_worker.cli import rendering
from cj_worker.client import BatchStatus


@dataclass(frozen=True)
class Row:
    rank: int
    essay_id: str
    score: float
    standard_error: float
    comparisons: int
    is_anchor: bool
    grade: str | None
    confidence: float | None
    infit: float | None
    misfit: bool


def test_the_essay_table_marks_anchors_misfits_and_missing_values() -> None:
    rows = [
        Row(1, "a", 1.5, 0.25, 8, True, "A", 1.0, 0.91, False),
        Row(2, "b", -1.5, 0.5, 7, False, None, None, 2.345, True),
    ]

    header, first, second = rendering.essay_table(rows).splitlines()

    assert header.split() == [
        "rank", "id", "score", "SE", "comparisons", "anchor", "grade", "conf", "infit"
    ]  # fmt: skip
    assert first.split() == ["1", "a", "1.500", "0.250", "8", "yes", "A", "1.00", "0.91"]
    assert second.split() == ["2", "b", "-1.500", "0.500", "7", "-", "-", "2.35*"]
    assert len({len(header), len(first), len(second)}) == 1, "columns line up"


def test_the_demo_table_adds_the_true_scores() -> None:
    rows = [Row(1, "a", 0.0, 0.1, 1, False, None, None, None, False)]

    header, line = rendering.essay_table(rows, {"a": 1.25}).splitlines()

    assert header.endswith("   true")
    assert line.endswith(" 1.250")
    assert rendering.essay_table(rows, {}).splitlines()[1].endswith("-")


def status(**changes: object) -> BatchStatus:
    values: dict[str, object] = {
        "batch_id": uuid.UUID(int=1),
        "state": "collecting",
        "final_reason": None,
        "essays": 3,
        "total_budget": 10,
        "current_wave": 0,
        "submitted": 0,
        "succeeded": 0,
        "failed": 0,
        "pending": 0,
        "processing_metadata": {"max_possible_pairs": 3},
        "created_at": datetime(2024, 1, 1, tzinfo=UTC),
        "completed_at": None,
    }
    return BatchStatus(**{**values, **changes})  # type: ignore[arg-type]


def test_a_status_before_any_answer_has_no_success_rate_and_dashes() -> None:
    lines = rendering.status_report(status()).splitlines()

    assert lines[:2] == [f"batch {uuid.UUID(int=1)}", "  state            collecting"]
    assert lines[4] == "  comparisons      0 of budget 10: 0 succeeded, 0 failed, 0 pending"
    assert lines[5:] == [
        "  max_possible_pairs       3",
        "  successful_pairs_count   -",
        "  unique_coverage_complete -",
        "  resampling_pass_count    -",
    ]


def test_a_finished_status_shows_its_reason_and_success_rate() -> None:
    report = rendering.status_report(
        status(state="completed", final_reason="stable", submitted=4, succeeded=3, failed=1)
    )

    assert "  state            completed (stable)" in report.splitlines()
    assert report.splitlines()[4].endswith("(success rate 0.75)")


def test_json_is_indented_unless_asked_for_one_line() -> None:
    assert rendering.to_json({"a": 1}) == '{\n  "a": 1\n}'
    assert rendering.to_json({"a": 1}, indent=None) == '{"a": 1}'
    assert json.loads(rendering.to_json({"a": [1, None]})) == {"a": [1, None]}


def test_numbers_for_people() -> None:
    assert rendering.number(None) == "-"
    assert rendering.number(0.12345) == "0.123"
    assert rendering.number(2, 2) == "2.00"
