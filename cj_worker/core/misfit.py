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

A group (an essay, a judge) is **flagged** by a test with a stated level: the
posterior-predictive log score. For each comparison the predictive probability that slot A
wins is ``p = logistic(d / sqrt(1 + pi v / 8))`` with ``d`` the score difference and ``v``
its posterior variance (the two SEs squared), so a close pair of barely measured essays is
predicted as a near coin flip rather than as the point estimate would. The group's log
score ``S = sum log P(observed outcome)`` has, if the group answers like the model, mean
``sum [p log p + (1 - p) log(1 - p)]`` and variance ``sum p (1 - p) logit(p)^2``
(independent Bernoulli outcomes). ``fit_z = (S - mean) / sd`` is low when the outcomes
are less predictable than the model says: the likelihood-ratio statistic of "this judge
answers by coin" against "this judge follows the model" is ``S - n log 0.5``, so for
given probabilities this test is the most powerful one against coin flipping (Neyman-
Pearson), and an essay whose outcomes are reversed at random looks the same. A group with
at least ``MIN_COMPARISONS_FOR_MISFIT`` comparisons is flagged when ``p_value =
Phi(fit_z)`` is below ``JUDGE_MISFIT_LEVEL`` / ``ESSAY_MISFIT_LEVEL``: the share of
well-behaved judges (essays) flagged is at most that level, up to the normal
approximation (measured below), and the fitted scores absorb a little of each group's own
answers, which only makes the test conservative.

Why not infit: under adaptive pairing most pairs are close, where a coin flip and an
honest judge both give about p(1 - p) = 1/4 of squared residual, so the mean squares barely
move (issue 10 measured 0.30-0.48 of coin flippers flagged at 25 comparisons a judge
under the information policy). The log score compares the coin flipper's 50/50 answers
with the model's *actual* predictions, which under the hierarchical fit are not all
near 1/2. Infit and outfit are still reported as descriptive figures.

Measured (``tests/unit/core/test_misfit.py``, slow; 100 essays, 20 comparisons each,
true SD 1.5, 20 seeds, production pairing and fit): 2 coin-flipping judges of 20 (50
comparisons each) flagged 1.00 / 0.975 / 0.875 of the time under random / hybrid /
information pairing, reliable judges 1.4 / 1.9 / 3.1 %; 5 erratic essays of 100 (each
outcome decided by a coin) flagged 0.76 / 0.58 / 0.34, the others 2.7 / 4.6 / 4.9 %.
An erratic essay's own score is fitted to its coin flips, and adaptive pairing then
compares it with essays near that score, where a coin and the model predict alike: that
is the limit of any statistic on the outcomes alone (the issue's 0.80 needs check pairs
against distant essays, a pairing decision).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, ndtr

from cj_worker.core.array_types import BoolArray, FloatArray, IntArray

MIN_COMPARISONS_FOR_MISFIT = 10
"""Fewer comparisons than this never flag: the normal approximation of the test is poor."""
INFIT_LIMIT = 1.3
"""Kept for readers of infit: 30 % more unexplained variation than the model allows is a
practically large excess (descriptive; flags come from the log-score test)."""
JUDGE_INFIT_Z_LIMIT = 1.28
ESSAY_INFIT_Z_LIMIT = 2.0
"""The former flag's infit z limits, kept only so that older wording code still imports:
flags no longer use them (they come from the log-score test below)."""
JUDGE_MISFIT_LEVEL = 0.05
"""Test level of a judge's flag: the share of well-behaved judges flagged."""
ESSAY_MISFIT_LEVEL = 0.05
"""Test level of an essay's flag: the share of well-behaved essays flagged."""

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
    """p_value below the level, with at least ``MIN_COMPARISONS_FOR_MISFIT`` comparisons."""
    fit_z: FloatArray
    """Standardised posterior-predictive log score (low: less predictable than the model)."""
    p_value: FloatArray
    """Phi(fit_z): the chance of a log score this low from a group that follows the model."""


def essay_fit(
    scores: FloatArray,
    slot_a: IntArray,
    slot_b: IntArray,
    a_won: BoolArray,
    standard_errors: FloatArray | None = None,
) -> FitStatistics:
    """Fit of every essay: each comparison counts for both of its essays.

    ``standard_errors`` (the fit's) make the predictions posterior-predictive; without them
    the point estimates are taken as known.
    """
    comparisons = np.arange(slot_a.size)
    return _group_fit(
        scores,
        slot_a,
        slot_b,
        a_won,
        groups=np.concatenate((slot_a, slot_b)),
        members=np.concatenate((comparisons, comparisons)),
        n_groups=scores.size,
        level=ESSAY_MISFIT_LEVEL,
        standard_errors=standard_errors,
        own_parameter=True,
    )


