"""The numbers a teacher is told, against the truth, under the engine's own pairing (issue 10).

Nets run through ``run_harness`` (the production pairing, hierarchical fit and decisions)
to K = 20 with stability stopping off; the figures at K come from the production fit of
the run's first K * N / 2 comparisons, as ``benchmarks/honesty.py`` computes them. Seeds
7000+ were not used to choose any estimator or constant (those used 1000-1019 and
2000-2007). The measured values are in each test's docstring.
"""

from __future__ import annotations

import numpy as np
import pytest

from cj_worker.core.bt import fit_bradley_terry
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.harness import JUDGE_PROFILES, HarnessConfig, SimulatedJudge, budget_for, run_harness
from cj_worker.harness.config import trajectory_settings
from cj_worker.harness.metrics import interval_coverage

pytestmark = pytest.mark.slow

ESSAYS = 100
SEEDS = range(7000, 7010)
COIN = (SimulatedJudge(name="coin", random=True),)


def figures(
    policy: str, seed: int, ks: tuple[int, ...], coin: bool = False
) -> list[tuple[float, float, float]]:
    """(coverage, reported reliability, true reliability) at each K of one run."""
    settings = trajectory_settings(AlgorithmSettings().override({"pairing_policy": policy}), 20)
    config = HarnessConfig(
        essay_count=ESSAYS,
        budget=budget_for(ESSAYS, max(ks)),
        settings=settings,
        seed=seed,
        judges=COIN if coin else JUDGE_PROFILES["exact"],
    )
    result = run_harness(config)
    truth = 0.0 * result.true_abilities if coin else result.true_abilities
    history = result.history
    out = []
    for k in ks:
        rows = budget_for(ESSAYS, k)
        ok = history.succeeded[:rows]
        a, b, a_won = history.slot_a[:rows][ok], history.slot_b[:rows][ok], history.a_won[:rows][ok]
        fit = fit_bradley_terry(ESSAYS, np.where(a_won, a, b), np.where(a_won, b, a))
        true = 0.0 if coin else float(np.corrcoef(fit.scores, truth)[0, 1] ** 2)
        out.append(
            (interval_coverage(fit.scores, fit.standard_errors, truth), fit.reliability, true)
        )
    return out


@pytest.mark.parametrize("policy", ["information", "hybrid", "random"])
def test_intervals_cover_and_the_reliability_is_honest(policy: str) -> None:
    """N 100, K 10 and 20, exact judges, true SD 1.5, 10 seeds: 95 % coverage in
    0.92-0.97 and mean reported - true reliability within +-0.03 at both K.

    Measured on these seeds (K 10 / K 20): coverage information 0.946 / 0.939, hybrid
    0.926 / 0.942, random 0.949 / 0.935; reported - true information +0.003 / -0.008,
    hybrid +0.010 / -0.006, random -0.020 / -0.011.
    """
    table = np.array([figures(policy, seed, (10, 20)) for seed in SEEDS])  # seed, K, figure
    coverage = table[:, :, 0].mean(axis=0)
    error = (table[:, :, 1] - table[:, :, 2]).mean(axis=0)
    assert np.all((coverage >= 0.92) & (coverage <= 0.97)), coverage
    assert np.all(np.abs(error) <= 0.03), error


@pytest.mark.parametrize("policy", ["information", "random"])
def test_coin_flipping_judges_get_no_reliability(policy: str) -> None:
    """Every judge flips a coin: mean reported reliability <= 0.2 at K 6, 10 and 20 (the
    issue's target; the former fixed-prior SSR reported 0.84-0.89 under information
    pairing). Measured on these seeds (K 6 / 10 / 20): information 0.134 / 0.063 / 0.040,
    random 0.048 / 0.035 / 0.060."""
    table = np.array([figures(policy, seed, (6, 10, 20), coin=True) for seed in SEEDS])
    reported = table[:, :, 1].mean(axis=0)
    assert np.all(reported <= 0.2), reported
