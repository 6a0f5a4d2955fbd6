"""Tests for the Bradley-Terry MAP fit and its centred standard errors.

Every reference value here is computed independently of ``cj_worker.core.bt``: the MAP is
checked against choix's optimiser and against a zero gradient of a log-posterior written
out below, and the SEs against the inverse of a numerically differentiated Hessian. Reusing
the module's own internals as the oracle would let a shared mistake pass unnoticed.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import choix
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.special import expit, log_expit

from cj_worker.core import bt
from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.bt import (
    BTFit,
    BTInputError,
    PairTable,
    PriorMode,
    SEMethod,
    centred_variances,
    fit_bradley_terry,
    map_scores,
    scale_separation_reliability,
)

TRUE_SD = 1.5
"""Spread of true abilities in the pairing study (section 2); the tests use the same."""
FIXED = PriorMode.FIXED
"""The tests of the MAP and SE machinery fix the prior precision, so that an independent
reference (choix, a numerical Hessian) can use the same one; the hierarchical fit that
estimates it is tested at the end of the module."""


# ---------------------------------------------------------------------------------------------
# Independent reference implementation
# ---------------------------------------------------------------------------------------------


def simulate(n: int, m: int, seed: int, sd: float = TRUE_SD) -> tuple[IntArray, IntArray]:
    """``m`` random pairs of distinct items with BT-exact outcomes, abilities N(0, sd^2).

    Pairs are drawn independently, so small nets are sparse (often disconnected, with
    undefeated items) and large ``m / n`` gives many repeated pairs: both matter here.
    """
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, sd, n)
    a = rng.integers(0, n, m)
    b = rng.integers(0, n - 1, m)
    b = b + (b >= a)
    a_wins = rng.random(m) < expit(theta[a] - theta[b])
    return (
        np.where(a_wins, a, b).astype(np.intp),
        np.where(a_wins, b, a).astype(np.intp),
    )


def log_posterior(theta: FloatArray, winners: IntArray, losers: IntArray, prior: float) -> float:
    """sum_k log sigma(theta_w - theta_l) - prior/2 |theta|^2, one term per comparison."""
    return float(np.sum(log_expit(theta[winners] - theta[losers])) - 0.5 * prior * theta @ theta)


def gradient(theta: FloatArray, winners: IntArray, losers: IntArray, prior: float) -> FloatArray:
    """Analytic gradient of :func:`log_posterior`."""
    surprise = expit(theta[losers] - theta[winners])  # P(the recorded winner would lose)
    n = theta.size
    result: FloatArray = (
        np.bincount(winners, surprise, n) - np.bincount(losers, surprise, n) - prior * theta
    )
    return result


def numerical_hessian(
    theta: FloatArray, winners: IntArray, losers: IntArray, prior: float, step: float = 1e-5
) -> FloatArray:
    """Negative Hessian of the log-posterior by central differences of the analytic gradient.

    The error is O(step^2) from truncation plus O(eps / step) from rounding, about 1e-9
    per entry for unit-scale curvature; symmetrised so that the inverse is well defined.
    """
    n = theta.size
    hessian = np.empty((n, n))
    for k in range(n):
        shift = np.zeros(n)
        shift[k] = step
        hessian[:, k] = -(
            gradient(theta + shift, winners, losers, prior)
            - gradient(theta - shift, winners, losers, prior)
        ) / (2.0 * step)
    symmetric: FloatArray = 0.5 * (hessian + hessian.T)
    return symmetric


def centred_covariance(hessian: FloatArray) -> FloatArray:
    """P H^-1 P with P = I - 11^T/n, the covariance of the mean-centred scores."""
    n = hessian.shape[0]
    projector = np.eye(n) - 1.0 / n
    covariance: FloatArray = projector @ np.linalg.inv(hessian) @ projector
    return covariance


def choix_map(n: int, winners: IntArray, losers: IntArray, prior: float) -> FloatArray:
    """choix's MAP, mean-centred. choix penalises alpha |theta|^2, i.e. precision 2 alpha."""
    data = list(zip(winners.tolist(), losers.tolist(), strict=True))
    params = np.asarray(
        choix.opt_pairwise(n, data, alpha=prior / 2.0, method="Newton-CG", tol=1e-12),
        dtype=np.float64,
    )
    centred: FloatArray = params - params.mean()
    return centred


