"""The comparative-judgement literature's reliability figures, computed the way it computes them.

Researchers compare a new study's reliability with published ones, which come from one
tool: R's ``sirt::btm`` (Robitzsch), as run by the 2025 meta-analysis of 101 CJ data sets
(Kinnear, Jones & Davies, "Comparative judgement as a research tool: a meta-analysis of
application and reliability", Behavior Research Methods; code and data:
github.com/georgekinnear/cj-meta-analysis, ``02-computation.R`` and
``03-final-analysis.Rmd``). Its figures differ from the engine's by construction, so they
are reported beside the engine's, labelled, never instead of them:

**SSR** (:func:`sirt_btm`, :attr:`SirtFit.ssr`). ``sirt::btm(data, fix.eta = 0,
ignore.ties = TRUE, maxit = 400)`` with its default ``eps = 0.3`` (sirt ``R/btm.R``, file
version 1.541):

- every item's win count w_i of n_i comparisons is shrunk towards n_i / 2 by the
  epsilon adjustment of Bertoli-Barsotti, Lando & Punzo (2014):
  ``s_i = eps + (n_i - 2 eps) w_i / n_i``, so no item is undefeated or winless;
- start at ``theta = qlogis((s_i / n_i + 0.1) / 1.2)``, centred;
- repeat up to ``maxit`` times: with ``p`` the model's probability per comparison,
  ``d1_i = s_i - expected wins``, ``d2_i = 1e-20 + sum p (1 - p)``,
  ``theta += clip(d1 / d2, +-0.98^iteration)``, ``se_i = sqrt(1 / d2_i)`` (taken before
  the step), centre theta; stop once no theta moved more than ``conv = 1e-4``;
- ``sepG = sqrt(var(theta) / mean(se^2))`` (``var`` with n - 1) and the meta-analysis's
  SSR ``= sepG^2 / (1 + sepG^2)`` = var / (var + mean SE^2) (``03-final-analysis.Rmd``
  replaces btm's ``mle.rel`` = 1 - mean SE^2 / var, "which is incorrect", with it).

The SEs are the diagonal of the information (each item's Fisher information alone), not
the inverse of the information matrix, and the scores are the eps-shrunk MLE: both
differ from the engine's posterior (:mod:`cj_worker.core.bt`), so this SSR is not the
engine's SSR. With ``ignore.ties`` sirt drops ties and has no position effect
(``fix.eta = 0``); ties never reach this module.

**Split-half** (:func:`judge_split_half`). Per split the *judges* are shuffled, the first
floor(J / 2) form one half (dplyr's ``slice_sample(prop = 0.5)``) and the rest the other;
each half's decisions are fitted alone by ``sirt::btm`` as above; the Pearson correlation
of the two halves' scores over the items both halves compared is the split's value. The
figure is the **median over 100 splits, without Spearman-Brown** (``02-computation.R``:
``median_split_corr``); Kinnear et al. recommend SSR >= 0.8 and about 10 comparisons per
item. Splitting judges, not comparisons, is the point: it measures whether different
judges would produce the same order, which the engine's comparison split
(:mod:`cj_worker.core.reliability`) cannot see.

Random numbers differ from R's, so a split-half matches the published median only up to
the split-to-split noise; SSR has no randomness and matches sirt to its convergence
tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from cj_worker.core.array_types import BoolArray, FloatArray, IntArray
from cj_worker.core.bt import PairTable

SIRT_EPSILON = 0.3
"""``sirt::btm``'s default ``eps``: the pseudo-count that shrinks every win count."""
SIRT_MAX_ITERATIONS = 400
"""The meta-analysis's ``maxit = 400`` (sirt's own default is 100)."""
SIRT_TOLERANCE = 1e-4
"""``sirt::btm``'s ``conv``: largest change of any score that counts as converged."""
SIRT_STEP_DECAY = 0.98
"""btm caps each iteration's step at 0.98^iteration logits (``incrfac``)."""
JUDGE_SPLITS = 100
"""The meta-analysis's 100 random judge splits."""


@dataclass(frozen=True)
class SirtFit:
    """``sirt::btm``'s scores and diagonal SEs; NaN for items without comparisons."""

    scores: FloatArray
    """theta, centred over the compared items."""
    standard_errors: FloatArray
    """sqrt(1 / diagonal information) of the last iteration."""
    compared: BoolArray
    iterations: int
    converged: bool

    @property
    def separation(self) -> float:
        """sirt's ``sepG``: sqrt(var(theta) / mean(se^2)); NaN below two compared items."""
        theta = self.scores[self.compared]
        if theta.size < 2:
            return float("nan")
        error = float(np.mean(self.standard_errors[self.compared] ** 2))
        return float(np.sqrt(float(np.var(theta, ddof=1)) / error))

    @property
    def ssr(self) -> float:
        """The literature's SSR, sepG^2 / (1 + sepG^2); NaN below two compared items."""
        g = self.separation
        return g * g / (1.0 + g * g) if np.isfinite(g) else float("nan")


