"""Every figure in words: thresholds, stop reasons, anchors outside their band, misfit."""

from __future__ import annotations

from typing import Any

import pytest

from cj_worker.core.decision import Reason
from cj_worker.report import wording
from cj_worker.report.model import ReportData, report_data
from tests.builders.results import batch_results


def data_of(**kwargs: Any) -> ReportData:
    return report_data(batch_results(**kwargs))


@pytest.mark.parametrize(
    ("value", "start"),
    [
        (0.95, "0.95: high"),
        (0.90, "0.90: high"),
        (0.85, "0.85: consistent enough to rank"),
        (0.80, "0.80: consistent enough to rank"),
        (0.75, "0.75: enough for a rough ranking"),
        (0.60, "0.60: low"),
        (0.20, "0.20: too low to rank"),
        (0.00, "0.00: too low to rank"),
    ],
)
def test_reliability_is_said_in_words_by_band(value: float, start: str) -> None:
    assert wording.reliability_words(value).startswith(start)


def test_the_headline_is_the_hierarchical_reliability_with_split_half_and_ssr_secondary() -> None:
    sentences = wording.reliability_sentences(data_of(reliability=0.74, split_half=0.83, ssr=0.92))

    assert sentences[0].startswith("Reliability 0.74: enough for a rough ranking")
    assert sentences[-1].startswith("As other comparative-judgement tools report it: ")
    assert "split-half 0.83 and SSR 0.92" in sentences[-1]
    assert "overstate the truth" in sentences[-1]
    assert wording.headline_reliability(data_of(reliability=0.74)) == ("reliability", 0.74)


def test_no_headline_below_the_minimum_and_coin_flips_are_said() -> None:
    missing = wording.reliability_sentences(data_of(reliability=None, split_half=0.6, ssr=0.8))
    assert (
        missing[0] == "Reliability was not estimated: it needs at least 10 essays with comparisons."
    )
    assert wording.headline_reliability(data_of(reliability=None, split_half=0.6)) is None
    coins = wording.reliability_sentences(data_of(reliability=0.0))
    assert coins[0].startswith("Reliability 0.00: too low to rank")
    assert "cannot be told apart from coin flips" in coins[1]


def test_the_order_effect_is_one_sentence_when_beyond_chance() -> None:
    favoured = wording.reliability_sentences(data_of(slot_effect=0.31, slot_effect_se=0.08))
    assert (
        "Judges favoured the essay shown first by 0.31 logits ± 0.08; the scores allow for it."
        in favoured
    )
    second = wording.order_effect_sentence(-0.4, 0.1)
    assert second is not None
    assert second.startswith("Judges favoured the essay shown second by 0.40 logits")
    assert wording.order_effect_sentence(0.15, 0.1) is None, "within chance: nothing said"
    assert wording.order_effect_sentence(None, None) is None
    unmeasured = wording.reliability_sentences(data_of())
    assert not any("shown first" in sentence for sentence in unmeasured)


def test_few_comparisons_per_essay_bring_a_warning_with_its_source() -> None:
    few = wording.comparisons_sentence(data_of(comparisons_per_essay=4.0))
    enough = wording.comparisons_sentence(data_of(comparisons_per_essay=16.0))

    assert "4.0 times" in few
    assert "That is few" in few
    assert "Verhavert" in few
    assert "16.0 times" in enough
    assert "few" not in enough


FINAL_REASONS = [
    Reason.STABLE,
    Reason.BUDGET_EXHAUSTED,
    Reason.MAX_ITERATIONS,
    Reason.SMALL_NET_RESAMPLING_CAP,
    Reason.RESAMPLING_CAP,
    Reason.NO_PAIRS_LEFT,
    Reason.LOW_SUCCESS_RATE,
    Reason.INSUFFICIENT_ESSAYS,
    Reason.JUDGE_FAILED_WAVE,
    "stalled",
]


@pytest.mark.parametrize("reason", FINAL_REASONS)
def test_every_stop_reason_is_said_in_words_not_as_its_code(reason: str) -> None:
    """The report says what the CLI says (one sentence per reason, in stop_reasons); a
    setting may be named as the knob to turn, but the code is never the explanation."""
    sentence = wording.stop_reason_sentence(data_of(stop_reason=str(reason)))

    assert not sentence.startswith("Stopped: ")
    assert len(sentence.replace(str(reason), "").split()) >= 8


def test_the_budget_ending_is_called_normal_and_names_the_budget() -> None:
    data = data_of(stop_reason="budget_exhausted")

    sentence = wording.stop_reason_sentence(data)

    assert f"the whole budget of {data.total_budget} comparisons" in sentence
    assert "normal ending" in sentence


