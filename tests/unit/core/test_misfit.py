"""Essay and judge fit: the mean squares' definitions, and the log-score test that flags
coin-flipping judges and erratic essays at a stated level."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from cj_worker.core.array_types import BoolArray, IntArray
from cj_worker.core.bt import fit_bradley_terry
from cj_worker.core.history import ComparisonHistory, ComparisonStatus
from cj_worker.core.misfit import (
    ESSAY_MISFIT_LEVEL,
    INFIT_LIMIT,
    JUDGE_MISFIT_LEVEL,
    MIN_COMPARISONS_FOR_MISFIT,
    SLOPE_PRIOR_SD,
    calibration_slope,
    essay_fit,
    judge_fit,
    slot_a_share,
    wilson_hilferty,
)
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION, PairGenerationMode, plan_wave
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.harness import budget_for


def test_mean_squares_follow_their_definitions() -> None:
    scores = np.array([1.0, 0.0, -1.0])
    slot_a = np.array([0, 1, 0, 2])
    slot_b = np.array([1, 2, 2, 0])
    a_won = np.array([True, False, True, True])
    p = expit(scores[slot_a] - scores[slot_b])
    residual = a_won - p
    variance = p * (1 - p)

    judges = judge_fit(scores, slot_a, slot_b, a_won, np.array([0, 0, 1, 1]), 2)
    essays = essay_fit(scores, slot_a, slot_b, a_won)

    first = [0, 1]
    assert judges.infit[0] == pytest.approx(np.sum(residual[first] ** 2) / np.sum(variance[first]))
    assert judges.outfit[0] == pytest.approx(np.mean(residual[first] ** 2 / variance[first]))
    of_essay_0 = [0, 2, 3]
    assert essays.comparisons[0] == 3
    assert essays.infit[0] == pytest.approx(
        np.sum(residual[of_essay_0] ** 2) / np.sum(variance[of_essay_0])
    )
    assert list(essays.comparisons) == [3, 2, 3]


def test_a_group_without_comparisons_has_no_fit_and_no_flag() -> None:
    fit = judge_fit(np.zeros(2), np.array([0]), np.array([1]), np.array([True]), np.array([0]), 2)

    assert np.isnan(fit.infit[1])
    assert np.isnan(fit.outfit[1])
    assert not fit.misfit[1]
    assert not fit.misfit[0], "one comparison never flags"


def contrary_judge(n: int = 30) -> tuple[np.ndarray, IntArray, IntArray, BoolArray, IntArray]:
    """Essays 0..n-1 (0 best) compared ten places apart (p about 0.88); judge 0 always
    sides with the scale, judge 1 always against it."""
    scores = np.linspace(3.0, -3.0, n)
    slot_a = np.arange(n - 10, dtype=np.intp)
    slot_b = slot_a + 10
    slot_a, slot_b = np.concatenate((slot_a, slot_a)), np.concatenate((slot_b, slot_b))
    judges = np.repeat(np.array([0, 1], dtype=np.intp), n - 10)
    return scores, slot_a, slot_b, judges == 0, judges


def test_a_judge_who_always_contradicts_the_scale_is_flagged() -> None:
    scores, slot_a, slot_b, a_won, judges = contrary_judge()

    fit = judge_fit(scores, slot_a, slot_b, a_won, judges, 2)

    assert fit.infit[0] < 1.0 < INFIT_LIMIT < fit.infit[1]
    assert fit.infit_z[1] > 3
    assert list(fit.misfit) == [False, True]
    assert fit.comparisons[1] >= MIN_COMPARISONS_FOR_MISFIT


def test_the_slot_a_share_counts_each_judges_wins_for_slot_a() -> None:
    a_won = np.array([True, True, False, True, False])
    judges = np.array([0, 0, 0, 1, 1])

    share = slot_a_share(a_won, judges, 3)

    assert share[:2] == pytest.approx([2 / 3, 1 / 2])
    assert np.isnan(share[2])


def test_the_wilson_hilferty_z_is_zero_ish_at_one_and_grows_with_the_mean_square() -> None:
    z = wilson_hilferty(np.array([1.0, 1.5, 3.0]), np.array([0.3, 0.3, 0.3]))

    assert z[0] == pytest.approx(0.1)  # sd / 3: the transform's own offset
    assert 0 < z[1] < z[2]


# ------------------------------------------------- coin-flipping judges, erratic essays

ESSAYS = 100
COMPARISONS_PER_ESSAY = 20
"""With 20 judges: 50 comparisons per judge (the issue's target scenario)."""
JUDGES = 20
COIN_FLIPPERS = 2
ERRATIC = 5
TRUE_SD = 1.5
SEEDS = range(5000, 5020)
"""Not the seeds the levels were chosen on (benchmarks/honesty.py --misfit, 1000-1019)."""


def flagged_shares(policy: str, seed: int, scenario: str) -> tuple[float, float]:
    """(share of the bad groups flagged, share of the good ones) in one net.

    Waves of n/2 pairs planned by the production ``plan_wave`` (COVERAGE) under ``policy``,
    judged by 20 judges drawn per comparison; ``judges``: judges 0 and 1 flip coins;
    ``essays``: essays 0-4 are erratic (a coin decides each of their comparisons). The final
    fit and the fit statistics are the ones finalization uses.
    """
    rng = np.random.default_rng([seed, 1])
    pairing_rng = np.random.default_rng([seed, 2])
    truth = rng.normal(0.0, TRUE_SD, ESSAYS)
    settings = AlgorithmSettings().override({"pairing_policy": policy})
    history = ComparisonHistory.empty(ESSAYS)
    judges = np.zeros(0, dtype=np.intp)
    precision = INITIAL_SELECTION_PRECISION
    erratic = np.arange(ESSAYS) < (ERRATIC if scenario == "essays" else 0)
    budget = budget_for(ESSAYS, COMPARISONS_PER_ESSAY)
    while history.size < budget:
        plan = plan_wave(
            PairGenerationMode.COVERAGE,
            history,
            min(ESSAYS // 2, budget - history.size),
            pairing_rng,
            settings,
            precision,
        )
        precision = plan.selection_precision
        a = np.array([c.slot_a for c in plan.comparisons], dtype=np.intp)
        b = np.array([c.slot_b for c in plan.comparisons], dtype=np.intp)
        who = rng.integers(JUDGES, size=a.size).astype(np.intp)
        coin = (who < COIN_FLIPPERS) if scenario == "judges" else (erratic[a] | erratic[b])
        won = rng.random(a.size) < np.where(coin, 0.5, expit(truth[a] - truth[b]))
        status = np.full(a.size, ComparisonStatus.SUCCEEDED, dtype=np.int8)
        history = history.extended(a, b, status, won)
        judges = np.concatenate((judges, who))
    fit = fit_bradley_terry(ESSAYS, *history.outcomes())
    slots = (fit.scores, history.slot_a, history.slot_b, history.a_won)
    if scenario == "judges":
        flags = judge_fit(*slots, judges, JUDGES, fit.standard_errors).misfit
        return float(flags[:COIN_FLIPPERS].mean()), float(flags[COIN_FLIPPERS:].mean())
    flags = essay_fit(*slots, fit.standard_errors).misfit
    return float(flags[erratic].mean()), float(flags[~erratic].mean())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("policy", "detected"),
    [("random", 0.90), ("hybrid", 0.90), ("information", 0.80)],
)
def test_coin_flipping_judges_are_flagged_at_the_stated_level(policy: str, detected: float) -> None:
    """2 coin-flipping judges of 20, 50 comparisons each, true SD 1.5, 20 seeds.

    Measured on these seeds: coin flippers flagged 1.00 (random), 0.975 (hybrid), 0.875
    (information); reliable judges 1.4 / 1.9 / 3.1 % at the 5 % level. The information
    policy pairs close essays, where a coin flip looks like honest doubt: below the issue's
    0.90.
    """
    shares = np.array([flagged_shares(policy, seed, "judges") for seed in SEEDS])
    assert shares[:, 0].mean() >= detected
    assert shares[:, 1].mean() <= JUDGE_MISFIT_LEVEL


@pytest.mark.slow
@pytest.mark.parametrize(
    ("policy", "detected"),
    [("random", 0.70), ("hybrid", 0.50), ("information", 0.30)],
)
def test_erratic_essays_are_flagged_and_the_others_at_the_stated_level(
    policy: str, detected: float
) -> None:
    """5 erratic essays of 100, K 20, exact judges, 20 seeds.

    Measured on these seeds: erratic essays flagged 0.76 (random), 0.58 (hybrid), 0.34
    (information); the others 2.7 / 4.6 / 4.9 % at the 5 % level (the normal approximation
    is at its edge there; the bound below allows a fifth over the level). Below the issue's
    0.80: an essay's coin-decided outcomes also set its score, and against opponents near
    that score (most of them under adaptive pairing) a coin and the model predict alike.
    """
    shares = np.array([flagged_shares(policy, seed, "essays") for seed in SEEDS])
    assert shares[:, 0].mean() >= detected
    assert shares[:, 1].mean() <= 1.2 * ESSAY_MISFIT_LEVEL


def test_misfit_flags_carry_a_p_value_below_the_level() -> None:
    scores, slot_a, slot_b, a_won, judges = contrary_judge()
    fit = judge_fit(scores, slot_a, slot_b, a_won, judges, 2)
    assert fit.p_value[1] < JUDGE_MISFIT_LEVEL
    assert fit.fit_z[1] < -3
    flagged = fit.misfit
    assert np.array_equal(
        flagged,
        (fit.comparisons >= MIN_COMPARISONS_FOR_MISFIT)
        & (np.nan_to_num(fit.p_value, nan=1.0) < JUDGE_MISFIT_LEVEL),
    )


def test_calibration_slope_is_the_penalised_maximum_likelihood() -> None:
    """Zero derivative of sum log-likelihood - (c - 1)^2 / (2 * 0.5^2) at the returned c."""
    rng = np.random.default_rng(81)
    logit = rng.normal(0.0, 1.5, 400)
    won = rng.random(400) < expit(1.4 * logit)
    c = calibration_slope(logit, won)
    p = expit(c * logit)
    derivative = np.sum((won - p) * logit) - (c - 1.0) / SLOPE_PRIOR_SD**2
    assert abs(derivative) < 1e-6
    assert 1.1 < c < 1.8