@dataclass(frozen=True)
class JudgeSplitHalf:
    """The literature's split-half: median Pearson r of judge-split halves."""

    median: float
    """NaN when no split gave a correlation."""
    correlations: FloatArray
    """One per split; NaN where fewer than three items were compared in both halves or a
    half's scores did not vary."""
    judges: int


def sirt_btm(
    n_items: int,
    winners: IntArray | list[int],
    losers: IntArray | list[int],
    *,
    epsilon: float = SIRT_EPSILON,
    max_iterations: int = SIRT_MAX_ITERATIONS,
    tolerance: float = SIRT_TOLERANCE,
) -> SirtFit:
    """Fit ``winners[k]`` beating ``losers[k]`` as ``sirt::btm(fix.eta = 0, ignore.ties =
    TRUE)`` does (module docstring); items 0..n-1, those never compared get NaN.

    Raises :class:`~cj_worker.core.bt.BTInputError` on invalid outcomes (self-comparisons,
    indices out of range, non-integer ids), as the engine's fit does.
    """
    if not 0.0 < epsilon < 0.5:
        raise ValueError(f"epsilon must lie in (0, 0.5), got {epsilon}")
    table = PairTable.from_outcomes(n_items, np.asarray(winners), np.asarray(losers))
    degree = table.degree
    compared = degree > 0
    theta = np.full(n_items, np.nan)
    errors = np.full(n_items, np.nan)
    if not compared.any():
        return SirtFit(theta, errors, compared, 0, True)
    # The iterations run over the compared items only, renumbered 0..k-1.
    local = np.cumsum(compared) - 1
    first, second, count = local[table.first], local[table.second], table.count
    k = int(compared.sum())
    ends = np.concatenate((first, second))
    comparisons = degree[compared]
    wins = np.bincount(ends, weights=np.concatenate((table.first_wins, count - table.first_wins)))
    adjusted = epsilon + (comparisons - 2.0 * epsilon) * wins / comparisons
    current = logit((adjusted / comparisons + 0.1) / 1.2)
    current -= current.mean()
    step_cap = 1.0
    information: FloatArray = np.ones(k)
    iterations, change = 0, np.inf
    while iterations < max_iterations and change > tolerance:
        step_cap *= SIRT_STEP_DECAY
        p = expit(current[first] - current[second])
        won = count * p
        expected = np.bincount(ends, weights=np.concatenate((won, count - won)), minlength=k)
        weight = won * (1.0 - p)
        information = np.bincount(
            ends, weights=np.concatenate((weight, weight)), minlength=k
        ).astype(np.float64)
        information += 1e-20
        updated = current + np.clip((adjusted - expected) / information, -step_cap, step_cap)
        updated -= updated.mean()
        change = float(np.max(np.abs(updated - current)))
        current = updated
        iterations += 1
    theta[compared] = current
    errors[compared] = np.sqrt(1.0 / information)
    return SirtFit(theta, errors, compared, iterations, change <= tolerance)


def judge_split_half(
    n_items: int,
    winners: IntArray,
    losers: IntArray,
    judges: IntArray,
    rng: np.random.Generator,
    splits: int = JUDGE_SPLITS,
) -> JudgeSplitHalf:
    """The median over ``splits`` random judge splits of the Pearson r between the halves'
    ``sirt_btm`` scores (module docstring); ``judges[k]`` is the judge of decision k.

    Fewer than two distinct judges give NaN: judges cannot be split.
    """
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    winners = np.asarray(winners, dtype=np.intp)
    losers = np.asarray(losers, dtype=np.intp)
    judges = np.asarray(judges, dtype=np.intp)
    if not winners.shape == losers.shape == judges.shape:
        raise ValueError("winners, losers and judges must have the same length")
    distinct = np.unique(judges)
    if distinct.size < 2:
        return JudgeSplitHalf(float("nan"), np.zeros(0), int(distinct.size))
    correlations = np.full(splits, np.nan)
    for split in range(splits):
        group = rng.permutation(distinct)[: distinct.size // 2]
        first_half = np.isin(judges, group)
        halves = [
            sirt_btm(n_items, winners[mask], losers[mask]) for mask in (first_half, ~first_half)
        ]
        both = halves[0].compared & halves[1].compared
        if int(both.sum()) < 3:
            continue
        x, y = halves[0].scores[both], halves[1].scores[both]
        if float(np.std(x)) > 0.0 and float(np.std(y)) > 0.0:
            correlations[split] = float(np.corrcoef(x, y)[0, 1])
    defined = correlations[np.isfinite(correlations)]
    median = float(np.median(defined)) if defined.size else float("nan")
    return JudgeSplitHalf(median, correlations, int(distinct.size))
