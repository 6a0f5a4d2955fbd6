"""Fit statistics: do an essay's or a judge's outcomes agree with the Bradley-Terry fit?

For a succeeded comparison with fitted P(slot A wins) ``p`` and outcome ``y`` (1 if A won):
residual ``r = y - p``, its variance ``w = p (1 - p)``, standardised square ``z^2 = r^2 / w``.

- **outfit** = mean of ``z^2`` over a group's comparisons: unweighted, so one surprising
  outcome of a lopsided pair dominates it;
- **infit** = ``sum r^2 / sum w``: information-weighted, dominated by the close pairs that
  carry the information, and the statistic misfit flags rest on.

Both are 1 in expectation when the model holds. Their sampling SDs follow from the
Bernoulli moments (``Var r^2 = w - 4 w^2``, ``Var z^2 = 1/w - 4``), and the Wilson-Hilferty
cube-root transform turns each mean square into an approximately standard normal ``z``.

A group (an essay, a judge) is flagged as misfitting when it has at least
``MIN_COMPARISONS_FOR_MISFIT`` comparisons, ``infit > INFIT_LIMIT`` (a practically large
excess: 30 % more unexplained variation than the model allows) **and** its ``infit_z``
exceeds a limit (the excess is unlikely to be chance at that many comparisons). The mean
square alone flags a reliable judge with a dozen comparisons by luck 12-16 % of the time;
the z alone flags trivial excesses once a judge has thousands. The z limits are set from
measurement, not from the nominal normal levels, which the cube-root approximation misses
at a dozen comparisons of uneven information: ``JUDGE_INFIT_Z_LIMIT`` 1.28 flags 1-2.5 %
of exact Bradley-Terry judges at 25 comparisons, ``ESSAY_INFIT_Z_LIMIT`` 2.0 flags 1.3-1.8
% of the essays of exact-judge nets at 10-20 comparisons per essay (harness runs, both
pairing policies; at 1.28 it flagged 6-8 %, at 1.645 3-5 %).

Measured (tests/unit/core/test_misfit.py: 100 essays, 10 comparisons per essay, 20
judges of which 2 answer by coin flip, random pairs, 200 seeds): coin flippers flagged
0.88 / 0.91 / 0.94 of the time at a true-score SD of 2.0 / 2.5 / 3.0 logits, reliable
judges 2.4 / 1.5 / 0.8 %. With 25 comparisons a judge, that is near what any statistic
can do: the likelihood-ratio test of "coin" against "model", the most powerful one,
detected 0.85 at SD 1.5 for 3 % false flags. Under the engine's information pairing
(close pairs, on which a coin flip looks like honest doubt) detection is lower still
(0.55-0.8 for the best statistic at 3 % false flags, true SD 1.5-3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

MIN_COMPARISONS_FOR_MISFIT = 10
"""Fewer comparisons than this never flag: the mean squares are too noisy to act on."""
INFIT_LIMIT = 1.3
JUDGE_INFIT_Z_LIMIT = 1.28
ESSAY_INFIT_Z_LIMIT = 2.0

_MIN_VARIANCE = 1e-12
"""Floor of p(1 - p), so a certain outcome that went the other way is huge, not infinite."""


@dataclass(frozen=True)
class FitStatistics:
    """Mean squares per group (essay or judge); NaN for a group without comparisons."""

    comparisons: IntArray
    infit: FloatArray
    outfit: FloatArray
    infit_z: FloatArray
    outfit_z: FloatArray
    misfit: BoolArray


def essay_fit(
    scores: FloatArray, slot_a: IntArray, slot_b: IntArray, a_won: BoolArray
) -> FitStatistics:
    """Fit of every essay: each comparison counts for both of its essays."""
    comparisons = np.arange(slot_a.size)
    return _group_fit(
        scores,
        slot_a,
        slot_b,
        a_won,
        groups=np.concatenate((slot_a, slot_b)),
        members=np.concatenate((comparisons, comparisons)),
        n_groups=scores.size,
        z_limit=ESSAY_INFIT_Z_LIMIT,
    )


def judge_fit(
    scores: FloatArray,
    slot_a: IntArray,
    slot_b: IntArray,
    a_won: BoolArray,
    judges: IntArray,
    n_judges: int,
) -> FitStatistics:
    """Fit of every judge (``judges[k]`` answered comparison k, as an index < n_judges)."""
    return _group_fit(
        scores,
        slot_a,
        slot_b,
        a_won,
        groups=judges,
        members=np.arange(slot_a.size),
        n_groups=n_judges,
        z_limit=JUDGE_INFIT_Z_LIMIT,
    )


def slot_a_share(a_won: BoolArray, judges: IntArray, n_judges: int) -> FloatArray:
    """Share of each judge's wins given to the essay in slot A (0.5 without position bias)."""
    counts = np.bincount(judges, minlength=n_judges).astype(np.float64)
    wins = np.bincount(judges, weights=a_won.astype(np.float64), minlength=n_judges)
    with np.errstate(invalid="ignore", divide="ignore"):
        share: FloatArray = np.where(counts > 0, wins / counts, np.nan)
    return share


def wilson_hilferty(mean_square: FloatArray, sd: FloatArray) -> FloatArray:
    """Approximately N(0, 1) z of a mean square with expectation 1 and SD ``sd``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z: FloatArray = np.where(
            sd > 0, (np.cbrt(mean_square) - 1.0) * (3.0 / sd) + sd / 3.0, np.nan
        )
    return z


def _group_fit(
    scores: FloatArray,
    slot_a: IntArray,
    slot_b: IntArray,
    a_won: BoolArray,
    *,
    groups: IntArray,
    members: IntArray,
    n_groups: int,
    z_limit: float,
) -> FitStatistics:
    p = expit(scores[slot_a] - scores[slot_b])
    variance = np.maximum(p * (1.0 - p), _MIN_VARIANCE)
    squared = (a_won.astype(np.float64) - p) ** 2

    def total(values: FloatArray) -> FloatArray:
        summed = np.bincount(groups, weights=values[members], minlength=n_groups)
        return summed.astype(np.float64)

    count = np.bincount(groups, minlength=n_groups).astype(np.intp)
    information = total(variance)
    with np.errstate(invalid="ignore", divide="ignore"):
        infit = np.where(count > 0, total(squared) / information, np.nan)
        outfit = np.where(count > 0, total(squared / variance) / count, np.nan)
        infit_sd = np.sqrt(np.maximum(total(variance - 4.0 * variance**2), 0.0)) / information
        outfit_sd = np.sqrt(np.maximum(total(1.0 / variance - 4.0), 0.0)) / count
    infit_z = wilson_hilferty(infit, infit_sd)
    outfit_z = wilson_hilferty(outfit, outfit_sd)
    misfit = (
        (count >= MIN_COMPARISONS_FOR_MISFIT)
        & (np.nan_to_num(infit) > INFIT_LIMIT)
        & (np.nan_to_num(infit_z) > z_limit)
    )
    return FitStatistics(count, infit, outfit, infit_z, outfit_z, misfit)
