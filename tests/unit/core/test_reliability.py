"""Split-half reliability: the split is stratified, the estimate is sane at the extremes."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

from cj_worker.core.reliability import (
    spearman_brown,
    split_half_reliability,
    stratified_halves,
)


def _random_net(
    n: int, k: int, sd: float, seed: int
) -> tuple[np.ndarray[tuple[int], np.dtype[np.intp]], np.ndarray[tuple[int], np.dtype[np.intp]]]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, sd, n)
    first = np.concatenate([rng.permutation(n) for _ in range(k)])
    second = np.concatenate([rng.permutation(n) for _ in range(k)])
    keep = first != second
    first, second = first[keep], second[keep]
    first_wins = rng.random(first.size) < expit(theta[first] - theta[second])
    winners = np.where(first_wins, first, second).astype(np.intp)
    losers = np.where(first_wins, second, first).astype(np.intp)
    return winners, losers


def test_halves_split_every_essay_and_every_pair_evenly() -> None:
    winners, losers = _random_net(50, 12, 1.0, seed=0)
    # Repeat every comparison three times so that pairs have several comparisons.
    winners, losers = np.tile(winners, 3), np.tile(losers, 3)
    first = stratified_halves(50, winners, losers, np.random.default_rng(1))

    per_essay = np.bincount(winners[first], minlength=50) + np.bincount(losers[first], minlength=50)
    total = np.bincount(winners, minlength=50) + np.bincount(losers, minlength=50)
    imbalance = np.abs(2 * per_essay - total)
    assert imbalance.max() <= 4
    assert np.mean(imbalance == 0) >= 0.5
    keys = np.minimum(winners, losers) * 50 + np.maximum(winners, losers)
    for key in np.unique(keys)[:100]:
        in_first = int(np.sum(first[keys == key]))
        assert abs(2 * in_first - int(np.sum(keys == key))) <= 1


def test_split_is_reproducible_from_the_generator() -> None:
    winners, losers = _random_net(30, 6, 1.0, seed=2)
    a = split_half_reliability(30, winners, losers, 0.01, np.random.default_rng(3))
    b = split_half_reliability(30, winners, losers, 0.01, np.random.default_rng(3))
    assert a == b


def test_no_signal_gives_low_reliability_and_strong_signal_high() -> None:
    noise_w, noise_l = _random_net(80, 10, 0.0, seed=4)
    signal_w, signal_l = _random_net(80, 20, 3.0, seed=4)
    rng = np.random.default_rng(5)
    assert split_half_reliability(80, noise_w, noise_l, 0.01, rng) < 0.3
    assert split_half_reliability(80, signal_w, signal_l, 0.01, rng) > 0.85
    assert split_half_reliability(80, signal_w, signal_l, 0.01, rng, method="spearman") > 0.85


def test_undefined_inputs_give_nan() -> None:
    rng = np.random.default_rng(0)
    assert math.isnan(split_half_reliability(2, [0, 1], [1, 0], 0.01, rng))
    assert math.isnan(split_half_reliability(10, [0], [1], 0.01, rng))


def test_spearman_brown() -> None:
    assert spearman_brown(0.5) == 2 * 0.5 / 1.5
    assert spearman_brown(0.0) == 0.0
    assert spearman_brown(1.0) == 1.0