def test_the_round_limit_says_how_much_budget_it_left() -> None:
    data = data_of(stop_reason="max_iterations")

    sentence = wording.stop_reason_sentence(data)

    assert f"limit of {data.waves} waves" in sentence
    unspent = data.total_budget - data.comparisons_made
    assert f"{unspent} of the budget of {data.total_budget} comparisons unspent" in sentence
    assert "max_iterations" in sentence


def test_an_unknown_or_missing_reason_is_still_shown() -> None:
    assert wording.stop_reason_sentence(data_of(stop_reason="brand_new")) == ("Stopped: brand_new.")
    assert wording.stop_reason_sentence(data_of(stop_reason=None)).startswith("Not finished")


def test_an_anchor_in_a_lower_band_gets_a_sentence_and_the_others_none() -> None:
    data = data_of(n=24)
    outside = [e for e in data.essays if wording.anchor_outside_band(data, e) is not None]

    sentences = wording.anchor_sentences(data)

    assert len(outside) == 1
    anchor = outside[0]
    band = data.band_of(anchor.score)
    assert anchor.grade == "C"
    assert band == "D"
    assert sentences == [
        f"Anchor {anchor.essay_id} (known grade C) scored {anchor.score:+.2f}, inside the D "
        "band: the judges found it weaker than its grade suggests. It keeps its known grade "
        "C; the bands are fitted to all anchors together, so a single anchor can fall "
        "outside its own."
    ]


def test_an_anchor_in_a_higher_band_is_called_stronger() -> None:
    results = batch_results(24)
    top = results.essays[0]
    data = report_data(batch_results(24, anchor_ranks={1: "E", 24: "F"}))

    (sentence,) = wording.anchor_sentences(data)

    assert sentence.startswith(f"Anchor {top.essay_id} (known grade E)")
    assert "found it stronger than its grade suggests" in sentence


def test_grades_without_anchors_are_named_as_interpolated() -> None:
    data = data_of(n=24)

    assert wording.interpolated_grades(data) == ["D+", "B"]
    assert "No anchor has grade D+ or B: those bands are interpolated" in " ".join(
        wording.grading_sentences(data)
    )


def test_missing_grades_are_explained_with_what_to_do() -> None:
    sentences = wording.grading_sentences(data_of(grades=None))

    assert sentences[0] == "No grades: no anchors: grades cannot be projected."
    assert "include anchors" in sentences[1]


def test_a_misfitting_judge_is_named_with_the_rule_and_thin_judges_are_counted() -> None:
    sentences = wording.judge_sentences(data_of())

    assert sentences[0].startswith("1 of 4 judges disagree with the others")
    assert "judge-coin (infit 1.62" in sentences[0]
    assert "in a test at the 5% level: about 1 in 20 consistent judges" in sentences[0]
    assert "judge-ann" not in sentences[0]
    assert sentences[1] == "1 judge made fewer than 10 comparisons: too few to tell."


def test_no_misfitting_judge_is_said_too() -> None:
    judges = [{"judge_id": "j1", "comparisons": 40, "infit": 1.0, "outfit": 1.0, "misfit": False}]

    sentences = wording.judge_sentences(data_of(judges=judges))

    assert sentences == [
        "No judge disagrees with the others more than chance explains (1 judge) (a judge with "
        "at least 10 comparisons is flagged when its results are less predictable than the "
        "scores predict, in a test at the 5% level: about 1 in 20 consistent judges is "
        "flagged by chance)."
    ]


def test_flagged_essays_and_an_unflagged_large_outfit_are_both_reported() -> None:
    data = data_of(n=12, misfit_ranks=(3,), outfit={7: 33.0})

    sentences = wording.essay_sentences(data)

    assert sentences[0].startswith("1 essay drew inconsistent judgements")
    assert data.essays[2].essay_id in sentences[0]
    assert f"{data.essays[6].essay_id} (outfit 33.0)" in sentences[1]
    assert wording.essay_fit_words(data.essays[2]) == "inconsistent judgements"
    assert wording.essay_fit_words(data.essays[6]) == "a surprising result"
    assert wording.essay_fit_words(data.essays[0]) == "consistent"


def test_an_essay_with_few_comparisons_is_too_thin_to_judge() -> None:
    data = data_of(n=6, comparisons_per_essay=4.0)

    assert wording.essay_fit_words(data.essays[0]) == "too few comparisons to tell"


def test_the_legend_explains_each_figure_the_page_shows() -> None:
    terms = [term for term, _ in wording.legend(data_of())]

    for term in (
        "Rank",
        "Score",
        "95 % interval",
        "Grade",
        "Confidence bar",
        "Anchor",
        "Interpolated grade",
        "Reliability",
        "Split-half reliability",
        "SSR",
        "Separation",
        "Fit (infit, outfit)",
        "Misfit flag",
        "Order effect",
        "Stop reason",
    ):
        assert term in terms
