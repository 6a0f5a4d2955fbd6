"""Bradley-Terry scoring: a hierarchical (empirical-Bayes) fit with centred posterior SDs.

Model: P(i beats j) = logistic(theta_i - theta_j), prior theta_i ~ N(0, tau^2) independently
per item. By default (``PriorMode.EMPIRICAL_BAYES``) tau^2 is estimated from the data: the
Laplace-EM fixed point tau^2 = (sum theta_hat^2 + sum posterior variance) / (n - 1), found
by a safeguarded secant search on log tau^2 (``_empirical_bayes``), with the caller's
``prior_precision`` as a floor on 1 / tau^2 (so tau <= 1 / sqrt(floor): disconnected graphs
and undefeated essays keep finite scores) and ``MIN_PRIOR_SD`` as a floor on tau (judges
who flip coins give tau at that floor, scores near 0 and a reliability near 0).
Why: with the fixed weak prior (precision 0.01) under adaptive pairing, the 95 % intervals
covered 46-58 % of the true abilities and the scale was stretched 1.6-2.9x; a prior whose
variance matches the true spread restored about 0.94 (issue 10, SPEC section 7; Hamilton &
Tawn 2024 on penalties under adaptive scheduling). ``PriorMode.FIXED`` keeps the ridge at
``prior_precision`` exactly (the override).

For a given prior the MAP is found by Newton's method; each Newton system (Laplacian +
prior) is solved by Jacobi-preconditioned conjugate gradients on a sparse
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
import functools
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from scipy.sparse.csgraph import connected_components
from scipy.special import expit
from threadpoolctl import ThreadpoolController

from cj_worker.core.array_types import BoolArray, FloatArray, IntArray
from cj_worker.core.errors import CJWorkerError

EXACT_SE_MAX_COMPONENT = 2000
"""Largest connected component whose variances are computed exactly (dense Cholesky)."""

DENSE_SOLVE_MAX_ITEMS = 300
"""Nets up to this size solve their Newton systems densely (see ``_Laplacian.solve``)."""

_SINGLE_THREAD_BELOW = 600
"""Dense factorisations smaller than this run on one BLAS thread: for them thread start-up
costs several times the arithmetic (measured 5x slower on two cores at n=100)."""
_BLAS = ThreadpoolController()

_NEWTON_TOLERANCE = 1e-9
_FULL_STEP_BELOW = 1e-2
"""Newton steps smaller than this (max |step|, logits) are taken whole, without a line
search: the fit is then well inside the quadratic region of a concave objective."""
_SEARCH_NEWTON_TOLERANCE = 1e-4
"""Newton tolerance while tau is searched: the final fit at the chosen tau uses the full one."""
_NEWTON_MAX_ITERATIONS = 200
_CG_RELATIVE_TOLERANCE = 1e-11
_NEWTON_FORCING_MAX = 0.1
"""Loosest relative tolerance of a Newton step's CG solve (see ``_newton``)."""
_PATH_TOLERANCE = 1e-6
"""CG tolerance of d theta_hat / d tau solves: they steer the tau search and enter the SEs
through a variance term of a few per cent, where 1e-6 relative is exact to print."""


class BTInputError(CJWorkerError, ValueError):
    """The comparison arrays do not describe a valid set of outcomes."""


MIN_PRIOR_SD = 0.01
"""Floor of the estimated prior SD tau (logits): the maximum-likelihood tau of judges who
flip coins is 0, which the Newton systems cannot take; at 0.01 every score is within a few
hundredths of 0 and the posterior reliability is about 0."""
SIGNAL_LEVEL = 0.2
"""Level of the test that the judges' outcomes carry any signal (:func:`signal_z`): below
it the headline reliability is 0."""
_SIGNAL_Z = 0.8416212335729143
"""The one-sided normal quantile of ``SIGNAL_LEVEL``."""
_SIGNAL_LR = 0.7083263173873119
"""2 log LR above which tau = 0 is rejected at ``SIGNAL_LEVEL``: on the boundary the
statistic is a 50:50 mixture of 0 and chi-square(1), so the chi-square(1) 40 % point."""
SIGNAL_LR_MAX_ITEMS = 2000
"""Largest net whose likelihood-ratio signal test is computed (a dense log-determinant)."""
MIN_ESSAYS_FOR_RELIABILITY = 10
"""Below this many essays the headline reliability is not reported (NaN). Measured
(benchmarks/honesty.py, 20 seeds per cell, exact and discrimination-0.7 judges, three
policies): mean reported - true at 10 / 15 / 20 / 30 essays is -0.09..+0.03 /
-0.09..+0.06 / -0.05..+0.01 / -0.05..+0.04 from K = 10, no worse than at 30; at K = 6 it
under-reports by up to 0.2 at every size (information pairing). Below 10 it was not
measured, and a variance over a handful of essays is itself too noisy to report."""
SECOND_ORDER_BELOW_DEGREE = 20.0
"""Mean comparisons per essay from which the tau search drops the second-order term."""
EB_EXACT_MAX_COMPONENT = 400
"""Largest component whose variances are exact *during the tau search*; larger ones use
the Neumann approximation there (the reported SEs still follow ``se_method``). A dense
inverse per search step would cost 5-10 fits at n = 1,000; measured effect on tau below."""
_EB_TOLERANCE = 1e-3
"""|residual| at which the search stops: one more (corrected) EM step would move tau^2 by
0.1 %, tau by 0.05 %."""
_EB_MAX_EVALUATIONS = 40
_EB_MAX_LOG_STEP = 4.0
"""Largest change of log tau^2 in one search step (a factor of 7.4 in tau)."""


class PriorMode(enum.StrEnum):
    """How the prior variance of the abilities is chosen."""

    EMPIRICAL_BAYES = "empirical_bayes"
    """tau^2 estimated from the data (module docstring); ``prior_precision`` is a floor."""
    FIXED = "fixed"
    """Precision exactly ``prior_precision`` (the pre-hierarchical ridge fit)."""


class SEMethod(enum.StrEnum):
    """How the variances were (or should be) computed."""

    AUTO = "auto"
    EXACT = "exact"
    APPROXIMATE = "approximate"