def components_by_union_find(n: int, winners: IntArray, losers: IntArray) -> list[int]:
    """Root of each item's connected component, by plain union-find."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for w, lo in zip(winners.tolist(), losers.tolist(), strict=True):
        parent[root(w)] = root(lo)
    return [root(i) for i in range(n)]


def test_reference_gradient_differentiates_the_reference_objective() -> None:
    """The oracle itself: the analytic gradient matches central differences of the objective."""
    n = 12
    winners, losers = simulate(n, 60, seed=3)
    theta = np.random.default_rng(4).normal(0.0, 2.0, n)
    step = 1e-6
    numerical = np.array(
        [
            (
                log_posterior(theta + step * np.eye(n)[k], winners, losers, 0.3)
                - log_posterior(theta - step * np.eye(n)[k], winners, losers, 0.3)
            )
            / (2 * step)
            for k in range(n)
        ]
    )
    np.testing.assert_allclose(gradient(theta, winners, losers, 0.3), numerical, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# MAP estimate
# ---------------------------------------------------------------------------------------------

CHOIX_CASES = [
    # n, m, prior, seed: from sparse (disconnected, undefeated items) to dense with repeats.
    pytest.param(10, 15, 0.01, 0, id="n10-m15-sparse-disconnected"),
    pytest.param(30, 400, 0.5, 1, id="n30-m400-dense-prior0.5"),
    pytest.param(50, 2000, 0.01, 1, id="n50-m2000-dense-repeats"),
    pytest.param(100, 150, 0.5, 2, id="n100-m150-sparse-prior0.5"),
    pytest.param(200, 1000, 0.01, 2, id="n200-m1000"),
]


@pytest.mark.parametrize(("n", "m", "prior", "seed"), CHOIX_CASES)
def test_map_agrees_with_choix(n: int, m: int, prior: float, seed: int) -> None:
    """The MAP matches an independent optimiser of the same posterior."""
    winners, losers = simulate(n, m, seed)
    fit = fit_bradley_terry(n, winners, losers, prior, prior_mode=FIXED)
    assert fit.diagnostics.converged
    reference = choix_map(n, winners, losers, prior)
    np.testing.assert_allclose(fit.scores, reference, atol=1e-5)
    # And ours is no worse a maximum of the posterior than choix's.
    assert log_posterior(fit.scores, winners, losers, prior) >= log_posterior(
        reference, winners, losers, prior
    ) - 1e-9 * max(1.0, m)


@pytest.mark.parametrize(("n", "m", "prior", "seed"), CHOIX_CASES)
def test_map_has_zero_gradient(n: int, m: int, prior: float, seed: int) -> None:
    """The returned scores are a stationary point of the log-posterior written out above."""
    winners, losers = simulate(n, m, seed)
    fit = fit_bradley_terry(n, winners, losers, prior, prior_mode=FIXED)
    assert np.max(np.abs(gradient(fit.scores, winners, losers, prior))) < 1e-6
    assert abs(float(fit.scores.mean())) < 1e-12


@pytest.mark.parametrize(
    ("n", "m", "prior", "seed"),
    [
        # Measured with the current bt.py: the Newton step left at the returned scores is
        # 1.1e-6, 2.2e-7 and 2.1e-7 although converged=True and the tolerance is 1e-9.
        pytest.param(200, 2000, 0.01, 2, id="n200-m2000"),
        pytest.param(50, 2000, 0.01, 1, id="n50-m2000"),
        pytest.param(300, 6000, 0.5, 2, id="n300-m6000-prior0.5"),
        pytest.param(30, 400, 0.01, 0, id="n30-m400"),
        # Above DENSE_SOLVE_MAX_ITEMS: inexact (loosely solved) Newton steps until the last.
        pytest.param(800, 16000, 0.01, 3, id="n800-m16000-conjugate-gradients"),
    ],
)
def test_converged_means_the_newton_step_is_below_tolerance(
    n: int, m: int, prior: float, seed: int
) -> None:
    """``converged`` must mean what it says: one more Newton step from the MAP moves nothing.

    Newton converges quadratically, so once a step is ~1e-5 the next is ~1e-10; a remaining
    step of 1e-8 (ten times the module's 1e-9 tolerance) means the loop stopped early. It
    does when the line search cannot see a gain below the objective's rounding error and
    halves the step to 1e-10 before accepting it, after which max|scale * step| is tiny
    whatever the step was.
    """
    winners, losers = simulate(n, m, seed)
    fit = fit_bradley_terry(n, winners, losers, prior, prior_mode=FIXED)
    assert fit.diagnostics.converged
    hessian = numerical_hessian(fit.scores, winners, losers, prior)
    newton_step = np.linalg.solve(hessian, gradient(fit.scores, winners, losers, prior))
    assert np.max(np.abs(newton_step)) < 1e-8


def test_warm_start_matches_cold_start_and_is_no_slower() -> None:
    """A continuation refit after one more wave lands on the same MAP in no more steps."""
    n = 300
    winners, losers = simulate(n, 3300, seed=5)
    first_wave = fit_bradley_terry(n, winners[:3000], losers[:3000], prior_mode=FIXED)
    cold = fit_bradley_terry(n, winners, losers, prior_mode=FIXED)
    warm = fit_bradley_terry(n, winners, losers, initial_scores=first_wave.scores, prior_mode=FIXED)
    assert cold.diagnostics.converged
    assert warm.diagnostics.converged
    np.testing.assert_allclose(warm.scores, cold.scores, atol=1e-7)
    np.testing.assert_allclose(warm.standard_errors, cold.standard_errors, rtol=1e-6)
    assert warm.diagnostics.iterations <= cold.diagnostics.iterations
    # Starting at the answer should need at most a confirming step or two.
    again = fit_bradley_terry(n, winners, losers, initial_scores=cold.scores, prior_mode=FIXED)
    np.testing.assert_allclose(again.scores, cold.scores, atol=1e-7)
    assert again.diagnostics.iterations <= 2


def test_wild_warm_start_still_reaches_the_map() -> None:
    """Damping must rescue a start far from the MAP (and with a non-zero mean)."""
    n = 120
    winners, losers = simulate(n, 1200, seed=6)
    cold = fit_bradley_terry(n, winners, losers, prior_mode=FIXED)
    start = 25.0 * np.random.default_rng(7).standard_normal(n) + 40.0
    warm = fit_bradley_terry(n, winners, losers, initial_scores=start, prior_mode=FIXED)
    assert warm.diagnostics.converged
    np.testing.assert_allclose(warm.scores, cold.scores, atol=1e-6)


@pytest.mark.parametrize("shuffled", [False, True], ids=["sorted-pairs", "shuffled-pairs"])
@pytest.mark.parametrize("slots", [False, True], ids=["no-slots", "slots"])
def test_newton_matrix_and_scatters_match_their_dense_definitions(
    shuffled: bool, slots: bool
) -> None:
    """The CSR layout is built without a sort, from the pairs' order by lower item; pairs
    given in any other order, or twice (once per slot order), must give the same matrix."""
    n = 40
    winners, losers = simulate(n, 300, seed=8)
    in_a = np.random.default_rng(9).random(winners.size) < 0.5 if slots else None
    table = PairTable.from_outcomes(n, winners, losers, in_a)
    if shuffled:
        order = np.random.default_rng(10).permutation(table.first.size)
        table = PairTable(
            n,
            table.first[order],
            table.second[order],
            table.count[order],
            table.first_wins[order],
            None if table.orientation is None else table.orientation[order],
        )
    weights = np.random.default_rng(11).random(table.first.size)
    dense = np.zeros((n, n))
    np.add.at(dense, (table.first, table.second), -weights)
    np.add.at(dense, (table.second, table.first), -weights)
    dense[np.diag_indices(n)] = -dense.sum(axis=1) + 0.3
    laplacian = bt._Laplacian(table)
    laplacian.set_weights(weights, 0.3)
    rhs = np.random.default_rng(12).standard_normal(n)
    np.testing.assert_allclose(laplacian.solve(rhs), np.linalg.solve(dense, rhs), rtol=1e-9)
    np.testing.assert_allclose(laplacian.diagonal, np.diag(dense), rtol=1e-12)
    signed = np.zeros(n)
    np.add.at(signed, table.first, weights)
    np.add.at(signed, table.second, -weights)
    np.testing.assert_allclose(laplacian.scatter(weights, antisymmetric=True), signed, atol=1e-12)
    np.testing.assert_allclose(laplacian.scatter(weights), np.diag(dense) - 0.3, rtol=1e-12)
    # The same through conjugate gradients, which the dense path above bypasses at n = 40.
    np.testing.assert_allclose(
        laplacian._conjugate_gradients(rhs, 1e-12), np.linalg.solve(dense, rhs), rtol=1e-8
    )


def test_pair_table_aggregates_unordered_pairs() -> None:
    """Repeated comparisons in either order collapse to one row with counts and first-wins."""
    table = PairTable.from_outcomes(4, np.array([2, 0, 0, 3]), np.array([0, 2, 1, 1]))
    rows = {
        (int(f), int(s)): (float(c), float(w))
        for f, s, c, w in zip(table.first, table.second, table.count, table.first_wins, strict=True)
    }
    assert rows == {(0, 1): (1.0, 1.0), (0, 2): (2.0, 1.0), (1, 3): (1.0, 0.0)}
    np.testing.assert_array_equal(table.degree, [3.0, 2.0, 2.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Standard errors
# ---------------------------------------------------------------------------------------------


def _two_components_isolated_and_a_pair() -> tuple[int, IntArray, IntArray]:
    """Items 0-14 and 15-29 as two separate nets, 30 isolated, 31-32 a two-item component."""
    w1, l1 = simulate(15, 90, seed=11)
    w2, l2 = simulate(15, 60, seed=12)
    winners = np.concatenate((w1, w2 + 15, [31, 32, 31])).astype(np.intp)
    losers = np.concatenate((l1, l2 + 15, [32, 31, 32])).astype(np.intp)
    return 33, winners, losers


def _connected(n: int, m: int, seed: int) -> Callable[[], tuple[int, IntArray, IntArray]]:
    def make() -> tuple[int, IntArray, IntArray]:
        winners, losers = simulate(n, m, seed)
        return n, winners, losers

    return make


SE_CASES = [
    pytest.param(_connected(40, 400, 21), 0.01, id="n40-m400"),
    pytest.param(_connected(25, 60, 22), 0.5, id="n25-m60-prior0.5"),
    pytest.param(_two_components_isolated_and_a_pair, 0.01, id="components+isolated+pair"),
    pytest.param(_two_components_isolated_and_a_pair, 0.5, id="components+isolated+pair-0.5"),
]


@pytest.mark.parametrize(("make", "prior"), SE_CASES)
@pytest.mark.parametrize("method", [SEMethod.AUTO, SEMethod.EXACT])
def test_standard_errors_match_numerical_hessian(
    make: Callable[[], tuple[int, IntArray, IntArray]], prior: float, method: SEMethod
) -> None:
    """SE = sqrt(diag(P H^-1 P)) with H differentiated numerically at the MAP."""
    n, winners, losers = make()
    fit = fit_bradley_terry(n, winners, losers, prior, se_method=method, prior_mode=FIXED)
    hessian = numerical_hessian(fit.scores, winners, losers, prior)
    expected = np.sqrt(np.diag(centred_covariance(hessian)))
    np.testing.assert_allclose(fit.standard_errors, expected, rtol=1e-4)
    assert fit.diagnostics.se_method is SEMethod.EXACT


@pytest.mark.parametrize(("make", "prior"), SE_CASES)
def test_raw_inverse_exceeds_centred_variance_by_one_over_prior_n(
    make: Callable[[], tuple[int, IntArray, IntArray]], prior: float
) -> None:
    """diag(H^-1) - diag(P H^-1 P) = 1/(prior n) for every item (SPEC section 7).

    H maps the constant vector to prior times itself, so the unidentified mean carries
    variance 1/(prior n) in the raw inverse. Using the raw diagonal instead of the centred one
    wrecks SSR on small nets; the check below shows it does here too.
    """
    n, winners, losers = make()
    fit = fit_bradley_terry(n, winners, losers, prior, prior_mode=FIXED)
    raw = np.diag(np.linalg.inv(numerical_hessian(fit.scores, winners, losers, prior)))
    np.testing.assert_allclose(raw - fit.standard_errors**2, 1.0 / (prior * n), rtol=1e-5)
    raw_ssr = scale_separation_reliability(fit.scores, np.sqrt(raw))
    assert raw_ssr <= fit.ssr
    if prior == 0.01 and fit.ssr > 0:
        assert raw_ssr < fit.ssr - 0.1


def test_approximate_standard_errors_are_close_to_exact_on_dense_designs() -> None:
    """The Neumann approximation, forced on n=400 at 20 comparisons per essay, is within 2 %.

    Measured (seeds 0, 1, 2): mean |relative SE error| 0.71 %, 0.53 %, 0.67 %; max 3.6 %,
    1.7 %, 2.9 %. The error is always an *under*-estimate (mean signed error equals minus the
    mean absolute error), and it grows fast as designs thin out: 2.4-2.8 % mean and up to
    18 % max at 10 per essay, 6.3-6.8 % mean and up to 33 % max at 6 per essay (n=2,000).
    """
    n, per_essay = 400, 20
    for seed in range(3):
        winners, losers = simulate(n, n * per_essay // 2, seed)
        exact = fit_bradley_terry(n, winners, losers, se_method=SEMethod.EXACT)
        approximate = fit_bradley_terry(n, winners, losers, se_method=SEMethod.APPROXIMATE)
        assert approximate.diagnostics.se_method is SEMethod.APPROXIMATE
        assert exact.diagnostics.se_method is SEMethod.EXACT
        np.testing.assert_array_equal(approximate.scores, exact.scores)
        assert np.all(np.isfinite(approximate.standard_errors))
        assert np.all(approximate.standard_errors > 0)
        relative = approximate.standard_errors / exact.standard_errors - 1.0
        assert float(np.mean(np.abs(relative))) < 0.02
        assert float(np.max(np.abs(relative))) < 0.10


def test_auto_switches_to_approximation_above_the_exact_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AUTO inverts small components exactly and approximates big ones, and says so."""
    n_big = 60
    winners, losers = simulate(n_big, 1200, seed=31)
    small_w, small_l = simulate(5, 20, seed=32)
    winners = np.concatenate((winners, small_w + n_big)).astype(np.intp)
    losers = np.concatenate((losers, small_l + n_big)).astype(np.intp)
    n = n_big + 5
    exact = fit_bradley_terry(n, winners, losers, se_method=SEMethod.EXACT)
    monkeypatch.setattr(bt, "EXACT_SE_MAX_COMPONENT", 10)
    auto = fit_bradley_terry(n, winners, losers)
    assert auto.diagnostics.se_method is SEMethod.APPROXIMATE
    # The five-item component is still exact; the big one is close (40 per essay).
    np.testing.assert_allclose(auto.standard_errors[n_big:], exact.standard_errors[n_big:])
    np.testing.assert_allclose(auto.standard_errors[:n_big], exact.standard_errors[:n_big], 0.05)
    forced = fit_bradley_terry(n, winners, losers, se_method=SEMethod.EXACT)
    assert forced.diagnostics.se_method is SEMethod.EXACT
    np.testing.assert_allclose(forced.standard_errors, exact.standard_errors)


def test_centred_variances_is_callable_on_its_own() -> None:
    """The public helper gives the same variances as the full fit."""
    n = 50
    winners, losers = simulate(n, 500, seed=41)
    fit = fit_bradley_terry(n, winners, losers, prior_mode=FIXED)
    variances, used = centred_variances(fit.pair_table, fit.pair_weights, 0.01, SEMethod.EXACT)
    assert used is SEMethod.EXACT
    np.testing.assert_allclose(np.sqrt(variances), fit.standard_errors, rtol=1e-12)


def test_ssr_formula_and_clamping() -> None:
    """SSR = (var - mean SE^2) / var, clamped to [0, 1], 0 with fewer than two scores."""
    scores = np.array([-2.0, 0.0, 2.0])
    assert scale_separation_reliability(scores, np.full(3, 1.0)) == pytest.approx(
        (8 / 3 - 1) / (8 / 3)
    )
    assert scale_separation_reliability(scores, np.full(3, 10.0)) == 0.0
    assert scale_separation_reliability(scores, np.zeros(3)) == 1.0
    assert scale_separation_reliability(np.zeros(3), np.ones(3)) == 0.0
    assert scale_separation_reliability(np.array([1.0]), np.ones(1)) == 0.0


# ---------------------------------------------------------------------------------------------
# Degenerate nets: never raise, never NaN, honest diagnostics
# ---------------------------------------------------------------------------------------------


def check_fit_invariants(
    fit: BTFit, n: int, winners: IntArray, losers: IntArray, floor: float
) -> None:
    """Everything a degenerate but valid net must still satisfy.

    ``floor`` is the precision passed in: the one used under FIXED, a floor under
    EMPIRICAL_BAYES, where the scores must be the MAP at the precision the fit reports and
    the SEs at least the centred inverse Hessian there (the Kass-Steffey term only adds).
    """
    prior = fit.prior_precision
    if fit.prior_mode is PriorMode.FIXED:
        assert prior == floor
    else:
        assert prior >= floor * (1 - 1e-12)
        assert prior <= 1.0 / bt.MIN_PRIOR_SD**2 * (1 + 1e-9)
        assert fit.prior_sd == pytest.approx(1.0 / np.sqrt(prior))
    if n < bt.MIN_ESSAYS_FOR_RELIABILITY:
        assert np.isnan(fit.reliability)
    else:
        assert 0.0 <= fit.reliability <= 1.0
    assert fit.scores.shape == (n,)
    assert fit.standard_errors.shape == (n,)
    assert np.all(np.isfinite(fit.scores))
    assert np.all(np.isfinite(fit.standard_errors))
    assert np.all(fit.standard_errors > 0)
    assert abs(float(fit.scores.mean())) <= 1e-9 * max(1.0, float(np.max(np.abs(fit.scores))))
    assert 0.0 <= fit.ssr <= 1.0
    assert fit.diagnostics.converged
    assert np.max(np.abs(gradient(fit.scores, winners, losers, prior))) < 1e-6

    # Diagnostics, recomputed by counting.
    wins = np.bincount(winners, minlength=n)
    losses = np.bincount(losers, minlength=n)
    played = wins + losses
    np.testing.assert_array_equal(fit.diagnostics.isolated, np.flatnonzero(played == 0))
    np.testing.assert_array_equal(
        fit.diagnostics.never_won, np.flatnonzero((played > 0) & (wins == 0))
    )
    np.testing.assert_array_equal(
        fit.diagnostics.never_lost, np.flatnonzero((played > 0) & (losses == 0))
    )
    roots = components_by_union_find(n, winners, losers)
    assert fit.diagnostics.n_components == len(set(roots))
    ids = fit.diagnostics.component_ids.tolist()
    assert len(ids) == n
    # Same partition: root -> id is a bijection between the two labellings.
    assert len(set(zip(roots, ids, strict=True))) == len(set(roots)) == len(set(ids))

    if n >= 2:
        # An isolated item is pinned only by the prior: variance (1 - 1/n)/prior after centring.
        isolated = fit.diagnostics.isolated
        np.testing.assert_allclose(
            fit.standard_errors[isolated], np.sqrt((1.0 - 1.0 / n) / prior), rtol=1e-12
        )
        # And every SE is the centred inverse of the Hessian at the MAP.
        expected = np.sqrt(
            np.diag(centred_covariance(numerical_hessian(fit.scores, winners, losers, prior)))
        )
        if fit.prior_mode is PriorMode.FIXED:
            np.testing.assert_allclose(fit.standard_errors, expected, rtol=1e-4)
        else:
            assert np.all(fit.standard_errors >= expected * (1 - 1e-4))


@st.composite
def nets(draw: st.DrawFn) -> tuple[int, IntArray, IntArray, float]:
    """Small random nets with repeats, undefeated items, isolated items and several parts."""
    n = draw(st.integers(min_value=1, max_value=12))
    pairs: list[tuple[int, int]] = []
    if n >= 2:
        raw = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, n - 1)), max_size=40))
        pairs = [(i, (i + offset) % n) for i, offset in raw]
    prior = draw(st.sampled_from([0.01, 0.1, 1.0]))
    winners = np.array([p[0] for p in pairs], dtype=np.intp)
    losers = np.array([p[1] for p in pairs], dtype=np.intp)
    return n, winners, losers, prior


