"""Accuracy of estimated scores against the simulated truth.

Rank metrics (Spearman, Kendall) are the robust ones: the pairing study found that a few
extreme MAP scores under a weak prior dominate Pearson-based figures, so both are reported
beside the true reliability (squared Pearson correlation) and the RMSE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import kendalltau, spearmanr

from cj_worker.core.array_types import FloatArray


@dataclass(frozen=True)
class Accuracy:
    """Agreement of one score vector with the true abilities; NaN when undefined."""

    spearman: float
    kendall: float
    true_reliability: float
    """corr(scores, truth)^2: the share of score variance that is true-ability variance."""
    rmse: float
    """Root mean squared error of the mean-centred scores against the mean-centred truth."""


def accuracy(scores: FloatArray, truth: FloatArray) -> Accuracy:
    """Compare ``scores`` with ``truth``; correlations are NaN if either has no spread."""
    nan = float("nan")
    if scores.size == 0:
        return Accuracy(nan, nan, nan, nan)
    rmse = float(np.sqrt(np.mean(((scores - scores.mean()) - (truth - truth.mean())) ** 2)))
    if scores.size < 2 or float(np.ptp(scores)) == 0.0 or float(np.ptp(truth)) == 0.0:
        return Accuracy(nan, nan, nan, rmse)
    pearson = float(np.corrcoef(scores, truth)[0, 1])
    return Accuracy(
        spearman=float(spearmanr(scores, truth).statistic),
        kendall=float(kendalltau(scores, truth).statistic),
        true_reliability=pearson**2,
        rmse=rmse,
    )


def interval_coverage(
    scores: FloatArray, standard_errors: FloatArray, truth: FloatArray, level: float = 0.95
) -> float:
    """Share of the essays whose central ``level`` interval (score +- z SE) holds the truth.

    Both are mean-centred first: scores are identified only up to a shift. ``truth`` must be
    on the judges' logit scale (for judges of discrimination a, a * abilities). NaN without
    essays.
    """
    if scores.size == 0:
        return float("nan")
    z = float(ndtri(0.5 + level / 2.0))
    error = (scores - scores.mean()) - (truth - truth.mean())
    return float(np.mean(np.abs(error) <= z * standard_errors))