@dataclass(frozen=True)
class PairTable:
    """Comparisons aggregated by unordered pair: the sufficient statistics of the fit.

    With slot information (``orientation``) a pair judged in both orders has one row per
    order, since the slot effect enters the two differently.
    """

    n_items: int
    first: IntArray
    """Lower item index of each pair."""
    second: IntArray
    """Higher item index of each pair."""
    count: FloatArray
    """Comparisons of the pair."""
    first_wins: FloatArray
    """How many of them ``first`` won."""
    orientation: FloatArray | None = None
    """+1 where ``first`` was in slot A, -1 where it was in slot B; None without slots."""
    slot_effect: float = 0.0
    """delta of P(A beats B) = logistic(theta_A - theta_B + delta) (with ``orientation``)."""

    @classmethod
    def from_outcomes(
        cls,
        n_items: int,
        winners: IntArray,
        losers: IntArray,
        winner_in_slot_a: BoolArray | None = None,
    ) -> PairTable:
        winners, losers = _indices("winners", winners), _indices("losers", losers)
        _validate_outcomes(n_items, winners, losers)
        low = np.minimum(winners, losers)
        high = np.maximum(winners, losers)
        keys = (low * np.intp(n_items) + high).astype(np.int64)
        if winner_in_slot_a is not None:
            in_a = np.asarray(winner_in_slot_a, dtype=bool)
            if in_a.shape != winners.shape:
                raise BTInputError("winner_in_slot_a must have one entry per comparison")
            low_in_a = np.where(winners == low, in_a, ~in_a)
            keys = 2 * keys + low_in_a
        unique, inverse = np.unique(keys, return_inverse=True)
        count = np.bincount(inverse, minlength=unique.size).astype(np.float64)
        first_wins = np.bincount(
            inverse, weights=(winners == low).astype(np.float64), minlength=unique.size
        ).astype(np.float64)
        orientation = None
        if winner_in_slot_a is not None:
            orientation = np.where(unique % 2 == 1, 1.0, -1.0)
            unique = unique // 2
        first, second = np.divmod(unique, np.int64(n_items))
        return cls(
            n_items,
            first.astype(np.intp),
            second.astype(np.intp),
            count,
            first_wins,
            orientation,
        )

    @property
    def degree(self) -> FloatArray:
        """Comparisons per item."""
        return _scatter(self.n_items, self.first, self.second, self.count)

    def logits(self, theta: FloatArray) -> FloatArray:
        """logit P(first beats second) of every row at abilities ``theta``."""
        difference: FloatArray = theta[self.first] - theta[self.second]
        if self.orientation is not None and self.slot_effect != 0.0:
            difference = difference + self.slot_effect * self.orientation
        return difference


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
    """Scale separation reliability, clamped to [0, 1] (a secondary figure: SPEC 7)."""
    diagnostics: BTDiagnostics
    prior_precision: float
    """The precision the scores were fitted with: 1 / prior_sd^2."""
    pair_table: PairTable = field(repr=False)
    pair_weights: FloatArray = field(repr=False)
    prior_mode: PriorMode = PriorMode.FIXED
    prior_sd: float = float("nan")
    """tau: the estimated SD of the abilities under EMPIRICAL_BAYES, else
    1 / sqrt(prior_precision)."""
    prior_evaluations: int = 0
    """MAP fits the tau search made (0 under FIXED), bootstrap refits included."""
    tau_replicates: int = 0
    """Parametric-bootstrap refits that corrected tau's bias (0: not corrected)."""
    outcomes: tuple[IntArray, IntArray] | None = field(default=None, repr=False)
    """(winners, losers) in the order given, for the signal tests."""
    conditional_standard_errors: FloatArray | None = field(default=None, repr=False)
    slot_effect: float = float("nan")
    """delta, the logit advantage of slot A, when slots were given (else NaN)."""
    slot_effect_se: float = float("nan")
    """Posterior SD of delta (abilities integrated out)."""
    """Posterior SDs given tau = prior_sd, without the Kass-Steffey term for tau's own
    uncertainty (None under FIXED, where they equal ``standard_errors``)."""

    @functools.cached_property
    def signal_z(self) -> float:
        """:func:`signal_z` of the outcomes the fit was given, in their order (computed on
        first use: it sorts every comparison, a tenth of a second at 500,000)."""
        if self.outcomes is None:
            return float("nan")
        return signal_z(self.scores.size, *self.outcomes)

    @functools.cached_property
    def signal_lr(self) -> float:
        """2 (log p(data | tau_hat) - log p(data | tau = 0)) by :func:`laplace_log_evidence`;
        NaN for a fixed prior or a net above ``SIGNAL_LR_MAX_ITEMS`` essays."""
        table = self.pair_table
        if (
            self.prior_mode is not PriorMode.EMPIRICAL_BAYES
            or table.n_items > SIGNAL_LR_MAX_ITEMS
            or table.first.size == 0
        ):
            return float("nan")
        evidence = laplace_log_evidence(table, self.scores, self.prior_precision)
        return 2.0 * (evidence - float(table.count.sum()) * float(np.log(0.5)))

    @property
    def shows_signal(self) -> bool:
        """Whether the outcomes reject "every judge flips a coin" at ``SIGNAL_LEVEL``.

        Either test suffices: the martingale z (:func:`signal_z`, free, but weak when
        adaptive pairing matches essays of equal records) or the likelihood ratio of tau_hat
        against tau = 0 (``signal_lr``, computed when z alone does not reject)."""
        return bool(self.signal_z >= _SIGNAL_Z or self.signal_lr >= _SIGNAL_LR)

    @property
    def reliability(self) -> float:
        """The headline reliability: an estimate of the squared correlation of the scores
        with the true abilities (:func:`headline_reliability`); NaN for nets of fewer than
        ``MIN_ESSAYS_FOR_RELIABILITY`` essays."""
        if self.scores.size < MIN_ESSAYS_FOR_RELIABILITY:
            return float("nan")
        if not self.shows_signal:
            # The outcomes are not distinguishable from coin flips: nothing is reliable.
            # (Without this gate, nets judged entirely by coin flips reported 0.12-0.38: a
            # tau estimated a little above 0 always implies some reliability.)
            return 0.0
        if self.prior_mode is PriorMode.EMPIRICAL_BAYES:
            # Uncertainty about tau moves every score along d theta / d tau, close to a
            # common rescaling, which a correlation does not see: reliability is taken
            # given tau. (With it, 1-2 of 10 information-paired nets at K 6 reported 0-0.4
            # against a true 0.57-0.73, where tau was weakly identified.)
            conditional = self.conditional_standard_errors
            errors = self.standard_errors if conditional is None else conditional
            return headline_reliability(self.scores, errors, self.prior_sd)
        return posterior_reliability(self.scores, self.standard_errors)


