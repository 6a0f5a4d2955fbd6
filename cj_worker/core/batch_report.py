"""What a finished batch reports: ranks, reliability, misfit and grades, from one BT fit.

Pure, so finalization (the worker), tests and the harness can produce the same report from
the same judgements. The caller fits Bradley-Terry (the worker times that fit) and passes
the fit in with the judgements it was fitted on.

Reliability figures:

- **SSR** = (var(scores) - mean SE^2) / var(scores), from the fit (SPEC section 7).
- **Separation** G = true SD / RMSE = sqrt(max(var(scores) - mean SE^2, 0) / mean SE^2),
  the number of SEs the true spread spans (equal to sqrt(SSR / (1 - SSR)) before SSR is
  clamped). Essays separated by about 3 / G of the scale's SD can be told apart.
- **Split-half reliability** (:func:`cj_worker.core.reliability.split_half_reliability`,
  the estimator the harness validates): it does not rest on the Fisher SEs.
- **ssr_inflated** when SSR exceeds split-half by more than ``SSR_INFLATION_MARGIN``:
  adaptive pairing inflates SSR (SPEC section 7), and split-half is within +-0.05 of the
  true reliability under random pairing, so a gap beyond that is the inflation showing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cj_worker.core.bt import BTFit
from cj_worker.core.grade_scales import GradeScale
from cj_worker.core.grading import GradeProjection, project_grades
from cj_worker.core.judgements import Judgements
from cj_worker.core.misfit import FitStatistics, essay_fit, judge_fit, slot_a_share
from cj_worker.core.reliability import DEFAULT_SPLITS, split_half_reliability

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

SSR_INFLATION_MARGIN = 0.05
"""SSR above split-half by more than this is flagged as inflated."""


@dataclass(frozen=True)
class Reliability:
    ssr: float
    separation: float
    split_half: float | None
    """None when undefined (fewer than three essays or two comparisons)."""
    ssr_inflated: bool | None
    """None when split-half is undefined."""
    slot_a_share: float | None
    """Share of all wins that went to slot A; None without comparisons."""


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
    grades: GradeProjection


def report_batch(
    fit: BTFit,
    judgements: Judgements,
    anchor_grades: IntArray,
    scale: GradeScale,
    rng: np.random.Generator,
    *,
    splits: int = DEFAULT_SPLITS,
) -> BatchReport:
    """The batch's report from ``fit`` (fitted on ``judgements``); ``rng`` drives split-half."""
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
        ssr=fit.ssr,
        separation=separation_index(scores, fit.standard_errors),
        split_half=measured,
        ssr_inflated=None if measured is None else fit.ssr - measured > SSR_INFLATION_MARGIN,
        slot_a_share=float(a_won.mean()) if a_won.size else None,
    )
    slots = (scores, judgements.slot_a, judgements.slot_b, judgements.a_won)
    return BatchReport(
        fit=fit,
        ranks=ranks,
        comparisons=np.bincount(np.concatenate((winners, losers)), minlength=n).astype(np.intp),
        wins=np.bincount(winners, minlength=n).astype(np.intp),
        reliability=reliability,
        essays=essay_fit(*slots),
        judges=judge_fit(*slots, judgements.judge, judgements.n_judges),
        judge_slot_a_share=slot_a_share(judgements.a_won, judgements.judge, judgements.n_judges),
        grades=project_grades(scores, fit.standard_errors, anchor_grades, scale),
    )


def separation_index(scores: FloatArray, standard_errors: FloatArray) -> float:
    """True SD over RMSE (0 for fewer than two essays or no true spread)."""
    if scores.size < 2:
        return 0.0
    error_variance = float(np.mean(standard_errors**2))
    true_variance = max(float(np.var(scores)) - error_variance, 0.0)
    return float(np.sqrt(true_variance / error_variance)) if error_variance > 0 else 0.0