def judge_fit(
    scores: FloatArray,
    slot_a: IntArray,
    slot_b: IntArray,
    a_won: BoolArray,
    judges: IntArray,
    n_judges: int,
    standard_errors: FloatArray | None = None,
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
        level=JUDGE_MISFIT_LEVEL,
        standard_errors=standard_errors,
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


def predictive_probability(
    scores: FloatArray,
    slot_a: IntArray,
    slot_b: IntArray,
    standard_errors: FloatArray | None = None,
) -> FloatArray:
    """P(slot A wins): logistic of the score difference, averaged over its posterior.

    The probit approximation E[logistic(x)] ~ logistic(mu / sqrt(1 + pi s^2 / 8)) for
    x ~ N(mu, s^2); the two essays' posteriors are taken as independent.
    """
    difference = scores[slot_a] - scores[slot_b]
    if standard_errors is None:
        return np.asarray(expit(difference), dtype=np.float64)
    variance = standard_errors[slot_a] ** 2 + standard_errors[slot_b] ** 2
    return np.asarray(expit(difference / np.sqrt(1.0 + np.pi * variance / 8.0)), dtype=np.float64)


SLOPE_PRIOR_SD = 0.5
"""Prior SD of the calibration slope around 1: with a few dozen comparisons the slope is
the data's; with a handful (where every outcome may agree with the scores, and the
maximum-likelihood slope is infinite) it stays near 1."""
LEAVE_OUT_MAX_GROUPS = 200
"""Up to this many judges each judge is tested against a slope fitted without it."""


def calibration_slope(logit: FloatArray, a_won: BoolArray) -> float:
    """Penalised maximum-likelihood c of P(A wins) = logistic(c * logit), c >= 0."""
    outcome = a_won.astype(np.float64)
    precision = 1.0 / SLOPE_PRIOR_SD**2
    slope = 1.0
    for _ in range(100):
        p = expit(slope * logit)
        gradient = float(np.sum((outcome - p) * logit)) - precision * (slope - 1.0)
        curvature = float(np.sum(p * (1.0 - p) * logit**2)) + precision
        step = gradient / curvature
        slope = max(slope + step, 0.0)
        if abs(step) < 1e-10:
            break
    return slope


def calibrated(
    predicted: FloatArray,
    a_won: BoolArray,
    groups: IntArray | None = None,
    n_groups: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """``logistic(c * logit(predicted))`` with c fitted on the outcomes.

    The hierarchical fit's scores are shrunk posterior modes whose predictions are less
    confident than the outcomes bear out (measured: well-behaved judges scored z of +1 to
    +3, and no judge was flagged at a 2 % level); a slope fitted on the outcomes puts the
    predictions on the outcomes' own scale, so that the test's null (a group that answers
    like the rest) holds. With ``groups`` (judges, at most ``LEAVE_OUT_MAX_GROUPS``) each
    group's comparisons get the slope fitted on everyone else's, so a bad judge cannot
    flatten the yardstick it is measured by (two judges, one always contradicting the
    other, would otherwise both look like coin flippers). Essays are many and each holds
    a small share of the data: one slope for all. Returns the probabilities and the slope
    used for each comparison.
    """
    logit = np.log(np.clip(predicted, _MIN_VARIANCE, 1.0)) - np.log(
        np.clip(1.0 - predicted, _MIN_VARIANCE, 1.0)
    )
    if logit.size == 0:
        return predicted, np.ones(0)
    if groups is None or n_groups > LEAVE_OUT_MAX_GROUPS:
        slopes = np.full(logit.size, calibration_slope(logit, a_won))
    else:
        per_group = np.ones(n_groups)
        for group in np.unique(groups):
            others = groups != group
            per_group[group] = calibration_slope(logit[others], a_won[others])
        slopes = per_group[groups]
    return np.asarray(expit(slopes * logit), dtype=np.float64), slopes


def _group_fit(
    scores: FloatArray,
    slot_a: IntArray,
    slot_b: IntArray,
    a_won: BoolArray,
    *,
    groups: IntArray,
    members: IntArray,
    n_groups: int,
    level: float,
    standard_errors: FloatArray | None,
    own_parameter: bool = False,
) -> FitStatistics:
    """Mean squares and the log-score test per group.

    ``own_parameter`` marks groups that have their own score in the fit (essays): they share
    one calibration slope, judges get a slope fitted without them. (Projecting each essay's
    own score direction out of its test, the efficient score test, measured no more power
    against erratic essays and 1-1.5 points more false flags: not used.)
    """
    predicted = predictive_probability(scores, slot_a, slot_b, standard_errors)
    leave_out = None if own_parameter else groups
    calibrated_p, _ = calibrated(predicted, a_won, leave_out, n_groups)
    p = np.clip(calibrated_p, _MIN_VARIANCE, 1.0 - _MIN_VARIANCE)
    outcome = a_won.astype(np.float64)
    residual = outcome - p
    logit = np.log(p) - np.log1p(-p)
    # Infit and outfit keep their Rasch definitions on the model's own predictions.
    variance = np.maximum(predicted * (1.0 - predicted), _MIN_VARIANCE)
    squared = (outcome - predicted) ** 2

    def total(values: FloatArray) -> FloatArray:
        summed = np.bincount(groups, weights=values[members], minlength=n_groups)
        return summed.astype(np.float64)

    count = np.bincount(groups, minlength=n_groups).astype(np.intp)
    information = total(variance)
    # The log score's deviation from its expectation, sum (y - p) logit(p), is the score
    # of a slope on the group's logits at 1; its null variance is sum p (1 - p) logit^2.
    score = total(residual * logit)
    score_information = total(p * (1.0 - p) * logit**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        infit = np.where(count > 0, total(squared) / information, np.nan)
        outfit = np.where(count > 0, total(squared / variance) / count, np.nan)
        infit_sd = np.sqrt(np.maximum(total(variance - 4.0 * variance**2), 0.0)) / information
        outfit_sd = np.sqrt(np.maximum(total(1.0 / variance - 4.0), 0.0)) / count
        sd = np.sqrt(score_information)
        fit_z = np.where((count > 0) & (sd > 0), score / sd, np.nan)
    infit_z = wilson_hilferty(infit, infit_sd)
    outfit_z = wilson_hilferty(outfit, outfit_sd)
    p_value = np.asarray(ndtr(fit_z), dtype=np.float64)
    misfit = (count >= MIN_COMPARISONS_FOR_MISFIT) & (np.nan_to_num(p_value, nan=1.0) < level)
    return FitStatistics(count, infit, outfit, infit_z, outfit_z, misfit, fit_z, p_value)