def headline_reliability(scores: FloatArray, standard_errors: FloatArray, prior_sd: float) -> float:
    """The mean of :func:`expected_reliability` and :func:`posterior_reliability`.

    Both estimate the same quantity under the hierarchical model, and err in opposite
    directions on logistic data: the Laplace posterior variances at the (shrunk) modes are
    a little too small, which lifts 1 - mean variance / tau^2, and the modes are shrunk
    more than posterior means would be, which lowers var(scores) / (var(scores) + mean
    variance). Chosen on seeds 2000-2007 (8 per cell, N 30/100, K 6/10/20, exact and
    discrimination-0.7 judges, information / hybrid / random pairing; mean of reported -
    true): the first +0.00 to +0.15, the second -0.06 to +0.07, their mean -0.02 to +0.02
    at N = 100. Checked on seeds 1000-1019 (``benchmarks/honesty.py``): within +-0.03 at
    K 20 in every cell of N 30/100/500; at K 10 but for four cells (-0.051 to +0.036); at
    K 6 it under-reports (to -0.14 under information pairing), and at N 500 under
    information pairing at K 6-10 tau collapses and it reports 0.05-0.48 for 0.5-0.76.
    """
    return 0.5 * (
        expected_reliability(standard_errors, prior_sd)
        + posterior_reliability(scores, standard_errors)
    )


def expected_reliability(standard_errors: FloatArray, prior_sd: float) -> float:
    """1 - mean posterior variance / tau^2, clipped to [0, 1]; 0 for < 2 items.

    Under the hierarchical model the posterior mean m_i has cov(m_i, theta_i) = var(m_i) =
    tau^2 - E[posterior variance], so corr(m, theta)^2 = 1 - E[posterior variance] / tau^2.
    It rests on tau (estimated from every comparison at once) and on the posterior
    variances, which, unlike SSR's Fisher SEs of a weakly regularised fit, are not blown up
    by a design that chased the noise.
    """
    if standard_errors.size < 2 or not np.isfinite(prior_sd) or prior_sd <= 0.0:
        return 0.0
    value = 1.0 - float(np.mean(standard_errors**2)) / prior_sd**2
    return float(np.clip(value, 0.0, 1.0))


def fit_bradley_terry(
    n_items: int,
    winners: IntArray | list[int],
    losers: IntArray | list[int],
    prior_precision: float = 0.01,
    *,
    prior_mode: PriorMode | str = PriorMode.EMPIRICAL_BAYES,
    initial_scores: FloatArray | None = None,
    initial_prior_sd: float | None = None,
    se_method: SEMethod = SEMethod.AUTO,
    winner_in_slot_a: BoolArray | list[bool] | None = None,
) -> BTFit:
    """Fit Bradley-Terry to ``winners[k]`` beating ``losers[k]`` over items 0..n-1.

    With ``winner_in_slot_a`` (True where comparison k's winner was shown in slot A) the
    model gains an order effect, P(A beats B) = logistic(theta_A - theta_B + delta), and
    delta is estimated with its SE (``BTFit.slot_effect``; :func:`_fit_slot_effect`).

    Under ``PriorMode.EMPIRICAL_BAYES`` (default) the prior SD is estimated and
    ``prior_precision`` is its floor; under ``FIXED`` it is the precision used.
    ``initial_scores`` warm-starts Newton and ``initial_prior_sd`` the tau search
    (continuation refits every wave; without it the search starts from the spread of
    ``initial_scores``, or from 1 logit). Never raises on degenerate but valid nets (no
    comparisons, one item, undefeated items, several components); raises
    :class:`BTInputError` on invalid input.
    """
    mode = PriorMode(prior_mode)
    _check_precision(prior_precision)
    slots = None if winner_in_slot_a is None else np.asarray(winner_in_slot_a, dtype=bool)
    table = PairTable.from_outcomes(n_items, np.asarray(winners), np.asarray(losers), slots)
    n_components, component_ids = _components(table)
    slot_effect = slot_effect_se = float("nan")
    if table.orientation is not None and table.first.size > 0:
        table, estimate, precision, evaluations, eb, slot_effect_se = _fit_slot_effect(
            table, mode, prior_precision, component_ids, initial_scores, initial_prior_sd
        )
        slot_effect = table.slot_effect
    else:
        estimate, precision, evaluations, eb = _fit_abilities(
            table, mode, prior_precision, component_ids, initial_scores, initial_prior_sd
        )
    variances, used = centred_variances(
        table, estimate.pair_weights, precision, se_method, component_ids
    )
    conditional: FloatArray | None = None
    if eb is not None:
        conditional = np.sqrt(variances)
        # Kass & Steffey (1989): the plug-in posterior ignores that tau is estimated; its
        # first-order correction adds (d theta_hat / d log tau^2)^2 Var(log tau_hat^2).
        variances = variances + eb.sensitivity**2 * eb.log_variance_variance
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
        prior_precision=precision,
        pair_table=table,
        pair_weights=estimate.pair_weights,
        prior_mode=mode,
        prior_sd=float(1.0 / np.sqrt(precision)),
        prior_evaluations=evaluations,
        tau_replicates=0 if eb is None else eb.replicates,
        outcomes=(_indices("winners", np.asarray(winners)), _indices("losers", np.asarray(losers))),
        conditional_standard_errors=conditional,
        slot_effect=slot_effect,
        slot_effect_se=slot_effect_se,
    )


def laplace_log_evidence(table: PairTable, theta: FloatArray, precision: float) -> float:
    """log p(data | tau) by Laplace plus the second-order term, at the MAP ``theta``.

    l(theta) - |theta|^2 precision / 2 + (n / 2) log precision - (1 / 2) log det H
    + ``_second_order_laplace``: the objective whose maximum the tau search finds (less
    its Gamma(2, 0) prior). As tau -> 0 it tends to the exact coin-flip evidence
    m log(1/2). Dense: for nets up to ``SIGNAL_LR_MAX_ITEMS`` essays.
    """
    n = table.n_items
    logits = table.logits(theta)
    log_likelihood = float(table.first_wins @ logits - table.count @ np.logaddexp(0.0, logits))
    p = expit(logits)
    weights = table.count * p * (1.0 - p)
    matrix = np.zeros((n, n))
    np.add.at(matrix, (table.first, table.second), -weights)
    np.add.at(matrix, (table.second, table.first), -weights)
    matrix[np.diag_indices(n)] += _scatter(n, table.first, table.second, weights) + precision
    threads = 1 if n < _SINGLE_THREAD_BELOW else None
    with _BLAS.limit(limits=threads, user_api="blas"):
        factor, info = lapack.dpotrf(matrix, lower=0, overwrite_a=1)
    if info != 0:
        return float("nan")
    log_det = 2.0 * float(np.sum(np.log(np.diag(factor))))
    return (
        log_likelihood
        - 0.5 * precision * float(theta @ theta)
        + 0.5 * n * float(np.log(precision))
        - 0.5 * log_det
        + _second_order_laplace(table, theta, precision)
    )