def _net(
    n: int, pairs: list[tuple[int, int]], prior: float = 0.01
) -> tuple[int, IntArray, IntArray, float]:
    """A hand-written net in the shape the property test draws, for its named examples."""
    winners = np.array([p[0] for p in pairs], dtype=np.intp)
    losers = np.array([p[1] for p in pairs], dtype=np.intp)
    return n, winners, losers, prior


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(net=nets())
@example(net=_net(1, []))  # one essay
@example(net=_net(6, []))  # no comparisons
@example(net=_net(6, [(0, k) for k in range(1, 6)] * 3))  # essay 0 wins everything
@example(net=_net(6, [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)]))  # two components
@example(net=_net(4, [(0, 1)] * 20 + [(2, 3)] * 20, prior=1.0))  # two undefeated pairs
@example(net=_net(5, [(0, 1), (1, 2), (2, 3), (3, 4)] * 5))  # a strict chain
@pytest.mark.parametrize("mode", list(PriorMode))
def test_degenerate_nets_never_break(
    net: tuple[int, IntArray, IntArray, float], mode: PriorMode
) -> None:
    """Any valid net fits without raising, with finite, honest, correctly diagnosed output."""
    n, winners, losers, prior = net
    fit = fit_bradley_terry(n, winners, losers, prior, prior_mode=mode)
    check_fit_invariants(fit, n, winners, losers, prior)


