"""What a finished batch reports: ranks, reliability, misfit and grades, from one BT fit.

Pure, so finalization (the worker), tests and the harness can produce the same report from
the same judgements. The caller fits Bradley-Terry (the worker times that fit) and passes
the fit in with the judgements it was fitted on.

Reliability figures:

- **reliability**, the headline (:attr:`cj_worker.core.bt.BTFit.reliability`): the
  hierarchical fit's estimate of the squared correlation of the scores with the true
  abilities, 0 when the outcomes cannot be told from coin flips (``shows_signal``) and
  None below ``MIN_ESSAYS_FOR_RELIABILITY`` essays. It replaces ``ssr_inflated``: issue 10
  measured SSR and split-half overstating the truth by up to 0.31 / 0.20 under adaptive
  pairing, and the flag raised in 4 % of truly inflated runs, so no gap between two
  inflated figures can calibrate either. SSR, separation and split-half stay as labelled
  secondary figures.
- **SSR** = (var(scores) - mean SE^2) / var(scores), from the fit (SPEC section 7).
- **Separation** G = true SD / RMSE = sqrt(max(var(scores) - mean SE^2, 0) / mean SE^2),
  the number of SEs the true spread spans (equal to sqrt(SSR / (1 - SSR)) before SSR is
  clamped). Essays separated by about 3 / G of the scale's SD can be told apart.
- **Split-half reliability** (:func:`cj_worker.core.reliability.split_half_reliability`,
  the estimator the harness validates): it does not rest on the Fisher SEs.

Scores come from the fit as given: the caller passes ``winner_in_slot_a`` to
:func:`~cj_worker.core.bt.fit_bradley_terry` so the order effect delta is modelled and
reported (``slot_effect``). Grades use ``posterior=True`` under the hierarchical fit (its
scores and SEs are posterior modes and SDs already), and misfit gets the SEs so its test is
posterior-predictive (:mod:`cj_worker.core.misfit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.bt import BTFit, PriorMode
from cj_worker.core.grade_scales import GradeScale
from cj_worker.core.grading import GradeProjection, project_grades
from cj_worker.core.judge_screen import ScreenedFit
from cj_worker.core.judgements import Judgements
from cj_worker.core.misfit import FitStatistics, essay_fit, judge_fit, slot_a_share
from cj_worker.core.reliability import DEFAULT_SPLITS, split_half_reliability


@dataclass(frozen=True)
class Reliability:
    reliability: float | None
    """The headline: ``BTFit.reliability``; None below ``MIN_ESSAYS_FOR_RELIABILITY``."""
    prior_sd: float | None
    """tau, the estimated SD of true quality in logits (None when not finite)."""
    shows_signal: bool
    """Whether the outcomes reject "every judge flips a coin" (else reliability is 0)."""
    ssr: float
    """Secondary: inflated by adaptive pairing (issue 10: up to +0.31)."""
    separation: float
    split_half: float | None
    """Secondary; None when undefined (fewer than three essays or two comparisons)."""
    slot_a_share: float | None
    """Share of all wins that went to slot A; None without comparisons."""
    slot_effect: float | None = None
    """delta, the logit advantage of the essay shown in slot A; None when not fitted."""
    slot_effect_se: float | None = None

    @property
    def slot_effect_significant(self) -> bool:
        """Whether delta's 95 % interval excludes 0."""
        if self.slot_effect is None or self.slot_effect_se is None:
            return False
        return abs(self.slot_effect) > ORDER_EFFECT_Z * self.slot_effect_se


ORDER_EFFECT_Z = 1.959963984540054
"""Two-sided 5 % normal quantile: an order effect is reported as real beyond it."""


@dataclass(frozen=True)
class BatchReport:
    """Everything finalization stores, indexed by essay position and judge index."""

    fit: BTFit
    ranks: IntArray
    """1 = best; equal scores are ordered by position so ranks are deterministic."""
    comparisons: IntArray
    wins: IntArray
    reliability: Reliability
    essays: FitStatistics
    judges: FitStatistics
    judge_slot_a_share: FloatArray
    judge_reversal_pairs: IntArray
    """Per judge: pairs of essays it judged in both orders (A-B and B-A)."""
    judge_reversal_consistency: FloatArray
    """Per judge: share of those pairs given the same winner both ways (NaN without any)."""
    grades: GradeProjection
    judges_set_aside: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    """Judges whose decisions the fit left out as noise (:mod:`cj_worker.core.judge_screen`)."""