def _fit_abilities(
    table: PairTable,
    mode: PriorMode,
    prior_precision: float,
    component_ids: IntArray,
    initial_scores: FloatArray | None,
    initial_prior_sd: float | None,
    *,
    correct_bias: bool = True,
) -> tuple[MapEstimate, float, int, _EBResult | None]:
    """Scores under the chosen prior: (estimate, precision used, tau fits, EB details)."""
    if mode is PriorMode.EMPIRICAL_BAYES and _estimable(table):
        eb = _empirical_bayes(
            table, prior_precision, component_ids, initial_scores, initial_prior_sd
        )
        if correct_bias:
            eb = _bias_corrected(table, eb, prior_precision, component_ids)
        return eb.estimate, eb.precision, eb.evaluations, eb
    return (
        map_scores(table, prior_precision, initial_scores=initial_scores),
        prior_precision,
        0,
        None,
    )


SLOT_EFFECT_PRIOR_PRECISION = 1.0
"""Prior N(0, 1) on delta: a slot effect of a logit or more is implausible, and the prior
keeps delta finite when one slot won every comparison."""
_SLOT_ROUNDS = 30


def _fit_slot_effect(
    table: PairTable,
    mode: PriorMode,
    prior_precision: float,
    component_ids: IntArray,
    initial_scores: FloatArray | None,
    initial_prior_sd: float | None,
) -> tuple[PairTable, MapEstimate, float, int, _EBResult | None, float]:
    """Abilities and the slot effect delta by alternating maximisation, and delta's SE.

    Each round fits the abilities at the current delta (warm-started, tau search included)
    and then delta given the abilities' posterior (one-dimensional Newton, probit
    approximation). With slots assigned at
    random delta and the abilities are nearly orthogonal and two or three rounds suffice.
    The SE is the posterior SD of delta with the abilities integrated out (Schur
    complement: 1 / (H_dd - h' H^-1 h), h the cross-information).
    """
    orientation = table.orientation
    assert orientation is not None
    scores, prior_sd = initial_scores, initial_prior_sd
    delta = 0.0
    evaluations = 0
    for _ in range(_SLOT_ROUNDS):
        table = replace(table, slot_effect=delta)
        estimate, precision, used, eb = _fit_abilities(
            table, mode, prior_precision, component_ids, scores, prior_sd, correct_bias=False
        )
        evaluations += used
        scores, prior_sd = estimate.scores, float(1.0 / np.sqrt(precision))
        # delta given the abilities' posterior, not their modes: each row's logit is
        # attenuated by kappa = 1 / sqrt(1 + pi Var(theta_first - theta_second) / 8) (the
        # probit approximation). Plugging in shrunk modes instead leaves the abilities'
        # remaining uncertainty in the logistic noise, which attenuates delta like any
        # coefficient (measured: 0.234 for a planted 0.3 at 20 comparisons per essay).
        # Under FIXED the (weakly regularised) modes are not shrunk: there delta is the
        # joint MAP (kappa = 1); with kappa it measured 0.355 for a planted 0.3.
        difference_variance = np.zeros(table.first.size)
        if eb is not None:
            _centred_moments(
                table,
                estimate.pair_weights,
                precision,
                SEMethod.AUTO,
                component_ids,
                EB_EXACT_MAX_COMPONENT,
                difference_variance,
            )
        kappa = 1.0 / np.sqrt(1.0 + np.pi * difference_variance / 8.0)
        previous = delta
        for _ in range(50):
            p = expit(kappa * replace(table, slot_effect=delta).logits(scores))
            gradient = float((orientation * kappa) @ (table.first_wins - table.count * p))
            gradient -= SLOT_EFFECT_PRIOR_PRECISION * delta
            curvature = float((table.count * kappa**2) @ (p * (1.0 - p)))
            curvature += SLOT_EFFECT_PRIOR_PRECISION
            step = gradient / curvature
            delta += step
            if abs(step) < 1e-12:
                break
        if abs(delta - previous) < 1e-7:
            break
    table = replace(table, slot_effect=delta)
    estimate, precision, used, eb = _fit_abilities(
        table, mode, prior_precision, component_ids, scores, prior_sd
    )
    evaluations += used
    weights = estimate.pair_weights
    cross = _scatter(
        table.n_items, table.first, table.second, weights * orientation, antisymmetric=True
    )
    laplacian = _Laplacian(table)
    laplacian.set_weights(weights, precision)
    with _BLAS.limit(limits=1, user_api="blas"):
        solved = laplacian.solve(cross)
    information = float(weights.sum()) + SLOT_EFFECT_PRIOR_PRECISION - float(cross @ solved)
    return table, estimate, precision, evaluations, eb, float(1.0 / np.sqrt(information))


def signal_z(n_items: int, winners: IntArray, losers: IntArray) -> float:
    """z of the test "every outcome was a fair coin", valid under any (adaptive) pairing.

    Let X_i be essay i's wins minus losses so far. If each outcome is a fair coin, whatever
    chose the pair, M = sum_i X_i^2 - comparisons_i is a martingale whose increment at a
    comparison of a and b is 2 s (X_a - X_b) (s = +1 if a won, the coin), so
    z = sum_k (X_winner - X_loser)_before_k / sqrt(sum_k (X_a - X_b)^2_before_k) is
    asymptotically N(0, 1) by the martingale central limit theorem. When the judges see
    quality, essays that have won keep winning and z grows. The outcomes must be in the
    order they were judged (a history's order). NaN without any informative comparison.
    """
    winners = np.asarray(winners, dtype=np.intp)
    losers = np.asarray(losers, dtype=np.intp)
    m = winners.size
    if m == 0 or n_items < 2:
        return float("nan")
    items = np.concatenate((winners, losers))
    signs = np.concatenate((np.ones(m), -np.ones(m)))
    order = np.lexsort((np.tile(np.arange(m), 2), items))
    running = np.cumsum(signs[order])
    starts = np.searchsorted(items[order], items[order], side="left")
    # Record before each comparison: the running sum up to it, minus its own sign, minus
    # everything before the item's first entry.
    offset = np.where(starts > 0, running[np.maximum(starts - 1, 0)], 0.0)
    before_sorted = running - signs[order] - offset
    before = np.empty(2 * m)
    before[order] = before_sorted
    difference = before[:m] - before[m:]
    spread = float(np.sqrt(np.sum(difference**2)))
    return float(np.sum(difference) / spread) if spread > 0 else float("nan")