def test_all_wins_by_one_essay() -> None:
    """An undefeated essay gets the top, finite score and a larger SE than the others."""
    n = 6
    _, winners, losers, prior = _net(n, [(0, k) for k in range(1, n)] * 3)
    fit = fit_bradley_terry(n, winners, losers, prior)
    assert int(np.argmax(fit.scores)) == 0
    assert np.all(fit.scores[1:] < fit.scores[0])
    np.testing.assert_array_equal(fit.diagnostics.never_lost, [0])
    np.testing.assert_array_equal(fit.diagnostics.never_won, np.arange(1, n))
    assert fit.diagnostics.n_components == 1


def test_no_comparisons_gives_zero_scores_and_prior_ses() -> None:
    n = 7
    fit = fit_bradley_terry(n, [], [], 0.01)
    np.testing.assert_array_equal(fit.scores, np.zeros(n))
    np.testing.assert_allclose(fit.standard_errors, np.sqrt((1 - 1 / n) / 0.01))
    assert fit.ssr == 0.0
    assert fit.diagnostics.n_components == n
    np.testing.assert_array_equal(fit.diagnostics.isolated, np.arange(n))


def test_single_essay_has_a_positive_finite_se() -> None:
    """Its centred score is 0 by definition; SPEC 7 still forbids SE 0."""
    fit = fit_bradley_terry(1, [], [])
    np.testing.assert_array_equal(fit.scores, [0.0])
    assert np.isfinite(fit.standard_errors[0])
    assert fit.standard_errors[0] > 0
    assert fit.ssr == 0.0


