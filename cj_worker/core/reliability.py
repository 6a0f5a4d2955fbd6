"""Split-half reliability of Bradley-Terry scores: a reliability that ignores the Fisher SEs.

A secondary figure: the headline reliability is ``BTFit.reliability`` of the hierarchical
fit (SPEC section 7), which the harness measured within +-0.03 of the truth where this
one is inflated by adaptive pairing (below).

Why: SSR = (var(scores) - mean(SE^2)) / var(scores) rests on Laplace SEs that are
conditional on the design, and an adaptive design is chosen from the noise; the pairing
study measured SSR inflated by +0.06 to +0.29 over the true reliability under adaptive
pairing at 6-20 comparisons per essay (SPEC section 7). Splitting the judgements in two,
scoring each half on its own and correlating the halves measures how reproducible the
scores are without trusting any SE.

Measured limit (``benchmarks/pairing_policies.py``): under random pairing it is within
+-0.05 of the true reliability from K = 8; under adaptive pairing both halves share a
design that was chosen from earlier outcomes, so their errors are correlated and split-half
is inflated too (+0.05 to +0.30 at K = 8-20), though by less than SSR.

It lives in the core because results (finalization) and the harness must report the same
estimator the harness validates.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.bt import PairTable, map_scores

CorrelationMethod = Literal["pearson", "spearman"]

DEFAULT_SPLITS = 8
"""Random splits averaged: enough to make the split-to-split noise (about 0.01-0.02 per
split at 100 essays) small beside the quantity itself, at 2 * splits MAP fits."""


def split_half_reliability(
    n_items: int,
    winners: IntArray | list[int],
    losers: IntArray | list[int],
    prior_precision: float,
    rng: np.random.Generator,
    splits: int = DEFAULT_SPLITS,
    *,
    method: CorrelationMethod = "pearson",
) -> float:
    """Spearman-Brown corrected correlation between BT scores fitted on two halves.

    For each of ``splits`` random splits the comparisons are divided by
    :func:`stratified_halves` (each pair's comparisons alternate between the halves and
    every essay's comparisons are split nearly evenly), each half is fitted
    with MAP BT at ``prior_precision`` and the two score vectors are correlated. The mean
    correlation r over the splits is stepped up to the full length by 2r / (1 + r), since
    each half holds half the judgements.

    Returns NaN when it is undefined (fewer than three items or two comparisons) and 0.0
    when the halves do not agree at all (mean r <= 0).
    """
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    winners = np.asarray(winners, dtype=np.intp).ravel()
    losers = np.asarray(losers, dtype=np.intp).ravel()
    if n_items < 3 or winners.size < 2:
        return float("nan")
    correlations = []
    for _ in range(splits):
        first_half = stratified_halves(n_items, winners, losers, rng)
        halves = [
            map_scores(
                PairTable.from_outcomes(n_items, winners[mask], losers[mask]), prior_precision
            ).scores
            for mask in (first_half, ~first_half)
        ]
        correlations.append(_correlation(halves[0], halves[1], method))
    r = float(np.mean(correlations))
    return 0.0 if r <= 0.0 else spearman_brown(r)


def stratified_halves(
    n_items: int, winners: IntArray, losers: IntArray, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """A random split of the comparisons into two halves (True = first half).

    Comparisons are visited in random order. A comparison whose pair already has more
    comparisons in one half goes to the other (repeats of a pair alternate); otherwise it
    goes to the half that leaves its two essays' counts most even, ties by coin. Measured on
    engine runs (100-1,000 essays, K 8-20) about 80 % of essays get exactly even halves and
    the rest differ by 2 comparisons (rarely 4), so no half loses an essay.
    A single pass over the comparisons: O(m) with O(1) Python work each.
    """
    size = winners.size
    order = rng.permutation(size)
    coins = (rng.random(size) < 0.5).tolist()
    low = np.minimum(winners, losers).astype(np.int64)
    high = np.maximum(winners, losers).astype(np.int64)
    keys = (low * np.int64(max(n_items, 1)) + high)[order].tolist()
    firsts = winners[order].tolist()
    seconds = losers[order].tolist()
    # Comparisons in the first half minus those in the second, per essay and per pair.
    imbalance = [0] * n_items
    pair_imbalance: dict[int, int] = {}
    chosen = [False] * size
    for k in range(size):
        i, j, key = firsts[k], seconds[k], keys[k]
        lean = pair_imbalance.get(key, 0)
        if lean != 0:
            to_first = lean < 0
        else:
            cost_first = abs(imbalance[i] + 1) + abs(imbalance[j] + 1)
            cost_second = abs(imbalance[i] - 1) + abs(imbalance[j] - 1)
            to_first = coins[k] if cost_first == cost_second else cost_first < cost_second
        step = 1 if to_first else -1
        imbalance[i] += step
        imbalance[j] += step
        pair_imbalance[key] = lean + step
        chosen[k] = to_first
    mask = np.zeros(size, dtype=bool)
    mask[order] = chosen
    return mask


def spearman_brown(r: float, factor: float = 2.0) -> float:
    """Reliability of a test ``factor`` times as long as one with reliability ``r``."""
    return factor * r / (1.0 + (factor - 1.0) * r)


def _correlation(x: FloatArray, y: FloatArray, method: CorrelationMethod) -> float:
    if method == "spearman":
        x, y = rankdata(x), rankdata(y)
    if float(np.std(x)) == 0.0 or float(np.std(y)) == 0.0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])