def posterior_reliability(scores: FloatArray, standard_errors: FloatArray) -> float:
    """var(scores) / (var(scores) + mean(SE^2)); 0 without spread or for < 2 items.

    For posterior means this is the share of the ability variance the scores recover (the
    pairing study's section 6: a shrinkage estimator needs this form, since the classic SSR
    subtracts the error variance a second time from already shrunken scores).
    """
    if scores.size < 2:
        return 0.0
    observed = float(np.var(scores))
    total = observed + float(np.mean(standard_errors**2))
    return observed / total if total > 0.0 else 0.0


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
    _check_precision(prior_precision)
    n = table.n_items
    theta = _initial_theta(n, initial_scores)
    if table.first.size == 0:
        return MapEstimate(np.zeros(n), np.zeros(0), 0, True)
    laplacian = _Laplacian(table)
    with _BLAS.limit(limits=1, user_api="blas"):
        return _newton(table, theta, prior_precision, laplacian)


def _check_precision(prior_precision: float) -> None:
    if not np.isfinite(prior_precision) or prior_precision <= 0:
        raise BTInputError(f"prior_precision must be a positive number, got {prior_precision!r}")


def _estimable(table: PairTable) -> bool:
    """tau is estimable from at least three items and one comparison; otherwise the data
    say nothing about the spread and the floor precision (the weakest prior) is used."""
    return table.n_items >= 3 and table.first.size > 0


def _empirical_bayes(
    table: PairTable,
    floor_precision: float,
    component_ids: IntArray,
    initial_scores: FloatArray | None,
    initial_prior_sd: float | None,
) -> _EBResult:
    """The MAP at the Laplace-EM estimate of tau^2, that precision, and the fits it took.

    The EM map of the hierarchical model, u -> (sum theta_hat(u)^2 + sum v(u)) / (n - 1)
    with v the centred posterior variances at prior variance u, has the marginal-likelihood
    estimate as its fixed point; its residual r(t) = log EM(e^t) - t has the sign of the
    (Laplace) marginal-likelihood gradient. Plain EM converges at the rate of the missing
    information (slow for sparse nets), so r is solved by secant steps, widened while the
    root is not bracketed (judges who flip coins drive t towards -inf, where r -> 0 from
    below) and Illinois steps once it is. Newton warm-starts from the nearest evaluated t.
    """
    n = table.n_items
    t_max = float(np.log(1.0 / floor_precision))
    t_min = min(float(np.log(MIN_PRIOR_SD**2)), t_max)
    theta = _initial_theta(n, initial_scores)
    if initial_prior_sd is not None and np.isfinite(initial_prior_sd) and initial_prior_sd > 0:
        start = 2.0 * float(np.log(initial_prior_sd))
    elif initial_scores is not None and float(np.var(theta)) > 0:
        # Posterior means are shrunk by the reliability: their spread underestimates tau.
        start = float(np.log(1.25 * float(np.var(theta))))
    else:
        start = 0.0
    laplacian = _Laplacian(table)
    evaluated: dict[float, tuple[MapEstimate, float]] = {}

    difference_variance = np.zeros(table.first.size)
    dense = _well_measured(table)
    paths: dict[float, FloatArray] = {}
    """d theta_hat / dt at each evaluated t."""

    def residual(t: float) -> float:
        nearest = min(evaluated, key=lambda s: abs(s - t)) if evaluated else None
        if nearest is None:
            warm = theta
        else:  # first-order prediction along the MAP path: Newton then needs a step or two
            warm = evaluated[nearest][0].scores + (t - nearest) * paths[nearest]
        precision = float(np.exp(-t))
        estimate = _newton(table, warm.copy(), precision, laplacian, _SEARCH_NEWTON_TOLERANCE)
        variances, _ = _centred_moments(
            table,
            estimate.pair_weights,
            precision,
            SEMethod.AUTO,
            component_ids,
            EB_EXACT_MAX_COMPONENT,
            difference_variance,
        )
        scores = estimate.scores
        # u^2 d(theta_hat)/du = H^-1 theta_hat: how the MAP spreads as the prior widens.
        laplacian.set_weights(estimate.pair_weights, precision)
        spread = laplacian.solve(scores, _PATH_TOLERANCE)
        p = expit(table.logits(scores))
        curvature_change = float(
            np.sum(
                table.count
                * p
                * (1.0 - p)
                * (1.0 - 2.0 * p)
                * (spread[table.first] - spread[table.second])
                * difference_variance
            )
        )
        updated = (float(scores @ scores) + float(variances.sum()) - curvature_change) / (n - 1)
        # Second-order Laplace term (module docstring): its t-derivative by a central
        # difference along the MAP path theta_hat + dt * precision * spread. Its effect
        # falls as 1 / comparisons per essay (measured: tau -12 % at 4 per essay, -3 % at
        # 10, -0.5 % at 20), so it is left out from ``SECOND_ORDER_BELOW_DEGREE`` on.
        step = 1e-3
        change = (
            0.0
            if dense
            else (
                _second_order_laplace(
                    table, scores + step * precision * spread, precision / np.exp(step)
                )
                - _second_order_laplace(
                    table, scores - step * precision * spread, precision * np.exp(step)
                )
            )
            / (2.0 * step)
        )
        # Boundary-avoiding Gamma(2, 0) prior on tau (Chung et al. 2013): d log tau / dt = 1/2.
        updated += 2.0 * float(np.exp(t)) * (change + 0.5) / (n - 1)
        r = float(np.log(max(updated, 1e-300))) - t
        evaluated[t] = (estimate, r)
        paths[t] = precision * spread
        return r

    with _BLAS.limit(limits=1, user_api="blas"):
        t = float(np.clip(start, t_min, t_max))
        r = residual(t)
        below: tuple[float, float] | None = None  # (t, r) with r > 0: the root lies above
        above: tuple[float, float] | None = None  # (t, r) with r < 0: the root lies below
        previous: tuple[float, float] | None = None
        last_step = 0.0
        side = 0  # Illinois: which end was kept last time
        chosen: float | None = None
        while len(evaluated) < _EB_MAX_EVALUATIONS and abs(r) > _EB_TOLERANCE:
            if r > 0:
                below = (t, r)
            else:
                above = (t, r)
            if (r > 0 and t >= t_max) or (r < 0 and t <= t_min):
                chosen = t  # the estimate lies beyond a bound: the bound it is
                break
            if below is not None and above is not None:
                if abs(above[0] - below[0]) < 1e-3:
                    break
                (t_lo, r_lo), (t_hi, r_hi) = below, above
                if side == 1 and r > 0:
                    r_hi *= 0.5
                elif side == -1 and r < 0:
                    r_lo *= 0.5
                side = 1 if r > 0 else -1
                new_t = t_lo - r_lo * (t_hi - t_lo) / (r_hi - r_lo)
            else:
                step = r  # the EM step in log space
                if previous is not None and r != previous[1]:
                    secant = -r * (t - previous[0]) / (r - previous[1])
                    if np.isfinite(secant) and secant * r > 0:
                        step = float(np.sign(r)) * max(abs(secant), abs(r))
                slow = previous is not None and abs(r) > 0.25 * abs(previous[1])
                if slow and last_step * r > 0:
                    step = float(np.sign(r)) * max(abs(step), 2.0 * abs(last_step))
                step = float(np.clip(step, -_EB_MAX_LOG_STEP, _EB_MAX_LOG_STEP))
                new_t = float(np.clip(t + step, t_min, t_max))
            previous = (t, r)
            last_step = new_t - t
            t = new_t
            r = residual(t)
        best = chosen if chosen is not None else min(evaluated, key=lambda s: abs(evaluated[s][1]))
        log_variance_variance = 0.0
        if chosen is None:
            others = [s for s in evaluated if s != best and abs(s - best) <= 0.5]
            if not others:
                probe = best - 0.05 if best - 0.05 >= t_min else best + 0.05
                residual(probe)
                others = [probe]
            other = min(others, key=lambda s: abs(s - best))
            slope = (evaluated[other][1] - evaluated[best][1]) / (other - best)
            if slope < 0:
                log_variance_variance = 2.0 / ((n - 1) * -slope)
        precision = float(np.exp(-best))
        final = _newton(table, evaluated[best][0].scores.copy(), precision, laplacian)
        laplacian.set_weights(final.pair_weights, precision)
        sensitivity = precision * laplacian.solve(final.scores, _PATH_TOLERANCE)
    return _EBResult(
        final, precision, len(evaluated), log_variance_variance, sensitivity, chosen is not None
    )


