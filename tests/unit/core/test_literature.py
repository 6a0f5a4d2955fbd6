"""The literature's figures: sirt::btm's fit and SSR, and the judge-split split-half.

``_sirt_rowwise`` transcribes ``sirt::btm`` (R/btm.R 1.541, with ``fix.eta = 0`` and
``ignore.ties = TRUE``) row by row, as R computes it, so the vectorised fit is checked
against the algorithm's own steps rather than against itself. (On the 99 public data sets
of the 2025 CJ meta-analysis the fit reproduces sirt's published scores to 1e-13;
``benchmarks/score.py --meta-analysis`` measures that.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from cj_worker.core.array_types import IntArray
from cj_worker.core.bt import BTInputError
from cj_worker.core.literature import (
    SIRT_EPSILON,
    judge_split_half,
    sirt_btm,
)


def _sirt_rowwise(
    n: int, winners: list[int], losers: list[int], eps: float = 0.3, maxiter: int = 400
) -> tuple[list[float], list[float], int]:
    """sirt::btm's loop with plain Python lists, one decision at a time."""
    wins = [0.0] * n
    total = [0.0] * n
    for w, lo in zip(winners, losers, strict=True):
        wins[w] += 1
        total[w] += 1
        total[lo] += 1
    score = [eps + (total[i] - 2 * eps) * wins[i] / total[i] for i in range(n)]
    prop = [score[i] / total[i] for i in range(n)]
    theta = [math.log(((p + 0.1) / 1.2) / (1 - (p + 0.1) / 1.2)) for p in prop]
    mean = sum(theta) / n
    theta = [t - mean for t in theta]
    maxincr, iteration, change = 1.0, 0, 1e5
    se = [0.0] * n
    while iteration < maxiter and change > 1e-4:
        previous = theta[:]
        maxincr *= 0.98
        expected = [0.0] * n
        d2 = [1e-20] * n
        for w, lo in zip(winners, losers, strict=True):
            p = 1.0 / (1.0 + math.exp(-(theta[w] - theta[lo])))
            expected[w] += p
            expected[lo] += 1 - p
            d2[w] += p * (1 - p)
            d2[lo] += p * (1 - p)
        for i in range(n):
            increment = (score[i] - expected[i]) / d2[i]
            theta[i] += max(-maxincr, min(maxincr, increment))
            se[i] = math.sqrt(1 / d2[i])
        mean = sum(theta) / n
        theta = [t - mean for t in theta]
        change = max(abs(a - b) for a, b in zip(theta, previous, strict=True))
        iteration += 1
    return theta, se, iteration


