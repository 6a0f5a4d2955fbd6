"""Statistical properties over many seeds: the harness measures what a CJ engine should show."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest, ttest_rel

from cj_worker.core.settings import AlgorithmSettings, PairingPolicy
from cj_worker.harness.analysis import curves
from cj_worker.harness.config import HarnessConfig, budget_for, trajectory_settings
from cj_worker.harness.runner import run_harness
from cj_worker.harness.sweep import run_sweep


def test_accuracy_improves_with_budget_over_seeds() -> None:
    """Paired over 12 seeds: Spearman at K=8 beats K=2 on the same truth (p < 0.01)."""
    rows = run_sweep([30], [2, 8], range(12), [PairingPolicy.INFORMATION])
    group = curves(rows, "spearman")[(30, "exact")]
    values = group.values["information"]
    at_2, at_8 = values[:, 0], values[:, 1]

    assert len(group.seeds) == 12
    assert ttest_rel(at_8, at_2, alternative="greater").pvalue < 0.01
    assert binomtest(int(np.sum(at_8 > at_2)), at_2.size, alternative="greater").pvalue < 0.01


def test_split_half_tracks_true_reliability_under_random_pairing() -> None:
    """n=100, K=20, random pairing: split-half within 0.05 of corr(scores, truth)^2."""
    settings = trajectory_settings(AlgorithmSettings(pairing_policy=PairingPolicy.RANDOM), 20)
    gaps = []
    for seed in range(4):
        result = run_harness(
            HarnessConfig(essay_count=100, settings=settings, budget=budget_for(100, 20), seed=seed)
        )
        assert result.comparisons_per_essay == 20
        gaps.append(result.split_half_reliability - result.true_reliability)
    assert abs(float(np.mean(gaps))) < 0.05