def _bias_corrected(
    table: PairTable, eb: _EBResult, floor_precision: float, component_ids: IntArray
) -> _EBResult:
    """tau corrected for the Laplace estimator's own bias by a parametric bootstrap.

    On sparse nets the Laplace (even second-order) marginal likelihood puts tau low, and
    the more so the larger the net (its noise no longer hides it): measured 7 % low at
    500 essays with 6 comparisons each and true SD 2, which cost 2 points of interval
    coverage. Hamilton & Tawn (2024) recommend a bootstrap estimate for exactly this.
    Abilities are drawn from N(0, tau_hat^2), outcomes from the model on the net's own
    pairs (and slots), and tau is re-estimated by the same search; the mean of
    log tau* - log sd(abilities drawn) (the drawn sample's own SD as the reference, so the
    draw's own sampling noise cancels) is the bias in log tau, removed from the estimate
    (replicates whose search ended at a bound carry no estimate and are left out). The
    draws are seeded from the data, so a fit is reproducible. The bootstrap's own noise
    is added to Var(log tau^2), which the reported SEs already carry (Kass-Steffey).
    Skipped where the bias is negligible or the correction would be mostly noise
    (``_bootstrap_replicates``) and for estimates at a bound.
    """
    replicates = _bootstrap_replicates(table)
    if replicates == 0 or eb.at_bound:
        return eb
    n = table.n_items
    rng = np.random.default_rng(_data_seed(table))
    tau = float(1.0 / np.sqrt(eb.precision))
    counts = np.rint(table.count).astype(np.int64)
    found: list[float] = []
    evaluations = eb.evaluations
    for _ in range(replicates):
        abilities = rng.normal(0.0, tau, n)
        wins = rng.binomial(counts, expit(table.logits(abilities)))
        drawn = _empirical_bayes(
            replace(table, first_wins=wins.astype(np.float64)),
            floor_precision,
            component_ids,
            None,
            tau,
        )
        evaluations += drawn.evaluations
        if not drawn.at_bound:  # a bound is not an estimate: it would swamp the mean
            found.append(
                0.5 * float(np.log(1.0 / drawn.precision) - np.log(np.var(abilities, ddof=1)))
            )
    if not found:
        return replace(eb, evaluations=evaluations)
    biases = np.array(found)
    t_max = float(np.log(1.0 / floor_precision))
    t_min = min(float(np.log(MIN_PRIOR_SD**2)), t_max)
    corrected = float(np.clip(np.log(1.0 / eb.precision) - 2.0 * biases.mean(), t_min, t_max))
    precision = float(np.exp(-corrected))
    laplacian = _Laplacian(table)
    with _BLAS.limit(limits=1, user_api="blas"):
        final = _newton(table, eb.estimate.scores.copy(), precision, laplacian)
        laplacian.set_weights(final.pair_weights, precision)
        sensitivity = precision * laplacian.solve(final.scores, _PATH_TOLERANCE)
    noise = 4.0 * float(np.var(biases, ddof=1)) / biases.size if biases.size > 1 else 0.0
    return _EBResult(
        final,
        precision,
        evaluations,
        eb.log_variance_variance + noise,
        sensitivity,
        at_bound=False,
        replicates=replicates,
    )


BOOTSTRAP_MIN_ESSAYS = 300
"""Smallest net whose tau is bias-corrected: below it the bias is within the estimate's
own noise (measured -2 % +- 1.6 % at 100 essays, K 6, true SD 2, 80 seeds) and the
correction would add more noise than it removes."""
BOOTSTRAP_ESSAY_DRAWS = 4500
"""Replicates x essays the correction aims for: its noise in log tau is about
2 / sqrt(essays x replicates), so 3 % (0.09 per replicate at 500 essays, measured)."""
BOOTSTRAP_MAX_REPLICATES = 16


