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
    policy: str,
    seed: int,
    ks: tuple[int, ...],
    coin: bool = False,
    essays: int = ESSAYS,
    true_sd: float = 1.5,
) -> list[tuple[float, float, float]]:
    """(coverage, reported reliability, true reliability) at each K of one run."""
    settings = trajectory_settings(AlgorithmSettings().override({"pairing_policy": policy}), 20)
    config = HarnessConfig(
        essay_count=essays,
        true_sd=true_sd,
        budget=budget_for(essays, max(ks)),
        settings=settings,
        seed=seed,
        judges=COIN if coin else JUDGE_PROFILES["exact"],
    )
    result = run_harness(config)
    truth = 0.0 * result.true_abilities if coin else result.true_abilities
    history = result.history
    out = []
    for k in ks:
        rows = budget_for(essays, k)
        ok = history.succeeded[:rows]
        a, b, a_won = history.slot_a[:rows][ok], history.slot_b[:rows][ok], history.a_won[:rows][ok]
        fit = fit_bradley_terry(essays, np.where(a_won, a, b), np.where(a_won, b, a))
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


def test_large_sparse_nets_with_a_wide_spread_are_covered() -> None:
    """N 500, K 6 and 10, true SD 2, random pairing, seeds 11000-11009: coverage in
    0.92-0.97 and reported - true reliability within +-0.03. These are the cells where the
    Laplace estimate of tau ran 7 % low and covered 0.911 / 0.917 (benchmark, 20 seeds)
    before its bootstrap bias correction. Measured on these seeds (K 6 / 10): coverage
    0.926 / 0.925, reported - true -0.013 / -0.005."""
    table = np.array(
        [figures("random", seed, (6, 10), essays=500, true_sd=2.0) for seed in range(11000, 11010)]
    )
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


@pytest.mark.parametrize("essays", [20, 30])
@pytest.mark.parametrize("policy", ["hybrid", "random"])
def test_no_score_lies_beyond_four_prior_sds_in_a_class(policy: str, essays: int) -> None:
    """Classes of 20 and 30, K 6 and 10, exact judges, true SD 1.5, 10 seeds: every score
    within 4 tau hat of the mean (issue 10; with the fixed prior, essays that never won or
    never lost were shown at up to +-13 logits). Measured on these seeds, the farthest
    score: 1.65 (random, N 20), 1.71 (random, 30), 1.72 (hybrid, 20), 1.85 (hybrid, 30) tau
    hat; ``benchmarks/honesty.py`` (seeds 9100-9119, three judge models, K to 20) at most
    2.3."""
    settings = trajectory_settings(AlgorithmSettings().override({"pairing_policy": policy}), 10)
    worst = 0.0
    for seed in SEEDS:
        result = run_harness(
            HarnessConfig(
                essay_count=essays,
                budget=budget_for(essays, 10),
                settings=settings,
                seed=seed,
                judges=JUDGE_PROFILES["exact"],
            )
        )
        history = result.history
        for k in (6, 10):
            ok = history.succeeded[: budget_for(essays, k)]
            a, b = history.slot_a[: ok.size][ok], history.slot_b[: ok.size][ok]
            a_won = history.a_won[: ok.size][ok]
            fit = fit_bradley_terry(essays, np.where(a_won, a, b), np.where(a_won, b, a))
            assert fit.prior_sd > 0
            distance = np.abs(fit.scores - fit.scores.mean()) / fit.prior_sd
            worst = max(worst, float(distance.max()))
    assert worst <= 4.0, worst