def test_zero_items_is_valid_or_rejected_cleanly() -> None:
    """n_items=0 passes validation (n >= 0), so it must fit to empty output or raise
    BTInputError, not crash with ZeroDivisionError from 1/(n * prior)."""
    try:
        fit = fit_bradley_terry(0, [], [])
    except BTInputError:
        return
    assert fit.scores.shape == (0,)
    assert fit.standard_errors.shape == (0,)
    assert fit.ssr == 0.0


# ---------------------------------------------------------------------------------------------
# Invalid input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "winners", "losers"),
    [
        pytest.param(3, [0, 1], [0, 2], id="self-comparison"),
        pytest.param(3, [3], [0], id="index-too-large"),
        pytest.param(3, [0], [-1], id="negative-index"),
        pytest.param(3, [0, 1], [1], id="length-mismatch"),
        pytest.param(-1, [], [], id="negative-n"),
        pytest.param(3, [0.5], [1.5], id="non-integer-index"),
    ],
)
def test_invalid_outcomes_raise(n: int, winners: list[float], losers: list[float]) -> None:
    with pytest.raises(BTInputError):
        fit_bradley_terry(n, np.asarray(winners), np.asarray(losers))


@pytest.mark.parametrize("prior", [0.0, -0.01, float("nan"), float("inf")])
def test_bad_prior_raises(prior: float) -> None:
    with pytest.raises(BTInputError):
        fit_bradley_terry(3, [0, 1], [1, 2], prior)


@pytest.mark.parametrize(
    "initial",
    [
        pytest.param(np.zeros(4), id="too-long"),
        pytest.param(np.zeros(2), id="too-short"),
        pytest.param(np.zeros((3, 1)), id="column"),
        pytest.param(np.array([0.0, np.nan, 1.0]), id="nan"),
    ],
)
def test_bad_initial_scores_raise(initial: FloatArray) -> None:
    with pytest.raises(BTInputError):
        fit_bradley_terry(3, [0, 1], [1, 2], initial_scores=initial)
    with pytest.raises(BTInputError):
        fit_bradley_terry(3, [], [], initial_scores=initial)


# ---------------------------------------------------------------------------------------------
# Scale: no n x n array
# ---------------------------------------------------------------------------------------------


def test_map_scores_allocates_no_dense_matrix() -> None:
    """n=5000, m=20000: an n x n float array would be 200 MB; the fit peaks at ~3 MB.

    Measured with tracemalloc (which sees numpy's allocations): map_scores peaks at 2.8 MB
    and the full AUTO fit (approximate SEs for the 5000-item component) at 3.7 MB.
    """
    n, m = 5000, 20000
    winners, losers = simulate(n, m, seed=51)
    dense_bytes = n * n * 8
    tracemalloc.start()
    try:
        table = PairTable.from_outcomes(n, winners, losers)
        estimate = map_scores(table, 0.01)
        _, map_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fit = fit_bradley_terry(n, winners, losers)
        _, fit_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert estimate.converged
    assert fit.diagnostics.se_method is SEMethod.APPROXIMATE
    assert map_peak < dense_bytes / 20
    assert fit_peak < dense_bytes / 20


