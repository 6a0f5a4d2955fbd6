"""What the commands print, from read models to text, without a database."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from cj_worker.cli import rendering
from cj_worker.client import BatchResults, BatchStatus
from cj_worker.db.repositories.reports import DecisionView, EssayResult

MOMENT = datetime(2024, 1, 1, tzinfo=UTC)


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
    outfit: float | None = None

    @property
    def interval_95(self) -> tuple[float, float]:
        return self.score - 1.96 * self.standard_error, self.score + 1.96 * self.standard_error


def test_the_essay_table_marks_anchors_misfits_and_missing_values() -> None:
    rows = [
        Row(1, "a", 1.5, 0.25, 8, True, "A", 1.0, 0.91, False, 0.8),
        Row(2, "bb", -1.5, 0.5, 7, False, None, None, 2.345, True, 33.0),
    ]

    header, first, second = rendering.essay_table(rows).splitlines()

    assert header.split() == [
        "rank", "id", "score", "SE", "95%", "interval", "compared", "anchor", "grade", "conf",
        "infit", "outfit",
    ]  # fmt: skip
    assert first.split() == [
        "1", "a", "1.50", "0.25", "[", "1.01,", "1.99]", "8", "yes", "A", "1.00", "0.91", "0.80"
    ]  # fmt: skip
    assert second.split() == [
        "2", "bb", "-1.50", "0.50", "[", "-2.48,", "-0.52]", "7", "-", "-", "2.35", "33.00*"
    ]  # fmt: skip
    assert len(header) == len(first) == len(second) - 1, "columns line up, the flag last"
    assert header.index("outfit") + len("outfit") == second.index("*")


def test_the_demo_table_adds_the_true_scores() -> None:
    rows = [Row(1, "a", 0.0, 0.1, 1, False, None, None, None, False)]

    header, line = rendering.essay_table(rows, {"a": 1.25}).splitlines()

    assert header.endswith("    true")
    assert line.endswith(" 1.25")
    assert rendering.essay_table(rows, {}).splitlines()[1].endswith("-")


def test_the_legend_explains_every_figure_within_the_width() -> None:
    legend = rendering.legend()

    lines = legend.splitlines()
    assert lines[0] == "How to read this:"
    terms = [line.split()[0] for line in lines[1:] if not line.startswith("   ")]
    assert terms == ["score", "SE", "compared", "reliability", "infit,", "*", "grade,"]
    for words in ("95% interval", "split-half", "SSR", "0.70", "0.80", "0.90", "conf"):
        assert words in legend, words
    assert max(len(line) for line in lines) <= rendering.WIDTH


@pytest.mark.parametrize(
    ("value", "words"),
    [(0.95, "high"), (0.85, "good"), (0.7, "enough for a rough ranking"), (0.2, "too low")],
)
def test_reliability_in_words(value: float, words: str) -> None:
    assert rendering.reliability_words(value).startswith(words)


def test_the_reliability_sentence_leads_with_the_hierarchical_reliability() -> None:
    assert rendering.reliability_sentence(0.84, 0.9, 0.93) == (
        "Reliability: 0.84, good; as other CJ tools report it (adaptive pairing can inflate "
        "these): split-half 0.90, SSR 0.93."
    )
    assert rendering.reliability_sentence(0.0, 0.7, None, shows_signal=False) == (
        "Reliability: 0.00, too low to rank (the decisions cannot be told apart from coin "
        "flips); as other CJ tools report it (adaptive pairing can inflate these): split-half "
        "0.70."
    )
    assert rendering.reliability_sentence(None, None, 0.5) == (
        "Reliability: not estimated (needs at least 10 essays); as other CJ tools report it "
        "(adaptive pairing can inflate these): SSR 0.50."
    )
    assert rendering.reliability_sentence(None, None, None) == (
        "Reliability: not estimated (needs at least 10 essays)."
    )


def test_the_order_effect_is_said_only_when_beyond_chance() -> None:
    assert rendering.order_effect_sentence(0.3, 0.1) == (
        "Judges favoured the essay shown first by 0.30 logits ± 0.10; the scores allow for it."
    )
    assert rendering.order_effect_sentence(0.1, 0.1) is None
    assert rendering.order_effect_sentence(None, None) is None


def test_too_few_comparisons_per_essay_is_a_warning() -> None:
    assert rendering.comparisons_sentence(300, 0, 40) == (
        "Comparisons: 300, 15.0 per essay on average (10 or more is the usual minimum)."
    )
    few = rendering.comparisons_sentence(300, 12, 200)
    assert few.startswith("Comparisons: 300 (12 more failed), 3.0 per essay on average. WARNING")
    assert "below 10 per essay" in few
    assert "--comparisons-per-essay 10" in few


def essay(essay_id: str, **changes: object) -> EssayResult:
    values: dict[str, object] = {
        "rank": 1,
        "id": essay_id,
        "score": 0.0,
        "se": 0.5,
        "comparisons": 10,
        "wins": 5,
        "is_anchor": False,
        "grade": None,
        "grade_probabilities": None,
        "confidence": None,
        "projected_grade": None,
        "infit": 1.0,
        "outfit": 1.0,
        "misfit": False,
    }
    return EssayResult.model_validate({**values, **changes})


def results(essays: list[EssayResult], grading: dict[str, object] | None) -> BatchResults:
    return BatchResults(
        status=status(state="completed", final_reason="stable", essays=len(essays)),
        stop_reason="stable",
        ssr=0.9,
        split_half=0.85,
        separation=3.0,
        duration_seconds=1.0,
        grade_scale={"name": "pf", "grades": ["fail", "pass"], "priors": None},
        grading=grading,
        judges=[],
        essays=essays,
    )


@pytest.mark.parametrize(
    ("essays", "grading", "says"),
    [
        pytest.param(
            [essay("a"), essay("b")],
            {"status": "no_anchors", "explanation": "no anchors: grades cannot be projected"},
            "Grades: none, because there are no anchors in the file",
            id="no-anchors",
        ),
        pytest.param(
            [essay("a", is_anchor=True, grade="pass"), essay("b")],
            {"status": "one_anchor_grade", "explanation": "..."},
            "Grades: none, because the anchors cover fewer than two grades (all pass)",
            id="one-grade",
        ),
        pytest.param(
            [essay("a", is_anchor=True, grade="pass"), essay("b", is_anchor=True, grade="fail")],
            {"status": "anchors_not_separated", "explanation": "the anchors' scores ..."},
            "Grades: none: the anchors' scores ....",
            id="not-separated",
        ),
        pytest.param(
            [essay("a", is_anchor=True, grade="pass"), essay("b", is_anchor=True, grade="fail")],
            {"status": "only_anchors", "explanation": "..."},
            "Grades: every essay is an anchor and keeps its known grade.",
            id="only-anchors",
        ),
    ],
)
def test_why_grades_are_missing(
    essays: list[EssayResult], grading: dict[str, object], says: str
) -> None:
    assert rendering.grades_sentences(results(essays, grading))[0].startswith(says)


def test_an_anchor_placed_in_another_grade_is_explained() -> None:
    essays = [
        essay("a", is_anchor=True, grade="pass", projected_grade="fail"),
        essay("b", is_anchor=True, grade="fail", projected_grade="fail"),
        essay("c", grade="pass", confidence=0.7, projected_grade="pass"),
    ]

    first, *notes = rendering.grades_sentences(results(essays, {"status": "projected"}))

    assert first.startswith("Grades: projected from 2 anchors")
    assert notes == [
        "  1 anchor scored like another grade: a (pass, scored like fail). Anchors keep their "
        "known grade; the grade bands are fitted to all anchors together, so one anchor can "
        "fall outside its own."
    ]


def test_the_report_is_summary_table_legend() -> None:
    text = rendering.results_report(
        results([essay("a"), essay("b")], {"status": "no_anchors"}), spearman=0.5
    )

    lines = text.splitlines()
    assert lines[0] == f"Batch {uuid.UUID(int=1)}: 2 essays, completed after 0 waves."
    assert lines[1].startswith("Stopped because the scores stopped moving (stable)")
    assert "Against the true scores (known in a simulation only): Spearman 0.50." in lines
    assert "How to read this:" in lines
    assert max(len(line) for line in lines) <= rendering.WIDTH


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
        "created_at": MOMENT,
        "completed_at": None,
    }
    return BatchStatus(**{**values, **changes})  # type: ignore[arg-type]


def test_a_status_before_any_answer_has_no_success_rate_and_dashes() -> None:
    lines = rendering.status_report(status()).splitlines()

    assert lines[:2] == [f"batch {uuid.UUID(int=1)}", "  state            collecting"]
    assert lines[2] == "  essays           3", "no words without a decision"
    assert lines[4] == "  comparisons      0 of budget 10: 0 succeeded, 0 failed, 0 pending"
    assert lines[5:] == [
        "  max_possible_pairs       3",
        "  successful_pairs_count   -",
        "  unique_coverage_complete -",
        "  resampling_pass_count    -",
    ]


def test_a_chunked_batch_still_receiving_says_how_many_essays_are_to_come() -> None:
    waiting = rendering.status_report(status(state="created", essays=1_000, essays_expected=2_500))
    assert waiting.splitlines()[2] == (
        "  essays           1000 of 2500 declared: 1500 still to arrive (cj.add_essays)"
    )
    arrived = status(state="collecting", essays=2_500, essays_expected=2_500)
    assert rendering.status_report(arrived).splitlines()[2] == "  essays           2500"
    assert arrived.as_dict()["essays_expected"] == 2_500
    assert status().as_dict()["essays_expected"] is None, "sent whole"


def test_a_finished_status_shows_its_reason_and_success_rate() -> None:
    report = rendering.status_report(
        status(state="completed", final_reason="stable", submitted=4, succeeded=3, failed=1)
    )

    lines = report.splitlines()
    assert lines[1:3] == [
        "  state            completed (stable)",
        "  in words         Stopped because the scores stopped moving (stable): the last wave "
        "changed no score by more than score_stability_threshold (4 of the budget of 10 "
        "comparisons used).",
    ]
    assert lines[5].endswith("(success rate 0.75)")


def test_a_running_status_says_what_its_last_decision_means() -> None:
    decisions = [DecisionView(0, "request_coverage_wave", "coverage_incomplete", MOMENT)]
    lines = rendering.status_report(status(decisions=decisions, submitted=2)).splitlines()

    assert lines[2] == (
        "  in words         Comparing pairs of essays that have not met yet (2 of the budget of "
        "10 comparisons used so far)."
    )


def test_json_is_indented_unless_asked_for_one_line() -> None:
    assert rendering.to_json({"a": 1}) == '{\n  "a": 1\n}'
    assert rendering.to_json({"a": 1}, indent=None) == '{"a": 1}'
    assert json.loads(rendering.to_json({"a": [1, None]})) == {"a": [1, None]}


def test_numbers_for_people() -> None:
    assert rendering.number(None) == "-"
    assert rendering.number(0.12345) == "0.123"
    assert rendering.number(2, 2) == "2.00"