def _net(
    n: int, per_item: int, sd: float, seed: int, *, judges: int = 1, flip: float = 0.0
) -> tuple[IntArray, IntArray, IntArray]:
    """Random pairs, BT outcomes; each judge flips a coin with probability ``flip``."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, sd, n)
    first = np.concatenate([rng.permutation(n) for _ in range(per_item)])
    second = np.concatenate([rng.permutation(n) for _ in range(per_item)])
    keep = first != second
    first, second = first[keep], second[keep]
    p = expit(theta[first] - theta[second])
    p = np.where(rng.random(first.size) < flip, 0.5, p)
    first_won = rng.random(first.size) < p
    winners = np.where(first_won, first, second).astype(np.intp)
    losers = np.where(first_won, second, first).astype(np.intp)
    return winners, losers, rng.integers(0, judges, first.size).astype(np.intp)


# ------------------------------------------------------------------------- sirt::btm


def test_the_fit_follows_sirts_iterations_step_by_step() -> None:
    winners, losers, _ = _net(12, 6, 1.5, seed=3)
    fit = sirt_btm(12, winners, losers)

    theta, se, iterations = _sirt_rowwise(12, winners.tolist(), losers.tolist())

    assert fit.iterations == iterations
    np.testing.assert_allclose(fit.scores, theta, atol=1e-12)
    np.testing.assert_allclose(fit.standard_errors, se, atol=1e-12)
    assert fit.converged


def test_the_step_cap_and_the_iteration_limit_are_sirts() -> None:
    # A long chain converges slowly: the 0.98^k step cap and maxit bind.
    winners = np.arange(29, dtype=np.intp)
    losers = winners + 1
    fit = sirt_btm(30, winners, losers, max_iterations=25)

    theta, se, iterations = _sirt_rowwise(30, winners.tolist(), losers.tolist(), maxiter=25)

    assert fit.iterations == iterations == 25
    assert not fit.converged
    np.testing.assert_allclose(fit.scores, theta, atol=1e-12)
    np.testing.assert_allclose(fit.standard_errors, se, atol=1e-12)


def test_epsilon_keeps_an_undefeated_item_finite() -> None:
    # Item 0 wins all 6 of its comparisons: the MLE is infinite, btm's eps-adjusted
    # score is 6 - 0.3, so its estimate is finite and above everyone else's.
    winners = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3], dtype=np.intp)
    losers = np.array([1, 2, 3, 1, 2, 3, 2, 3, 1], dtype=np.intp)
    fit = sirt_btm(4, winners, losers)

    assert np.all(np.isfinite(fit.scores))
    assert int(np.argmax(fit.scores)) == 0
    theta, _, _ = _sirt_rowwise(4, winners.tolist(), losers.tolist())
    np.testing.assert_allclose(fit.scores, theta, atol=1e-12)


def test_ssr_is_sepg_squared_over_one_plus_sepg_squared() -> None:
    winners, losers, _ = _net(40, 10, 1.5, seed=1)
    fit = sirt_btm(40, winners, losers)

    variance = float(np.var(fit.scores, ddof=1))  # R's var: n - 1
    error = float(np.mean(fit.standard_errors**2))
    sep_g = math.sqrt(variance / error)
    assert fit.separation == pytest.approx(sep_g)
    assert fit.ssr == pytest.approx(sep_g**2 / (1 + sep_g**2))
    # ... which is var / (var + mean SE^2), not btm's mle.rel = 1 - mean SE^2 / var.
    assert fit.ssr == pytest.approx(variance / (variance + error))
    assert fit.ssr > 1 - error / variance


def test_items_never_compared_get_nan_and_stay_out_of_ssr() -> None:
    winners, losers, _ = _net(30, 8, 1.5, seed=2)
    alone = sirt_btm(30, winners, losers)
    with_isolated = sirt_btm(35, winners, losers)  # items 30..34: no comparison

    assert np.all(np.isnan(with_isolated.scores[30:]))
    assert np.all(np.isnan(with_isolated.standard_errors[30:]))
    assert with_isolated.compared.sum() == 30
    np.testing.assert_allclose(with_isolated.scores[:30], alone.scores)
    assert with_isolated.ssr == pytest.approx(alone.ssr)


def test_no_comparisons_and_one_pair_are_handled() -> None:
    empty = sirt_btm(3, np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp))
    assert not empty.compared.any()
    assert math.isnan(empty.ssr)

    pair = sirt_btm(2, np.array([0], dtype=np.intp), np.array([1], dtype=np.intp))
    assert pair.scores[0] > pair.scores[1]
    assert 0.0 <= pair.ssr <= 1.0


def test_invalid_outcomes_are_refused_as_the_engine_refuses_them() -> None:
    with pytest.raises(BTInputError, match="itself"):
        sirt_btm(3, np.array([1], dtype=np.intp), np.array([1], dtype=np.intp))
    with pytest.raises(BTInputError, match="integer"):
        sirt_btm(3, np.array([0.0]), np.array([1.0]))
    with pytest.raises(BTInputError, match="index items"):
        sirt_btm(3, np.array([0], dtype=np.intp), np.array([3], dtype=np.intp))
    with pytest.raises(ValueError, match="epsilon"):
        sirt_btm(3, np.array([0], dtype=np.intp), np.array([1], dtype=np.intp), epsilon=0.5)
    assert SIRT_EPSILON == 0.3


# --------------------------------------------------------------------- judge split-half


def test_each_split_correlates_two_judge_halves_without_spearman_brown() -> None:
    winners, losers, judges = _net(40, 12, 1.5, seed=4, judges=6)
    result = judge_split_half(40, winners, losers, judges, np.random.default_rng(9), splits=5)

    rng = np.random.default_rng(9)
    for split in range(5):
        group = rng.permutation(np.unique(judges))[:3]
        first = np.isin(judges, group)
        a = sirt_btm(40, winners[first], losers[first])
        b = sirt_btm(40, winners[~first], losers[~first])
        both = a.compared & b.compared
        r = float(np.corrcoef(a.scores[both], b.scores[both])[0, 1])
        assert result.correlations[split] == pytest.approx(r)
    assert result.median == pytest.approx(float(np.median(result.correlations)))
    assert result.judges == 6


def test_split_half_is_high_for_consistent_judges_and_near_zero_for_coin_flippers() -> None:
    consistent = judge_split_half(
        60, *_net(60, 20, 2.0, seed=5, judges=10), np.random.default_rng(0), splits=20
    )
    coins = judge_split_half(
        60, *_net(60, 20, 2.0, seed=5, judges=10, flip=1.0), np.random.default_rng(0), splits=20
    )

    assert consistent.median > 0.85
    assert abs(coins.median) < 0.25


def test_a_judge_of_one_decision_can_be_split() -> None:
    winners, losers, judges = _net(30, 10, 1.5, seed=6, judges=4)
    winners = np.append(winners, np.intp(0))
    losers = np.append(losers, np.intp(1))
    judges = np.append(judges, np.intp(4))  # judge 4 made one decision
    result = judge_split_half(30, winners, losers, judges, np.random.default_rng(1), splits=10)

    assert result.judges == 5
    assert np.isfinite(result.median)


def test_split_half_is_undefined_without_two_judges_or_shared_items() -> None:
    winners, losers, judges = _net(20, 6, 1.5, seed=7, judges=1)
    one = judge_split_half(20, winners, losers, judges, np.random.default_rng(0))
    assert math.isnan(one.median)
    assert one.judges == 1

    # Two judges who compared disjoint items: no item lies in both halves.
    disjoint = judge_split_half(
        6,
        np.array([0, 1, 3, 4], dtype=np.intp),
        np.array([1, 2, 4, 5], dtype=np.intp),
        np.array([0, 0, 1, 1], dtype=np.intp),
        np.random.default_rng(0),
        splits=3,
    )
    assert np.all(np.isnan(disjoint.correlations))
    assert math.isnan(disjoint.median)
    with pytest.raises(ValueError, match="splits"):
        judge_split_half(20, winners, losers, judges, np.random.default_rng(0), splits=0)