# ---------------------------------------------------------------------------------------------
# The hierarchical (empirical-Bayes) fit
# ---------------------------------------------------------------------------------------------


def reference_tau_objective(n: int, winners: IntArray, losers: IntArray, tau: float) -> float:
    """log p(data | tau) to second order (below ``SECOND_ORDER_BELOW_DEGREE`` comparisons
    per essay), plus the Gamma(2, 0) log-prior log(tau).

    Written out independently of bt.py: the MAP by scipy's L-BFGS on the log-posterior above,
    the Hessian in closed form, the Laplace term by slogdet, and the per-item second-order
    term g4 / (8 h^2) + 5 g3^2 / (24 h^3) (g3, g4: third and fourth derivatives of the
    log-likelihood in theta_i; h = H_ii).
    """
    from scipy.optimize import minimize

    prior = 1.0 / tau**2
    result = minimize(
        lambda t: -log_posterior(t, winners, losers, prior),
        np.zeros(n),
        jac=lambda t: -gradient(t, winners, losers, prior),
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000},
    )
    theta = result.x
    p = expit(theta[winners] - theta[losers])  # P(winner beats loser) per comparison
    second = p * (1 - p)
    hessian = np.eye(n) * prior
    np.add.at(hessian, (winners, winners), second)
    np.add.at(hessian, (losers, losers), second)
    np.add.at(hessian, (winners, losers), -second)
    np.add.at(hessian, (losers, winners), -second)
    third = second * (1 - 2 * p)
    fourth = second * (1 - 6 * second)
    g3 = -np.bincount(winners, third, n) + np.bincount(losers, third, n)
    g4 = -np.bincount(winners, fourth, n) - np.bincount(losers, fourth, n)
    h = np.diag(hessian)
    laplace = (
        float(np.sum(log_expit(theta[winners] - theta[losers])))
        - 0.5 * prior * float(theta @ theta)
        - 0.5 * n * float(np.log(tau**2))
        - 0.5 * float(np.linalg.slogdet(hessian)[1])
    )
    second_order = float(np.sum(g4 / (8 * h**2) + 5 * g3**2 / (24 * h**3)))
    if 2.0 * winners.size / n >= bt.SECOND_ORDER_BELOW_DEGREE:
        second_order = 0.0  # the fit leaves it out for well-measured nets
    return laplace + second_order + float(np.log(tau))


@pytest.mark.parametrize(("n", "m", "seed"), [(40, 200, 61), (25, 150, 62), (60, 900, 63)])
def test_estimated_tau_maximises_the_second_order_marginal_likelihood(
    n: int, m: int, seed: int
) -> None:
    """tau_hat is the maximiser of an independently written objective (within 0.5 %)."""
    winners, losers = simulate(n, m, seed)
    fit = fit_bradley_terry(n, winners, losers)
    assert fit.prior_mode is PriorMode.EMPIRICAL_BAYES
    grid = fit.prior_sd * np.exp(np.linspace(-0.05, 0.05, 11))
    values = [reference_tau_objective(n, winners, losers, float(t)) for t in grid]
    assert int(np.argmax(values)) in (4, 5, 6)  # the centre, within one 1 % step
    assert fit.prior_precision == pytest.approx(1.0 / fit.prior_sd**2)


