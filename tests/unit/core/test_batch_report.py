"""The finished batch's report: ranks, counts, reliability figures, misfit and grades."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.special import expit

from cj_worker.core.batch_report import (
    BatchReport,
    report_batch,
    reversal_consistency,
    separation_index,
)
from cj_worker.core.bt import fit_bradley_terry
from cj_worker.core.grade_scales import built_in_scale
from cj_worker.core.grading import NO_GRADE, ProjectionStatus, project_grades
from cj_worker.core.judgements import Judgements
from cj_worker.core.misfit import essay_fit, judge_fit

SWEDISH = built_in_scale("swedish_8_anchor")


def judgements(n: int, seed: int = 0, per_essay: int = 12, judges: int = 3) -> Judgements:
    """Random pairs judged by Bradley-Terry judges on true scores 2..-2 (essay 0 best)."""
    rng = np.random.default_rng(seed)
    truth = np.linspace(2.0, -2.0, n)
    m = n * per_essay // 2
    slot_a = rng.integers(n, size=m).astype(np.intp)
    slot_b = ((slot_a + rng.integers(1, n, size=m)) % n).astype(np.intp)
    a_won = rng.random(m) < expit(truth[slot_a] - truth[slot_b])
    return Judgements(n, slot_a, slot_b, a_won, rng.integers(judges, size=m), judges)


def report(
    data: Judgements, anchor_grades: NDArray[np.intp] | None = None, *, slots: bool = False
) -> BatchReport:
    fit = fit_bradley_terry(
        data.n_essays, *data.outcomes(), winner_in_slot_a=data.a_won if slots else None
    )
    grades = np.full(data.n_essays, NO_GRADE, dtype=np.intp)
    return report_batch(
        fit,
        data,
        grades if anchor_grades is None else anchor_grades,
        SWEDISH,
        np.random.default_rng(1),
    )


def test_ranks_counts_and_wins_come_from_the_fit_and_the_judgements() -> None:
    data = judgements(30)

    result = report(data)

    assert sorted(result.ranks) == list(range(1, 31))
    assert result.ranks[np.argmax(result.fit.scores)] == 1
    winners, losers = data.outcomes()
    assert result.comparisons.sum() == 2 * data.slot_a.size
    assert list(result.wins) == list(np.bincount(winners, minlength=30))
    assert list(result.comparisons) == list(
        np.bincount(winners, minlength=30) + np.bincount(losers, minlength=30)
    )


def test_equal_scores_rank_by_position() -> None:
    empty = Judgements(
        3, np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, bool), np.zeros(0, np.intp), 0
    )

    assert list(report(empty).ranks) == [1, 2, 3]


def test_reliability_figures_agree_with_each_other() -> None:
    result = report(judgements(60, per_essay=16))

    figures = result.reliability
    assert figures.split_half is not None
    assert 0.5 < figures.split_half <= 1.0
    assert figures.separation == pytest.approx(np.sqrt(figures.ssr / (1 - figures.ssr)))
    assert figures.slot_a_share is not None
    assert 0.3 < figures.slot_a_share < 0.7
    assert figures.reliability == pytest.approx(result.fit.reliability)
    assert figures.prior_sd == pytest.approx(result.fit.prior_sd)
    assert figures.shows_signal
    assert figures.reliability is not None
    assert 0.7 < figures.reliability <= 1.0


def test_coin_flipping_judges_get_a_headline_reliability_near_zero() -> None:
    data = judgements(60, per_essay=16)
    coins = np.random.default_rng(5).random(data.a_won.size) < 0.5
    flipped = Judgements(60, data.slot_a, data.slot_b, coins, data.judge, data.n_judges)

    figures = report(flipped).reliability

    assert figures.reliability is not None
    assert figures.reliability <= 0.2


def test_the_headline_reliability_is_not_reported_for_a_handful_of_essays() -> None:
    assert report(judgements(6)).reliability.reliability is None


def test_the_order_effect_is_fitted_and_reported_when_slots_are_given() -> None:
    data = judgements(60, per_essay=16)
    rng = np.random.default_rng(7)
    truth = np.linspace(2.0, -2.0, 60)
    favoured = rng.random(data.a_won.size) < expit(truth[data.slot_a] - truth[data.slot_b] + 1.0)
    biased = Judgements(60, data.slot_a, data.slot_b, favoured, data.judge, data.n_judges)

    figures = report(biased, slots=True).reliability

    assert figures.slot_effect is not None
    assert figures.slot_effect_se is not None
    assert abs(figures.slot_effect - 1.0) < 3 * figures.slot_effect_se
    assert figures.slot_effect_significant
    unfitted = report(biased).reliability
    assert (unfitted.slot_effect, unfitted.slot_effect_se) == (None, None)
    assert not unfitted.slot_effect_significant


def test_misfit_is_posterior_predictive_and_grades_use_the_posterior() -> None:
    data = judgements(40, per_essay=16, judges=4)
    anchors = np.full(40, NO_GRADE, dtype=np.intp)
    anchors[[0, 1, 2]] = SWEDISH.index("A")
    anchors[[37, 38, 39]] = SWEDISH.index("E")

    result = report(data, anchors)

    fit = result.fit
    slots = (fit.scores, data.slot_a, data.slot_b, data.a_won)
    errors = fit.standard_errors
    assert np.allclose(result.essays.fit_z, essay_fit(*slots, errors).fit_z, equal_nan=True)
    judges = judge_fit(*slots, data.judge, 4, errors)
    assert np.allclose(result.judges.fit_z, judges.fit_z, equal_nan=True)
    posterior = project_grades(fit.scores, errors, anchors, SWEDISH, posterior=True)
    assert posterior.probabilities is not None
    assert result.grades.probabilities is not None
    assert np.allclose(result.grades.probabilities, posterior.probabilities)


def test_reversal_consistency_counts_pairs_a_judge_saw_both_ways() -> None:
    # Judge 0 decides (0, 1) alike both ways and (2, 3) by position; judge 1 reverses (0, 1)
    # by position and saw (2, 3) one way only.
    data = Judgements(
        4,
        np.array([0, 1, 2, 3, 0, 1, 2], dtype=np.intp),
        np.array([1, 0, 3, 2, 1, 0, 3], dtype=np.intp),
        np.array([True, False, True, True, True, True, True]),
        np.array([0, 0, 0, 0, 1, 1, 1], dtype=np.intp),
        3,
    )

    pairs, consistency = reversal_consistency(data)

    assert list(pairs) == [2, 1, 0]
    assert consistency[:2].tolist() == [0.5, 0.0]
    assert np.isnan(consistency[2])


def test_misfit_and_slot_shares_are_reported_per_essay_and_per_judge() -> None:
    data = judgements(40, judges=4)

    result = report(data)

    assert result.essays.infit.shape == (40,)
    assert result.judges.infit.shape == (4,)
    assert result.judges.comparisons.sum() == data.slot_a.size
    assert result.judge_slot_a_share.shape == (4,)


def test_grades_are_projected_from_the_anchors() -> None:
    data = judgements(40, per_essay=16)
    anchors = np.full(40, NO_GRADE, dtype=np.intp)
    anchors[[0, 1, 2]] = SWEDISH.index("A")
    anchors[[18, 19, 20]] = SWEDISH.index("C")
    anchors[[37, 38, 39]] = SWEDISH.index("E")

    result = report(data, anchors)

    assert result.grades.status is ProjectionStatus.PROJECTED
    assert list(result.grades.grades[[0, 19, 39]]) == [7, 4, 1], "anchors keep their grade"


def test_a_single_essay_reports_without_a_split_half() -> None:
    data = Judgements(
        1, np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, bool), np.zeros(0, np.intp), 0
    )

    result = report(data)

    assert (result.fit.scores[0], result.ranks[0]) == (0.0, 1)
    figures = result.reliability
    assert (figures.split_half, figures.slot_a_share, figures.reliability) == (None, None, None)
    assert (figures.ssr, figures.separation) == (0.0, 0.0)
    assert np.isnan(result.essays.infit[0])
    assert result.grades.status is ProjectionStatus.NO_ANCHORS


def test_separation_is_zero_without_true_spread() -> None:
    assert separation_index(np.array([0.1, -0.1]), np.array([1.0, 1.0])) == 0.0
    assert separation_index(np.array([0.0]), np.array([1.0])) == 0.0
    assert separation_index(np.array([-2.0, 2.0]), np.array([1.0, 1.0])) == pytest.approx(
        np.sqrt(3.0)
    )