def _bootstrap_replicates(table: PairTable) -> int:
    """How many refits the bias correction of tau takes (0: none)."""
    n = table.n_items
    if n < BOOTSTRAP_MIN_ESSAYS or _well_measured(table):
        return 0
    return int(min(BOOTSTRAP_MAX_REPLICATES, max(1, -(-BOOTSTRAP_ESSAY_DRAWS // n))))


def _well_measured(table: PairTable) -> bool:
    """At least ``SECOND_ORDER_BELOW_DEGREE`` comparisons per essay: Laplace's bias in tau
    is negligible there (no second-order term, no bootstrap correction)."""
    per_essay = 2.0 * float(table.count.sum()) / max(table.n_items, 1)
    return per_essay >= SECOND_ORDER_BELOW_DEGREE


def _data_seed(table: PairTable) -> list[int]:
    """A seed that only the comparisons decide (the same data always draw the same)."""
    mixed = (table.first.astype(np.uint64) * np.uint64(2654435761)) ^ table.second.astype(np.uint64)
    return [
        table.n_items,
        table.first.size,
        int(table.count.sum()),
        int(table.first_wins.sum()),
        int(np.bitwise_xor.reduce(mixed * (table.first_wins.astype(np.uint64) + np.uint64(1))))
        if mixed.size
        else 0,
    ]


def _second_order_laplace(table: PairTable, theta: FloatArray, precision: float) -> float:
    """The next term of the Laplace expansion of log p(data | tau), per item on its own.

    For log integral exp(g) with g = g0 - h x^2 / 2 + g3 x^3 / 6 + g4 x^4 / 24 the
    correction is g4 / (8 h^2) + 5 g3^2 / (24 h^3); here g3, g4 are item i's third and
    fourth log-likelihood derivatives and h = H_ii. Measured on random designs (true SD
    1.5, n = 100, 20 seeds) it removes most of Laplace's downward bias in tau: -12 % -> -3 %
    at 4 comparisons per essay, -3 % -> -1 % at 10 (against the sample SD of the truth).
    """
    n = table.n_items
    p = expit(table.logits(theta))
    second = table.count * p * (1.0 - p)
    third = second * (1.0 - 2.0 * p)
    fourth = second * (1.0 - 6.0 * p * (1.0 - p))
    g3 = _scatter(n, table.first, table.second, -third, antisymmetric=True)
    g4 = -_scatter(n, table.first, table.second, fourth)
    h = _scatter(n, table.first, table.second, second) + precision
    return float(np.sum(g4 / (8.0 * h**2) + 5.0 * g3**2 / (24.0 * h**3)))


@dataclass(frozen=True)
class _EBResult:
    estimate: MapEstimate
    precision: float
    evaluations: int
    log_variance_variance: float
    """Var(log tau_hat^2) from the curvature of the Laplace marginal likelihood."""
    sensitivity: FloatArray
    """d theta_hat / d log tau^2 at the estimate."""
    at_bound: bool = False
    """The estimate is a bound of the search (the floor of tau or of the precision)."""
    replicates: int = 0
    """Parametric-bootstrap refits behind the bias correction (``_bias_corrected``)."""


def _newton(
    table: PairTable,
    theta: FloatArray,
    prior: float,
    laplacian: _Laplacian,
    tolerance: float = _NEWTON_TOLERANCE,
) -> MapEstimate:
    """Damped Newton; one BLAS thread, since its vector products are too small to share.

    Converged means the full Newton step is below tolerance. Near the optimum the predicted
    gain drops below the objective's rounding error, where a line search cannot tell better
    from worse: the full step is taken there rather than halved into meaninglessness.
    """
    objective: float | None = None
    weights = np.zeros(table.first.size)
    for iteration in range(1, _NEWTON_MAX_ITERATIONS + 1):
        p = expit(table.logits(theta))
        pair_gradient = table.first_wins - table.count * p
        gradient = laplacian.scatter(pair_gradient, antisymmetric=True) - prior * theta
        weights = table.count * p * (1.0 - p)
        laplacian.set_weights(weights, prior)
        # Inexact Newton (Eisenstat & Walker 1996): far from the optimum a rough solve
        # steers as well as an exact one. The forcing term is the Jacobi estimate of the
        # step (logits), so it vanishes with the gradient and convergence stays quadratic.
        rough_step = float(np.max(np.abs(gradient) / laplacian.diagonal))
        forcing = min(_NEWTON_FORCING_MAX, rough_step)
        step = laplacian.solve(gradient, max(forcing, _CG_RELATIVE_TOLERANCE))
        step_size = float(np.max(np.abs(step)))
        if step_size < _FULL_STEP_BELOW:
            # In Newton's quadratic region the full step always ascends: no line search,
            # which saves the objective's evaluation (a third of a warm refit's time).
            theta, objective = theta + step, None
            if step_size < tolerance:
                return _estimate(table, theta, iteration, True)
            continue
        if objective is None:
            objective = _log_posterior(table, theta, prior)
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
                return _estimate(table, theta, iteration, step_size < tolerance)
            scale *= 0.5
        theta, objective = candidate, candidate_objective
        if step_size < tolerance:
            return _estimate(table, theta, iteration, True)
    return _estimate(table, theta, _NEWTON_MAX_ITERATIONS, False)


def _estimate(table: PairTable, theta: FloatArray, iterations: int, converged: bool) -> MapEstimate:
    p = expit(table.logits(theta))
    return MapEstimate(theta - theta.mean(), table.count * p * (1.0 - p), iterations, converged)


def centred_variances(
    table: PairTable,
    pair_weights: FloatArray,
    prior_precision: float,
    method: SEMethod = SEMethod.AUTO,
    component_ids: IntArray | None = None,
    *,
    exact_limit: int | None = None,
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
    limit = EXACT_SE_MAX_COMPONENT if exact_limit is None else exact_limit
    return _centred_moments(
        table, pair_weights, prior_precision, method, component_ids, limit, None
    )


def _centred_moments(
    table: PairTable,
    pair_weights: FloatArray,
    prior_precision: float,
    method: SEMethod,
    component_ids: IntArray | None,
    exact_limit: int,
    edge_difference: FloatArray | None,
) -> tuple[FloatArray, SEMethod]:
    """:func:`centred_variances`; if ``edge_difference`` is given (one slot per pair of the
    table) it is filled with Var(theta_first - theta_second) of every pair, which the
    Laplace marginal likelihood's gradient needs (exact where the variances are exact;
    first-order Neumann covariance W_ij / (D_i D_j) where they are approximated)."""
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
    if edge_difference is not None:
        edge_difference[pair_edges] = 2.0 / (
            2.0 * degree[table.first[pair_edges]] + prior_precision
        )

    approximate = sizes > (2 if method is SEMethod.APPROXIMATE else exact_limit)
    if method is SEMethod.EXACT:
        approximate[:] = False
    approximate_items = approximate[component_ids] & (item_sizes > 2)
    if approximate_items.any():
        edges = approximate[component_ids[table.first]] & (edge_sizes > 2)
        within = _approximate_variances(
            table, pair_weights, edges, degree, prior_precision, component_ids
        )
        variances[approximate_items] += within[approximate_items]
        if edge_difference is not None:
            total = degree + prior_precision
            i, j = table.first[edges], table.second[edges]
            edge_difference[edges] = (
                within[i] + within[j] - 2.0 * pair_weights[edges] / (total[i] * total[j])
            )

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
            within, differences = _exact_component_variances(
                nodes.size,
                local[table.first[edges_c]],
                local[table.second[edges_c]],
                pair_weights[edges_c],
                prior_precision,
            )
            variances[nodes] += within
            if edge_difference is not None:
                edge_difference[edges_c] = differences
    used = SEMethod.APPROXIMATE if approximate_items.any() else SEMethod.EXACT
    return variances.astype(np.float64), used


def _exact_component_variances(
    n_c: int, first: IntArray, second: IntArray, weights: FloatArray, prior: float
) -> tuple[FloatArray, FloatArray]:
    """Component-centred variances from a dense Cholesky inverse, and Var(t_first -
    t_second) of every pair (``first`` < ``second``: the upper triangle dpotri fills).

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
    raw = np.diag(inverse)
    # The shift adds a multiple of 1 1^T to the inverse, which differences do not see.
    differences: FloatArray = raw[first] + raw[second] - 2.0 * inverse[first, second]
    diagonal: FloatArray = raw - 1.0 / (n_c * (prior + shift))
    return np.maximum(diagonal, _variance_floor(n_c, degree + prior, prior)), differences


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
    """The Newton matrix diag(degree + prior) - W as a CSR matrix with a fixed pattern, and
    the pair-to-item incidence matrices (``scatter``) on the same row layout.

    The layout is built without a sort of the 2m entries: rows group the pairs by their
    lower item (already in order in a ``PairTable`` from ``from_outcomes``) and, through a
    CSR-to-CSC transposition (linear time), by their higher item. A comparison sort there
    cost a tenth of a hierarchical fit at n = 1,000 / m = 50,000.
    """

    def __init__(self, table: PairTable) -> None:
        n = table.n_items
        pairs = table.first.size
        edges = np.arange(pairs)
        by_first = edges if _is_sorted(table.first) else np.argsort(table.first, kind="stable")
        first, second = table.first[by_first], table.second[by_first]
        first_counts = np.bincount(first, minlength=n)
        second_counts = np.bincount(second, minlength=n)
        first_starts = np.concatenate(([0], np.cumsum(first_counts)))
        upper = sp.csr_matrix((by_first, second, first_starts), shape=(n, n))
        by_second = upper.tocsc()
        second_starts = by_second.indptr
        by_second_edges = by_second.data.astype(np.intp)
        indptr = np.concatenate(([0], np.cumsum(first_counts + second_counts)))
        # Row r holds the pairs whose higher item is r, then those whose lower item is r.
        second_rows = np.repeat(np.arange(n), second_counts)
        at_second = indptr[second_rows] + edges - second_starts[second_rows]
        at_first = indptr[first] + second_counts[first] + edges - first_starts[first]
        self._edge_of_entry = np.empty(2 * pairs, dtype=np.intp)
        self._edge_of_entry[at_second] = by_second_edges
        self._edge_of_entry[at_first] = by_first
        columns = np.empty(2 * pairs, dtype=np.intp)
        columns[at_second] = table.first[by_second_edges]
        columns[at_first] = second
        signs = np.empty(2 * pairs)
        signs[at_second] = -1.0
        signs[at_first] = 1.0
        self._matrix = sp.csr_matrix((np.zeros(2 * pairs), columns, indptr), shape=(n, n))
        self._incidence = sp.csr_matrix((signs, self._edge_of_entry, indptr), shape=(n, pairs))
        self._unsigned = sp.csr_matrix(
            (np.ones(2 * pairs), self._edge_of_entry, indptr), shape=(n, pairs)
        )
        self._table = table
        self._diagonal = np.ones(n)
        self._factor: FloatArray | None = None

    @property
    def diagonal(self) -> FloatArray:
        """degree + prior at the weights last set."""
        return self._diagonal

    def scatter(self, values: FloatArray, *, antisymmetric: bool = False) -> FloatArray:
        """:func:`_scatter` of a per-pair value over this table's pairs (a sparse product,
        a third of two weighted bincounts' time)."""
        matrix = self._incidence if antisymmetric else self._unsigned
        total: FloatArray = matrix @ values
        return total

    def set_weights(self, weights: FloatArray, prior: float) -> None:
        self._matrix.data[:] = weights[self._edge_of_entry]
        self._diagonal = self.scatter(weights) + prior
        self._factor = None

    def solve(
        self, rhs: FloatArray, relative_tolerance: float = _CG_RELATIVE_TOLERANCE
    ) -> FloatArray:
        """(diag - W) x = rhs: dense Cholesky for small nets, else Jacobi-preconditioned CG
        to ``relative_tolerance`` (the residual's norm relative to the right-hand side's).

        Below ``DENSE_SOLVE_MAX_ITEMS`` a dense factorisation costs less than the hundred
        or so CG iterations a sparse early-wave design needs (measured: the harness's
        100-essay runs spent most of their time in CG), and it is reused for every
        right-hand side until the weights change.
        """
        if self._diagonal.size <= DENSE_SOLVE_MAX_ITEMS:
            if self._factor is None:
                dense = -self._matrix.toarray()
                dense[np.diag_indices_from(dense)] += self._diagonal
                factor, info = lapack.dpotrf(dense, lower=0, overwrite_a=1)
                if info != 0:
                    raise np.linalg.LinAlgError(f"Cholesky of the Newton matrix failed ({info})")
                self._factor = factor
            solution, info = lapack.dpotrs(self._factor, rhs, lower=0)
            if info == 0:
                dense_solution: FloatArray = solution
                return dense_solution
        return self._conjugate_gradients(rhs, relative_tolerance)

    def _conjugate_gradients(self, rhs: FloatArray, relative_tolerance: float) -> FloatArray:
        """Jacobi-preconditioned CG for (diag - W) x = rhs."""
        diagonal, matrix = self._diagonal, self._matrix
        x = rhs / diagonal
        residual = rhs - (diagonal * x - matrix @ x)
        target = relative_tolerance * float(np.linalg.norm(rhs))
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
    difference = table.logits(theta)
    log_likelihood = table.first_wins @ difference - table.count @ _softplus(difference)
    return float(log_likelihood - 0.5 * prior * float(theta @ theta))


def _softplus(x: FloatArray) -> FloatArray:
    """log(1 + e^x) without overflow; a quarter of ``np.logaddexp(0, x)``'s time."""
    result: FloatArray = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
    return result


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


def _is_sorted(values: IntArray) -> bool:
    return bool(np.all(values[:-1] <= values[1:]))


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