def report_batch(
    fit: BTFit,
    judgements: Judgements,
    anchor_grades: IntArray,
    scale: GradeScale,
    rng: np.random.Generator,
    *,
    splits: int = DEFAULT_SPLITS,
    screened: ScreenedFit | None = None,
) -> BatchReport:
    """The batch's report from ``fit`` (fitted on ``judgements``); ``rng`` drives split-half.

    With ``screened`` (whose fit is ``fit``, made on its judgements) the essays' figures
    come from the decisions kept, and the judges' from all of ``judgements``: a judge
    whose decisions were set aside is still measured, against the clean fit."""
    everyone = judgements
    set_aside = np.zeros(0, dtype=np.intp)
    if screened is not None:
        if screened.fit is not fit:
            raise ValueError("report_batch: fit must be the screened fit")
        judgements, set_aside = screened.judgements, screened.set_aside
    n = judgements.n_essays
    scores = fit.scores
    winners, losers = judgements.outcomes()
    order = np.lexsort((np.arange(n), -scores))
    ranks = np.empty(n, dtype=np.intp)
    ranks[order] = np.arange(1, n + 1)
    split_half = split_half_reliability(n, winners, losers, fit.prior_precision, rng, splits)
    measured = None if np.isnan(split_half) else float(split_half)
    a_won = judgements.a_won
    reliability = Reliability(
        reliability=_finite(fit.reliability),
        prior_sd=_finite(fit.prior_sd),
        shows_signal=fit.shows_signal if a_won.size else False,
        ssr=fit.ssr,
        separation=separation_index(scores, fit.standard_errors),
        split_half=measured,
        slot_a_share=float(a_won.mean()) if a_won.size else None,
        slot_effect=_finite(fit.slot_effect),
        slot_effect_se=_finite(fit.slot_effect_se),
    )
    slots = (scores, judgements.slot_a, judgements.slot_b, judgements.a_won)
    every_slot = (scores, everyone.slot_a, everyone.slot_b, everyone.a_won)
    errors = fit.standard_errors
    pairs, consistency = reversal_consistency(everyone)
    return BatchReport(
        fit=fit,
        ranks=ranks,
        comparisons=np.bincount(np.concatenate((winners, losers)), minlength=n).astype(np.intp),
        wins=np.bincount(winners, minlength=n).astype(np.intp),
        reliability=reliability,
        essays=essay_fit(*slots, errors),
        judges=judge_fit(*every_slot, everyone.judge, everyone.n_judges, errors),
        judge_slot_a_share=slot_a_share(everyone.a_won, everyone.judge, everyone.n_judges),
        judge_reversal_pairs=pairs,
        judge_reversal_consistency=consistency,
        grades=project_grades(
            scores,
            errors,
            anchor_grades,
            scale,
            posterior=fit.prior_mode is PriorMode.EMPIRICAL_BAYES,
        ),
        judges_set_aside=set_aside,
    )


def reversal_consistency(judgements: Judgements) -> tuple[IntArray, FloatArray]:
    """Per judge: the pairs it judged in both orders, and the share it decided alike.

    A pair counts for a judge when the judge saw it as A-B and as B-A; it is consistent
    when every one of those judgements named the same essay. A judge swayed by position
    (always slot A) decides every reversed pair both ways: a share near 0. Linear in the
    comparisons (one sort), so it costs nothing beside the fit.
    """
    n_judges = judgements.n_judges
    pairs = np.zeros(n_judges, dtype=np.intp)
    consistency = np.full(n_judges, np.nan)
    if judgements.slot_a.size == 0:
        return pairs, consistency
    low = np.minimum(judgements.slot_a, judgements.slot_b).astype(np.int64)
    high = np.maximum(judgements.slot_a, judgements.slot_b).astype(np.int64)
    n = np.int64(judgements.n_essays)
    key = (judgements.judge.astype(np.int64) * n + low) * n + high
    forward = judgements.slot_a == low  # the lower index shown first
    winner_low = np.where(judgements.a_won, judgements.slot_a, judgements.slot_b) == low
    keys, group = np.unique(key, return_inverse=True)
    size = keys.size
    seen_forward = np.bincount(group, weights=forward, minlength=size) > 0
    seen_backward = np.bincount(group, weights=~forward, minlength=size) > 0
    low_wins = np.bincount(group, weights=winner_low, minlength=size)
    count = np.bincount(group, minlength=size)
    reversed_pair = seen_forward & seen_backward
    same = (low_wins == 0) | (low_wins == count)
    judge_of = (keys // (n * n)).astype(np.intp)
    pairs = np.bincount(judge_of, weights=reversed_pair, minlength=n_judges).astype(np.intp)
    agreed = np.bincount(judge_of, weights=reversed_pair & same, minlength=n_judges)
    with np.errstate(invalid="ignore", divide="ignore"):
        consistency = np.where(pairs > 0, agreed / pairs, np.nan)
    return pairs, consistency


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def separation_index(scores: FloatArray, standard_errors: FloatArray) -> float:
    """True SD over RMSE (0 for fewer than two essays or no true spread)."""
    if scores.size < 2:
        return 0.0
    error_variance = float(np.mean(standard_errors**2))
    true_variance = max(float(np.var(scores)) - error_variance, 0.0)
    return float(np.sqrt(true_variance / error_variance)) if error_variance > 0 else 0.0
