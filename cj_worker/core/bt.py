"""Bradley-Terry scoring: MAP estimate under a ridge prior, with centred-covariance SEs.

Model: P(i beats j) = logistic(theta_i - theta_j), prior theta_i ~ N(0, 1/prior_precision)
independently per item. The MAP estimate is found by Newton's method; each Newton system
(Laplacian + prior) is solved by Jacobi-preconditioned conjugate gradients on a sparse
matrix built once per fit, so memory is O(n + m) and no n x n array exists in the fit.

Because the likelihood only sees differences and the prior is symmetric, the MAP is
mean-zero on its own; SEs are reported in the same mean-centred parameterisation, from
diag(P H^-1 P) with H the regularised Fisher information at the MAP and P the centring
projector. Using raw diag(H^-1) instead would add 1/(prior_precision * n) to every
variance, which for small nets dominates and wrecks SSR (pairing study, section 1).

Exact variances come from a dense Cholesky inverse of each connected component of up to
``EXACT_SE_MAX_COMPONENT`` items; larger components use a deflated second-order Neumann
expansion (``_approximate_variances``) whose measured error is documented in the
README. Items in different components are tied together only by the prior, so their
variances honestly include the 1/(n_c * prior_precision) spread of their component's mean.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.linalg import lapack
from scipy.sparse.csgraph import connected_components
from scipy.special import expit
from threadpoolctl import ThreadpoolController

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

EXACT_SE_MAX_COMPONENT = 2000
"""Largest connected component whose variances are computed exactly (dense Cholesky)."""

_SINGLE_THREAD_BELOW = 600
"""Dense factorisations smaller than this run on one BLAS thread: for them thread start-up
costs several times the arithmetic (measured 5x slower on two cores at n=100)."""
_BLAS = ThreadpoolController()

_NEWTON_TOLERANCE = 1e-9
_NEWTON_MAX_ITERATIONS = 200
_CG_RELATIVE_TOLERANCE = 1e-11


class BTInputError(ValueError):
    """The comparison arrays do not describe a valid set of outcomes."""


class SEMethod(enum.StrEnum):
    """How the variances were (or should be) computed."""

    AUTO = "auto"
    EXACT = "exact"
    APPROXIMATE = "approximate"


@dataclass(frozen=True)
class PairTable:
    """Comparisons aggregated by unordered pair: the sufficient statistics of the fit."""

    n_items: int
    first: IntArray
    """Lower item index of each pair."""
    second: IntArray
    """Higher item index of each pair."""
    count: FloatArray
    """Comparisons of the pair."""
    first_wins: FloatArray
    """How many of them ``first`` won."""

    @classmethod
    def from_outcomes(cls, n_items: int, winners: IntArray, losers: IntArray) -> PairTable:
        winners, losers = _indices("winners", winners), _indices("losers", losers)
        _validate_outcomes(n_items, winners, losers)
        low = np.minimum(winners, losers)
        high = np.maximum(winners, losers)
        keys, inverse = np.unique(low * np.intp(n_items) + high, return_inverse=True)
        count = np.bincount(inverse, minlength=keys.size).astype(np.float64)
        first_wins = np.bincount(
            inverse, weights=(winners == low).astype(np.float64), minlength=keys.size
        ).astype(np.float64)
        first, second = np.divmod(keys, np.intp(n_items))
        return cls(n_items, first.astype(np.intp), second.astype(np.intp), count, first_wins)

    @property
    def degree(self) -> FloatArray:
        """Comparisons per item."""
        return _scatter(self.n_items, self.first, self.second, self.count)


@dataclass(frozen=True)
class MapEstimate:
    """The MAP scores and the Fisher weights at them."""

    scores: FloatArray
    pair_weights: FloatArray
    """count * p * (1 - p) per pair of the table, at the MAP."""
    iterations: int
    converged: bool


@dataclass(frozen=True)
class BTDiagnostics:
    """What a caller needs to judge whether the fit can be trusted."""

    iterations: int
    converged: bool
    n_components: int
    component_ids: IntArray
    """Connected component of each item (isolated items get their own)."""
    never_won: IntArray
    """Items with comparisons but no win."""
    never_lost: IntArray
    """Items with comparisons but no loss."""
    isolated: IntArray
    """Items with no comparison at all."""
    se_method: SEMethod
    """EXACT when every component was inverted exactly, else APPROXIMATE."""


@dataclass(frozen=True)
class BTFit:
    """Result of :func:`fit_bradley_terry`."""

    scores: FloatArray
    """Mean-centred logits."""
    standard_errors: FloatArray
    """From the centred covariance; never 0, never capped."""
    ssr: float
    """Scale separation reliability, clamped to [0, 1]."""
    diagnostics: BTDiagnostics
    prior_precision: float
    pair_table: PairTable = field(repr=False)
    pair_weights: FloatArray = field(repr=False)


def fit_bradley_terry(
    n_items: int,
    winners: IntArray | list[int],
    losers: IntArray | list[int],
    prior_precision: float = 0.01,
    *,
    initial_scores: FloatArray | None = None,
    se_method: SEMethod = SEMethod.AUTO,
) -> BTFit:
    """Fit MAP Bradley-Terry to ``winners[k]`` beating ``losers[k]`` over items 0..n-1.

    ``initial_scores`` warm-starts Newton (continuation refits every wave). Never raises on
    degenerate but valid nets (no comparisons, one item, undefeated items, several
    components); raises :class:`BTInputError` on invalid input.
    """
    table = PairTable.from_outcomes(n_items, np.asarray(winners), np.asarray(losers))
    estimate = map_scores(table, prior_precision, initial_scores=initial_scores)
    n_components, component_ids = _components(table)
    variances, used = centred_variances(
        table, estimate.pair_weights, prior_precision, se_method, component_ids
    )
    standard_errors = np.sqrt(variances)
    degree = table.degree
    wins = _item_wins(table)
    compared = degree > 0
    return BTFit(
        scores=estimate.scores,
        standard_errors=standard_errors,
        ssr=scale_separation_reliability(estimate.scores, standard_errors),
        diagnostics=BTDiagnostics(
            iterations=estimate.iterations,
            converged=estimate.converged,
            n_components=n_components,
            component_ids=component_ids,
            never_won=np.flatnonzero(compared & (wins == 0)),
            never_lost=np.flatnonzero(compared & (wins == degree)),
            isolated=np.flatnonzero(~compared),
            se_method=used,
        ),
        prior_precision=prior_precision,
        pair_table=table,
        pair_weights=estimate.pair_weights,
    )


def scale_separation_reliability(scores: FloatArray, standard_errors: FloatArray) -> float:
    """SSR = (var(scores) - mean(SE^2)) / var(scores), clamped to [0, 1]; 0 without spread."""
    if scores.size < 2:
        return 0.0
    observed = float(np.var(scores))
    if observed <= 0.0:
        return 0.0
    return float(np.clip((observed - float(np.mean(standard_errors**2))) / observed, 0.0, 1.0))


def map_scores(
    table: PairTable,
    prior_precision: float,
    *,
    initial_scores: FloatArray | None = None,
) -> MapEstimate:
    """MAP scores by damped Newton with a conjugate-gradient inner solve."""
    if not np.isfinite(prior_precision) or prior_precision <= 0:
        raise BTInputError(f"prior_precision must be a positive number, got {prior_precision!r}")
    n = table.n_items
    theta = _initial_theta(n, initial_scores)
    if table.first.size == 0:
        return MapEstimate(np.zeros(n), np.zeros(0), 0, True)
    laplacian = _Laplacian(table)
    with _BLAS.limit(limits=1, user_api="blas"):
        return _newton(table, theta, prior_precision, laplacian)


def _newton(
    table: PairTable, theta: FloatArray, prior: float, laplacian: _Laplacian
) -> MapEstimate:
    """Damped Newton; one BLAS thread, since its vector products are too small to share.

    Converged means the full Newton step is below tolerance. Near the optimum the predicted
    gain drops below the objective's rounding error, where a line search cannot tell better
    from worse: the full step is taken there rather than halved into meaninglessness.
    """
    n = table.n_items
    objective = _log_posterior(table, theta, prior)
    weights = np.zeros(table.first.size)
    for iteration in range(1, _NEWTON_MAX_ITERATIONS + 1):
        p = expit(theta[table.first] - theta[table.second])
        pair_gradient = table.first_wins - table.count * p
        gradient = (
            _scatter(n, table.first, table.second, pair_gradient, antisymmetric=True)
            - prior * theta
        )
        weights = table.count * p * (1.0 - p)
        laplacian.set_weights(weights, prior)
        step = laplacian.solve(gradient)
        step_size = float(np.max(np.abs(step)))
        slope = float(gradient @ step)
        negligible = 0.5 * slope <= 1e-13 * max(1.0, abs(objective))
        scale = 1.0
        while True:
            candidate = theta + scale * step
            candidate_objective = _log_posterior(table, candidate, prior)
            if negligible or candidate_objective >= objective + 1e-4 * scale * slope:
                break
            if scale < 1e-10:
                # No ascent along the Newton direction: numerically at the optimum or stuck.
                return _estimate(table, theta, iteration, step_size < _NEWTON_TOLERANCE)
            scale *= 0.5
        theta, objective = candidate, candidate_objective
        if step_size < _NEWTON_TOLERANCE:
            return _estimate(table, theta, iteration, True)
    return _estimate(table, theta, _NEWTON_MAX_ITERATIONS, False)


def _estimate(table: PairTable, theta: FloatArray, iterations: int, converged: bool) -> MapEstimate:
    p = expit(theta[table.first] - theta[table.second])
    return MapEstimate(theta - theta.mean(), table.count * p * (1.0 - p), iterations, converged)


def centred_variances(
    table: PairTable,
    pair_weights: FloatArray,
    prior_precision: float,
    method: SEMethod = SEMethod.AUTO,
    component_ids: IntArray | None = None,
) -> tuple[FloatArray, SEMethod]:
    """diag(P H^-1 P) for H = weighted Laplacian + prior_precision * I.

    Per component c of size n_c, diag(H_c^-1) = V_c + 1/(n_c * prior) where V_c is the
    component-centred variance, and globally diag(P H^-1 P) = diag(H^-1) - 1/(n * prior)
    (H maps the constant vector to prior * itself). So each item's variance is its
    within-component variance plus the prior spread of its component's mean.

    Singletons and two-item components have closed forms; the approximation is local, so it
    runs on all approximated components at once; only exact components of three or more
    items are inverted one by one.
    """
    n = table.n_items
    if n == 0:
        return np.zeros(0), SEMethod.EXACT
    if component_ids is None:
        _, component_ids = _components(table)
    sizes = np.bincount(component_ids, minlength=1)
    item_sizes = sizes[component_ids]
    variances = 1.0 / (item_sizes * prior_precision) - 1.0 / (n * prior_precision)
    if n == 1:
        # A lone item's centred score is 0 by definition; its honest uncertainty is the prior's.
        variances[:] = 1.0 / prior_precision
    degree = _scatter(n, table.first, table.second, pair_weights)
    edge_sizes = item_sizes[table.first]

    # Two items joined by total weight w: the centred variance is Var((t1 - t2) / 2).
    pair_edges = edge_sizes == 2
    variances[table.first[pair_edges]] += 0.5 / (
        2.0 * degree[table.first[pair_edges]] + prior_precision
    )
    variances[table.second[pair_edges]] += 0.5 / (
        2.0 * degree[table.second[pair_edges]] + prior_precision
    )

    approximate = sizes > (2 if method is SEMethod.APPROXIMATE else EXACT_SE_MAX_COMPONENT)
    if method is SEMethod.EXACT:
        approximate[:] = False
    approximate_items = approximate[component_ids] & (item_sizes > 2)
    if approximate_items.any():
        edges = approximate[component_ids[table.first]] & (edge_sizes > 2)
        variances[approximate_items] += _approximate_variances(
            table, pair_weights, edges, degree, prior_precision, component_ids
        )[approximate_items]

    exact = (sizes > 2) & ~approximate
    if exact.any():
        edge_component = component_ids[table.first]
        order = np.argsort(edge_component, kind="stable")
        edge_starts = np.searchsorted(edge_component[order], np.arange(sizes.size + 1))
        node_order = np.argsort(component_ids, kind="stable")
        node_starts = np.concatenate(([0], np.cumsum(sizes)))
        local = np.empty(n, dtype=np.intp)
        for component in np.flatnonzero(exact):
            nodes = node_order[node_starts[component] : node_starts[component + 1]]
            edges_c = order[edge_starts[component] : edge_starts[component + 1]]
            local[nodes] = np.arange(nodes.size)
            variances[nodes] += _exact_component_variances(
                nodes.size,
                local[table.first[edges_c]],
                local[table.second[edges_c]],
                pair_weights[edges_c],
                prior_precision,
            )
    used = SEMethod.APPROXIMATE if approximate_items.any() else SEMethod.EXACT
    return variances.astype(np.float64), used


def _exact_component_variances(
    n_c: int, first: IntArray, second: IntArray, weights: FloatArray, prior: float
) -> FloatArray:
    """Component-centred variances from a dense Cholesky inverse.

    The rank-one term (shift/n_c) * 1 1^T lifts the near-null constant direction (eigenvalue
    ``prior``) to ``prior + shift`` so the factorisation is well conditioned; it changes
    diag(H^-1) only by a known constant, removed below.
    """
    degree = _scatter(n_c, first, second, weights)
    shift = max(1.0, float(degree.mean()))
    matrix = np.full((n_c, n_c), shift / n_c)
    matrix[np.diag_indices(n_c)] += degree + prior
    np.add.at(matrix, (first, second), -weights)
    np.add.at(matrix, (second, first), -weights)
    threads = 1 if n_c < _SINGLE_THREAD_BELOW else None
    with _BLAS.limit(limits=threads, user_api="blas"):
        factor, info = lapack.dpotrf(matrix, lower=0, overwrite_a=1)
        if info == 0:
            inverse, info = lapack.dpotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky factorisation of the information failed ({info})")
    diagonal: FloatArray = np.diag(inverse) - 1.0 / (n_c * (prior + shift))
    return np.maximum(diagonal, _variance_floor(n_c, degree + prior, prior))


def _approximate_variances(
    table: PairTable,
    pair_weights: FloatArray,
    edges: BoolArray,
    degree: FloatArray,
    prior: float,
    component_ids: IntArray,
) -> FloatArray:
    """Component-centred variances by a deflated second-order Neumann expansion.

    With D = degree + prior and S = D^-1/2 W D^-1/2, H^-1 = D^-1/2 (I - S)^-1 D^-1/2. The
    near-constant top eigenvector v (v_i^2 = D_i / sum D over the component) carries the
    component mean, which centring removes; expanding the rest to second order gives
    V_i ~= (1 + sum_j W_ij^2 / (D_i D_j)) / D_i - 3 / sum D. The neglected terms are
    O(1/degree^2) relative for well-mixed designs and larger for items with one or two
    comparisons (README: measured error). The result is never below the Cauchy-Schwarz
    bound (1 - 1/n_c)^2 / (D_i - prior/n_c). Only the items on ``edges`` are meaningful.
    """
    n = table.n_items
    first, second, weights = table.first[edges], table.second[edges], pair_weights[edges]
    total_weight = degree + prior
    squared = weights**2
    second_order = _scatter(
        n, first, second, squared / total_weight[second], other=squared / total_weight[first]
    )
    component_weight = np.bincount(component_ids, weights=total_weight)[component_ids]
    estimate = (1.0 + second_order / total_weight) / total_weight - 3.0 / component_weight
    # Singletons are not approximated (their entries are discarded); 2 keeps the floor finite.
    sizes = np.maximum(np.bincount(component_ids)[component_ids], 2)
    return np.maximum(estimate, _variance_floor(sizes, total_weight, prior))


def _variance_floor(n_c: int | IntArray, total_weight: FloatArray, prior: float) -> FloatArray:
    floor: FloatArray = (1.0 - 1.0 / n_c) ** 2 / (total_weight - prior / n_c)
    return floor


class _Laplacian:
    """The Newton matrix diag(degree + prior) - W as a CSR matrix with a fixed pattern."""

    def __init__(self, table: PairTable) -> None:
        n = table.n_items
        pairs = table.first.size
        rows = np.concatenate((table.first, table.second))
        cols = np.concatenate((table.second, table.first))
        order = np.argsort(rows * np.intp(n) + cols)
        self._edge_of_entry = np.tile(np.arange(pairs), 2)[order]
        indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n))))
        self._matrix = sp.csr_matrix((np.zeros(2 * pairs), cols[order], indptr), shape=(n, n))
        self._table = table
        self._diagonal = np.ones(n)

    def set_weights(self, weights: FloatArray, prior: float) -> None:
        self._matrix.data[:] = weights[self._edge_of_entry]
        self._diagonal = (
            _scatter(self._table.n_items, self._table.first, self._table.second, weights) + prior
        )

    def solve(self, rhs: FloatArray) -> FloatArray:
        """Jacobi-preconditioned CG for (diag - W) x = rhs."""
        diagonal, matrix = self._diagonal, self._matrix
        x = rhs / diagonal
        residual = rhs - (diagonal * x - matrix @ x)
        target = _CG_RELATIVE_TOLERANCE * float(np.linalg.norm(rhs))
        z = residual / diagonal
        direction = z.copy()
        rz = float(residual @ z)
        for _ in range(10 * diagonal.size + 100):
            if float(np.linalg.norm(residual)) <= target:
                break
            product = diagonal * direction - matrix @ direction
            alpha = rz / float(direction @ product)
            x += alpha * direction
            residual -= alpha * product
            z = residual / diagonal
            rz_next = float(residual @ z)
            direction = z + (rz_next / rz) * direction
            rz = rz_next
        return x


def _log_posterior(table: PairTable, theta: FloatArray, prior: float) -> float:
    # log sigma(d) = d - softplus(d) and log sigma(-d) = -softplus(d): one softplus per pair.
    difference = theta[table.first] - theta[table.second]
    log_likelihood = table.first_wins @ difference - table.count @ np.logaddexp(0.0, difference)
    return float(log_likelihood - 0.5 * prior * float(theta @ theta))


def _scatter(
    n: int,
    first: IntArray,
    second: IntArray,
    values: FloatArray,
    *,
    antisymmetric: bool = False,
    other: FloatArray | None = None,
) -> FloatArray:
    """Add a per-pair value to both ends of each pair (negated at ``second`` if antisymmetric)."""
    at_second = other if other is not None else (-values if antisymmetric else values)
    total = np.bincount(first, weights=values, minlength=n) + np.bincount(
        second, weights=at_second, minlength=n
    )
    return total.astype(np.float64)


def _item_wins(table: PairTable) -> FloatArray:
    return _scatter(
        table.n_items,
        table.first,
        table.second,
        table.first_wins,
        other=table.count - table.first_wins,
    )


def _components(table: PairTable) -> tuple[int, IntArray]:
    n = table.n_items
    graph = sp.coo_matrix((np.ones(table.first.size), (table.first, table.second)), shape=(n, n))
    n_components, labels = connected_components(graph, directed=False)
    return int(n_components), labels.astype(np.intp)


def _initial_theta(n: int, initial: FloatArray | None) -> FloatArray:
    if initial is None:
        return np.zeros(n)
    theta = np.asarray(initial, dtype=np.float64)
    if theta.shape != (n,) or not np.all(np.isfinite(theta)):
        raise BTInputError(f"initial_scores must be {n} finite numbers")
    centred: FloatArray = theta - theta.mean()
    return centred


def _indices(name: str, values: IntArray) -> IntArray:
    """Item indices as a 1-d integer array; floats and booleans are refused, not truncated."""
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.intp)
    if array.ndim != 1:
        raise BTInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise BTInputError(f"{name} must hold integer item indices, got {array.dtype}")
    return array.astype(np.intp)


def _validate_outcomes(n_items: int, winners: IntArray, losers: IntArray) -> None:
    if n_items < 0:
        raise BTInputError(f"n_items must be >= 0, got {n_items}")
    if winners.shape != losers.shape:
        raise BTInputError(f"winners and losers differ in length ({winners.size} != {losers.size})")
    if winners.size == 0:
        return
    if (
        min(int(winners.min()), int(losers.min())) < 0
        or max(int(winners.max()), int(losers.max())) >= n_items
    ):
        raise BTInputError(f"winners/losers must index items 0..{n_items - 1}")
    if np.any(winners == losers):
        raise BTInputError("an item cannot be compared with itself (winner == loser)")