def test_tau_recovers_the_spread_of_a_well_measured_net() -> None:
    """200 essays, 20 random comparisons each: tau within 10 % of the truth's sample SD."""
    n, per_essay = 200, 20
    rng = np.random.default_rng(71)
    truth = rng.normal(0.0, TRUE_SD, n)
    a = rng.integers(0, n, n * per_essay // 2)
    b = (a + rng.integers(1, n, a.size)) % n
    a_won = rng.random(a.size) < expit(truth[a] - truth[b])
    fit = fit_bradley_terry(n, np.where(a_won, a, b), np.where(a_won, b, a))
    assert fit.prior_sd == pytest.approx(float(np.std(truth, ddof=1)), rel=0.10)
    assert fit.reliability == pytest.approx(
        float(np.corrcoef(fit.scores, truth)[0, 1] ** 2), abs=0.05
    )


def balanced_net(
    n: int, per_essay: int, sd: float, seed: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every essay in ``per_essay`` random comparisons (rounds of a random matching), BT
    outcomes; returns (winners, losers, truth)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, sd, n)
    rounds = [rng.permutation(n) for _ in range(per_essay)]
    a = np.concatenate([r[0::2] for r in rounds])
    b = np.concatenate([r[1::2] for r in rounds])
    a_won = rng.random(a.size) < expit(truth[a] - truth[b])
    return np.where(a_won, a, b), np.where(a_won, b, a), truth


def test_tau_of_a_large_sparse_net_is_corrected_for_the_laplace_bias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """600 essays, 6 comparisons each, true SD 2: the Laplace estimate of tau is several per
    cent low (measured 7 % at 500 essays); the bootstrap-corrected one is not. Mean over
    ten nets of log(tau_hat / sample SD of the truth)."""
    n, per_essay, sd = 600, 6, 2.0
    corrected, uncorrected = [], []
    nets = [balanced_net(n, per_essay, sd, seed) for seed in range(81, 91)]
    for winners, losers, truth in nets:
        fit = fit_bradley_terry(n, winners, losers)
        assert fit.tau_replicates == -(-bt.BOOTSTRAP_ESSAY_DRAWS // n)
        corrected.append(float(np.log(fit.prior_sd / np.std(truth, ddof=1))))
    monkeypatch.setattr(bt, "BOOTSTRAP_MIN_ESSAYS", 10**9)
    for winners, losers, truth in nets:
        fit = fit_bradley_terry(n, winners, losers)
        assert fit.tau_replicates == 0
        uncorrected.append(float(np.log(fit.prior_sd / np.std(truth, ddof=1))))
    assert np.mean(uncorrected) < -0.04
    assert abs(np.mean(corrected)) < 0.03
    assert abs(np.mean(corrected)) < abs(np.mean(uncorrected))


def test_the_bias_correction_is_reproducible_and_applies_only_to_large_sparse_nets() -> None:
    """Its draws are seeded from the data: the same comparisons give the same fit, bit for
    bit. Small nets (within the estimate's own noise) and well-measured ones (no bias to
    speak of) are left alone."""
    winners, losers, _ = balanced_net(400, 6, 1.5, seed=92)
    first = fit_bradley_terry(400, winners, losers)
    again = fit_bradley_terry(400, winners.copy(), losers.copy())
    assert first.tau_replicates > 0
    assert first.prior_sd == again.prior_sd
    np.testing.assert_array_equal(first.scores, again.scores)
    np.testing.assert_array_equal(first.standard_errors, again.standard_errors)
    small = balanced_net(bt.BOOTSTRAP_MIN_ESSAYS - 2, 6, 1.5, seed=93)
    assert fit_bradley_terry(bt.BOOTSTRAP_MIN_ESSAYS - 2, *small[:2]).tau_replicates == 0
    dense = balanced_net(400, int(bt.SECOND_ORDER_BELOW_DEGREE), 1.5, seed=94)
    assert fit_bradley_terry(400, *dense[:2]).tau_replicates == 0
    coins = balanced_net(400, 6, 0.0, seed=95)
    assert fit_bradley_terry(400, *coins[:2]).prior_sd < 0.3


def test_coin_flipping_judges_give_tau_near_zero_and_no_reliability() -> None:
    """Outcomes independent of the essays: tau about 0, scores about 0, reliability about 0."""
    n, per_essay = 100, 20
    rng = np.random.default_rng(72)
    a = rng.integers(0, n, n * per_essay // 2)
    b = (a + rng.integers(1, n, a.size)) % n
    a_won = rng.random(a.size) < 0.5
    fit = fit_bradley_terry(n, np.where(a_won, a, b), np.where(a_won, b, a))
    fixed = fit_bradley_terry(n, np.where(a_won, a, b), np.where(a_won, b, a), prior_mode=FIXED)
    assert fit.prior_sd < 0.3
    assert float(np.max(np.abs(fit.scores))) < 0.3
    assert fit.reliability < 0.1
    # The weak fixed prior spreads the noise out as if it were signal.
    assert float(np.std(fixed.scores)) > 3.0 * float(np.std(fit.scores))


def test_the_floor_caps_tau_when_the_data_ask_for_an_unbounded_spread() -> None:
    """A strict, often repeated order: the estimate runs to the floor precision, no further."""
    n = 6
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)] * 8
    winners = np.array([p[0] for p in pairs], dtype=np.intp)
    losers = np.array([p[1] for p in pairs], dtype=np.intp)
    fit = fit_bradley_terry(n, winners, losers, 0.05)
    assert fit.prior_precision == pytest.approx(0.05)
    assert fit.prior_sd == pytest.approx(1.0 / np.sqrt(0.05))
    assert np.all(np.diff(fit.scores) < 0)


def test_fixed_mode_uses_the_given_precision() -> None:
    n = 40
    winners, losers = simulate(n, 300, seed=73)
    fit = fit_bradley_terry(n, winners, losers, 0.2, prior_mode="fixed")
    assert fit.prior_mode is PriorMode.FIXED
    assert fit.prior_precision == 0.2
    assert fit.prior_sd == pytest.approx(1.0 / np.sqrt(0.2))
    assert fit.prior_evaluations == 0
    assert fit.reliability == pytest.approx(
        bt.posterior_reliability(fit.scores, fit.standard_errors)
    )


def test_empirical_bayes_warm_start_lands_on_the_same_fit() -> None:
    """Continuation refits start the tau search from the previous scores: same answer."""
    n = 150
    winners, losers = simulate(n, 1500, seed=74)
    first = fit_bradley_terry(n, winners[:1200], losers[:1200])
    cold = fit_bradley_terry(n, winners, losers)
    warm = fit_bradley_terry(n, winners, losers, initial_scores=first.scores)
    hinted = fit_bradley_terry(n, winners, losers, initial_prior_sd=first.prior_sd)
    for other in (warm, hinted):
        assert other.prior_sd == pytest.approx(cold.prior_sd, rel=5e-3)
        np.testing.assert_allclose(other.scores, cold.scores, atol=1e-2)


def test_headline_reliability_is_not_reported_for_tiny_nets() -> None:
    n = bt.MIN_ESSAYS_FOR_RELIABILITY - 1
    winners, losers = simulate(n, 20 * n, seed=75)
    assert np.isnan(fit_bradley_terry(n, winners, losers).reliability)


def test_expected_reliability_formula() -> None:
    ses = np.array([0.5, 1.0, 1.5])
    assert bt.expected_reliability(ses, 2.0) == pytest.approx(1 - np.mean(ses**2) / 4)
    assert bt.expected_reliability(ses, 0.5) == 0.0  # clipped
    assert bt.expected_reliability(ses[:1], 2.0) == 0.0
    assert bt.posterior_reliability(np.array([-1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    scores = np.array([-1.0, 0.0, 1.0])
    assert bt.headline_reliability(scores, ses, 2.0) == pytest.approx(
        0.5 * (bt.expected_reliability(ses, 2.0) + bt.posterior_reliability(scores, ses))
    )


def test_signal_z_follows_its_definition() -> None:
    """sum (X_winner - X_loser) / sqrt(sum (X_winner - X_loser)^2), records before each."""
    rng = np.random.default_rng(76)
    n, m = 8, 40
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    winners = np.where(rng.random(m) < 0.5, a, b).astype(np.intp)
    losers = np.where(winners == a, b, a).astype(np.intp)
    record = np.zeros(n)
    differences = []
    for w, loser in zip(winners.tolist(), losers.tolist(), strict=True):
        differences.append(record[w] - record[loser])
        record[w] += 1
        record[loser] -= 1
    d = np.array(differences)
    assert bt.signal_z(n, winners, losers) == pytest.approx(d.sum() / np.sqrt((d**2).sum()))
    assert np.isnan(bt.signal_z(n, winners[:0], losers[:0]))


def test_signal_z_keeps_its_level_when_coin_flips_are_paired_by_record() -> None:
    """Pairing essays with similar records (as adaptive pairing does) leaves the test's
    null intact: 2,000 nets of coin flips, 30 essays, 6 waves: 5.1 % above 1.645."""
    z = []
    for seed in range(400):
        rng = np.random.default_rng(seed)
        n = 30
        record = np.zeros(n)
        winners, losers = [], []
        for _ in range(6):
            order = np.argsort(record + 0.1 * rng.random(n))
            for first, second in zip(order[::2].tolist(), order[1::2].tolist(), strict=True):
                w, loser = (first, second) if rng.random() < 0.5 else (second, first)
                winners.append(w)
                losers.append(loser)
                record[w] += 1
                record[loser] -= 1
        z.append(bt.signal_z(n, np.array(winners), np.array(losers)))
    values = np.array(z)
    assert abs(values.mean()) < 0.15
    assert 0.85 < values.std() < 1.15
    assert 0.02 < np.mean(values > 1.645) < 0.09


def test_reliability_is_zero_when_the_outcomes_show_no_signal() -> None:
    n = 60
    rng = np.random.default_rng(77)
    a = rng.integers(0, n, 600)
    b = (a + rng.integers(1, n, 600)) % n
    a_won = rng.random(600) < 0.5
    fit = fit_bradley_terry(n, np.where(a_won, a, b), np.where(a_won, b, a))
    assert not fit.shows_signal  # this seed's coin flips pass neither test
    assert fit.signal_z < 0.85
    assert fit.signal_lr < 0.71
    assert fit.reliability == 0.0
    winners, losers = simulate(n, 600, seed=78)
    signal = fit_bradley_terry(n, winners, losers)
    assert signal.signal_z > 5
    assert signal.reliability > 0.5


# ---------------------------------------------------------------------------------------------
# The order (slot A) effect
# ---------------------------------------------------------------------------------------------


def slotted(
    n: int, m: int, seed: int, delta: float
) -> tuple[FloatArray, IntArray, IntArray, NDArray[np.bool_]]:
    """Random pairs, slots by coin, P(A beats B) = logistic(theta_A - theta_B + delta)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, TRUE_SD, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    a_won = rng.random(m) < expit(truth[a] - truth[b] + delta)
    return (
        truth,
        np.where(a_won, a, b).astype(np.intp),
        np.where(a_won, b, a).astype(np.intp),
        a_won,
    )


def test_slot_effect_is_the_joint_map_and_its_se_the_joint_posterior_sd() -> None:
    """FIXED prior: (theta, delta) maximise the joint log-posterior (independent optimiser),
    and the SE of delta is sqrt of its entry of the inverse numerical Hessian."""
    from scipy.optimize import minimize

    n, m, prior = 25, 400, 0.3
    _, winners, losers, in_a = slotted(n, m, 91, 0.4)
    sign = np.where(in_a, 1.0, -1.0)

    def objective(x: FloatArray) -> float:
        theta, delta = x[:n], x[n]
        difference = theta[winners] - theta[losers] + sign * delta
        return float(
            -np.sum(log_expit(difference))
            + 0.5 * prior * theta @ theta
            + 0.5 * bt.SLOT_EFFECT_PRIOR_PRECISION * delta**2
        )

    reference = minimize(objective, np.zeros(n + 1), method="L-BFGS-B", options={"gtol": 1e-10})
    fit = fit_bradley_terry(n, winners, losers, prior, prior_mode=FIXED, winner_in_slot_a=in_a)
    assert fit.slot_effect == pytest.approx(reference.x[n], abs=1e-3)
    np.testing.assert_allclose(fit.scores, reference.x[:n] - reference.x[:n].mean(), atol=1e-3)
    # And ours is the better optimum: the gradient vanishes there.
    theta, delta = fit.scores, fit.slot_effect
    residual = 1.0 - expit(theta[winners] - theta[losers] + sign * delta)
    grad_theta = (
        np.bincount(winners, residual, n) - np.bincount(losers, residual, n) - prior * theta
    )
    grad_delta = float(sign @ residual) - bt.SLOT_EFFECT_PRIOR_PRECISION * delta
    assert np.max(np.abs(grad_theta)) < 1e-6
    assert abs(grad_delta) < 1e-6

    step = 1e-4
    x0 = np.concatenate((fit.scores, [fit.slot_effect]))
    hessian = np.zeros((n + 1, n + 1))
    for i in range(n + 1):
        for j in range(n + 1):
            e_i, e_j = np.eye(n + 1)[i] * step, np.eye(n + 1)[j] * step
            hessian[i, j] = (
                objective(x0 + e_i + e_j)
                - objective(x0 + e_i - e_j)
                - objective(x0 - e_i + e_j)
                + objective(x0 - e_i - e_j)
            ) / (4 * step**2)
    assert fit.slot_effect_se == pytest.approx(np.sqrt(np.linalg.inv(hessian)[n, n]), rel=1e-3)


def test_without_slots_there_is_no_slot_effect() -> None:
    _, winners, losers, _ = slotted(30, 300, 92, 0.3)
    fit = fit_bradley_terry(30, winners, losers)
    assert np.isnan(fit.slot_effect)
    assert np.isnan(fit.slot_effect_se)


@pytest.mark.slow
def test_a_planted_slot_effect_is_recovered() -> None:
    """delta = 0.3 logit, 100 essays, 20 comparisons each (the issue's target: within
    +-0.05 over 20 seeds). Measured: mean 0.287 +- 0.008 over these 80 seeds; 20-seed means
    vary by about 0.02 (0.294 on seeds 300-319, 0.246 on 400-419, the only set of three
    outside +-0.05); the fixed-prior fit gives 0.287 / 0.299 there. The 95 % intervals
    covered 19-20 of 20."""
    estimates, covered = [], []
    for seed in range(500, 580):
        _, winners, losers, in_a = slotted(100, 1000, seed, 0.3)
        fit = fit_bradley_terry(100, winners, losers, winner_in_slot_a=in_a)
        estimates.append(fit.slot_effect)
        covered.append(abs(fit.slot_effect - 0.3) <= 1.96 * fit.slot_effect_se)
    assert abs(np.mean(estimates) - 0.3) <= 0.03
    assert np.mean(covered) >= 0.90
