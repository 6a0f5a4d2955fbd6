"""The comparison graph's connected components, and reliability per component and overall.

Why: real decision files are not one connected net. Measured on the CJ meta-analysis's
public data sets (issue 16): one never-compared item took SSR from 0.900 to 0.432 and
five took it to 0.000, and a graph in five components gave SSR 0.000 against 0.944
published, because an item without comparisons (or a component, whose mean no comparison
fixes) has the prior's SE, which swamps mean(SE^2). Both are facts about the design, not
about how reliable the measured order is, and a bare 0 hides that. So:

- items without comparisons are **never compared**: listed, and left out of every
  reliability (they have no measurement to be reliable about);
- each component gets its own figures, from a fit of that component alone at the joint
  fit's prior (so its SEs are about differences *within* it);
- outcomes the joint fit cannot tell from coin flips (``BTFit.shows_signal``) give every
  headline reliability 0, as the joint fit's own does;
- **overall**: the engine's headline reliability of the joint fit over the compared items
  (between components it honestly includes that their offsets are unknown: each
  component is centred by the prior), the engine's SSR and separation **pooled within
  components** (sum over components of n_c (var_c - mean SE_c^2) over sum of n_c var_c;
  for one component exactly the fit's SSR), and the literature's SSR of ``sirt::btm`` on
  every compared item together, as the published tables computed it
  (:mod:`cj_worker.core.literature`).

Scores of different components are not on one scale: only comparisons link items, and no
comparison links two components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

from cj_worker.core.array_types import IntArray
from cj_worker.core.bt import (
    MIN_ESSAYS_FOR_RELIABILITY,
    BTFit,
    PairTable,
    PriorMode,
    SEMethod,
    fit_bradley_terry,
    headline_reliability,
    posterior_reliability,
)
from cj_worker.core.literature import SirtFit, sirt_btm


@dataclass(frozen=True)
class ComponentReliability:
    """One connected component's figures."""

    items: IntArray
    """Its items (indices of the fit), ascending."""
    comparisons: int
    reliability: float
    """The engine's headline reliability within the component; NaN below
    ``MIN_ESSAYS_FOR_RELIABILITY`` items."""
    ssr: float
    """The engine's SSR, (var(scores) - mean SE^2) / var(scores), clamped to [0, 1]."""
    sirt_ssr: float
    """The literature's SSR (``sirt::btm`` on the component alone)."""
    observed_variance: float
    """var(scores) within the component (population variance, as the engine's SSR)."""
    error_variance: float
    """mean SE^2 within the component."""


@dataclass(frozen=True)
class GraphReliability:
    """Reliability per component and overall; never-compared items apart."""

    components: tuple[ComponentReliability, ...]
    """Largest first."""
    never_compared: IntArray
    """Items without a single comparison: in no component, in no figure."""
    reliability: float
    """The engine's headline reliability of the joint fit over the compared items; NaN
    below ``MIN_ESSAYS_FOR_RELIABILITY`` compared items."""
    ssr: float
    """The engine's SSR pooled within components (module docstring); NaN without two
    compared items."""
    separation: float
    """Pooled within components: sqrt(max(sum n_c (var_c - mse_c), 0) / sum n_c mse_c)."""
    literature: SirtFit
    """``sirt::btm`` on every compared item together: the published tables' SSR."""

    @property
    def connected(self) -> bool:
        """All compared items lie in one component."""
        return len(self.components) <= 1

    @property
    def sirt_ssr(self) -> float:
        return self.literature.ssr


def graph_components(
    n_items: int, winners: IntArray, losers: IntArray
) -> tuple[list[IntArray], IntArray]:
    """The components' items (largest first; equal sizes by their smallest item) and the
    items never compared."""
    table = PairTable.from_outcomes(n_items, np.asarray(winners), np.asarray(losers))
    compared = table.degree > 0
    graph = sp.coo_matrix(
        (np.ones(table.first.size), (table.first, table.second)), shape=(n_items, n_items)
    )
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for item in np.flatnonzero(compared).tolist():
        groups.setdefault(int(labels[item]), []).append(item)
    components = sorted(
        (np.asarray(items, dtype=np.intp) for items in groups.values()),
        key=lambda items: (-items.size, int(items[0])),
    )
    return components, np.flatnonzero(~compared).astype(np.intp)


def graph_reliability(
    n_items: int,
    winners: IntArray,
    losers: IntArray,
    fit: BTFit,
    *,
    literature: SirtFit | None = None,
    se_method: SEMethod = SEMethod.AUTO,
) -> GraphReliability:
    """Figures per component and overall for ``fit``, the joint fit of these outcomes.

    ``literature`` is ``sirt_btm`` of the same outcomes if the caller has it already.
    """
    winners = np.asarray(winners, dtype=np.intp)
    losers = np.asarray(losers, dtype=np.intp)
    if fit.scores.size != n_items:
        raise ValueError(f"the fit has {fit.scores.size} items, expected {n_items}")
    components, never_compared = graph_components(n_items, winners, losers)
    sirt = literature if literature is not None else sirt_btm(n_items, winners, losers)
    compared = np.ones(n_items, dtype=bool)
    compared[never_compared] = False
    if len(components) == 1 and never_compared.size == 0:
        whole = _component_of(fit, components[0], winners.size, fit.reliability, sirt.ssr)
        return GraphReliability(
            (whole,), never_compared, fit.reliability, whole.ssr, _separation((whole,)), sirt
        )
    signal = fit.shows_signal
    parts = tuple(
        _fit_component(items, winners, losers, fit, se_method, signal) for items in components
    )
    overall = (
        fit.reliability if never_compared.size == 0 else _reliability(fit, compared, signal=signal)
    )
    return GraphReliability(
        components=parts,
        never_compared=never_compared,
        reliability=overall,
        ssr=_pooled_ssr(parts),
        separation=_separation(parts),
        literature=sirt,
    )


def _fit_component(
    items: IntArray,
    winners: IntArray,
    losers: IntArray,
    joint: BTFit,
    se_method: SEMethod,
    signal: bool,
) -> ComponentReliability:
    """The component fitted alone at the joint fit's prior precision; ``signal`` is the
    joint fit's verdict on whether the outcomes differ from coin flips."""
    local = np.full(joint.scores.size, -1, dtype=np.intp)
    local[items] = np.arange(items.size)
    inside = local[winners] >= 0  # a comparison lies in one component, never across
    won, lost = local[winners[inside]], local[losers[inside]]
    sub = fit_bradley_terry(
        items.size,
        won,
        lost,
        joint.prior_precision,
        prior_mode=PriorMode.FIXED,
        se_method=se_method,
    )
    everything = np.ones(items.size, dtype=bool)
    reliability = _reliability(sub, everything, signal=signal, hierarchical=joint.prior_mode)
    return _component_of(
        sub, items, int(inside.sum()), reliability, sirt_btm(items.size, won, lost).ssr
    )


def _component_of(
    fit: BTFit, items: IntArray, comparisons: int, reliability: float, sirt_ssr: float
) -> ComponentReliability:
    scores, errors = fit.scores, fit.standard_errors
    if scores.size != items.size:  # the joint fit of a connected net: its own items
        scores, errors = scores[items], errors[items]
    observed = float(np.var(scores))
    error = float(np.mean(errors**2))
    ssr = float(np.clip((observed - error) / observed, 0.0, 1.0)) if observed > 0 else 0.0
    return ComponentReliability(
        items=items,
        comparisons=comparisons,
        reliability=reliability,
        ssr=ssr,
        sirt_ssr=sirt_ssr,
        observed_variance=observed,
        error_variance=error,
    )


def _reliability(
    fit: BTFit,
    subset: NDArray[np.bool_],
    *,
    signal: bool,
    hierarchical: PriorMode | None = None,
) -> float:
    """:attr:`BTFit.reliability` over ``subset``: 0 when the joint fit's outcomes do not
    differ from coin flips (``signal``), else the headline estimator of an empirical-Bayes
    fit (given its tau, so on the conditional SEs), else the posterior one.

    ``hierarchical`` names the mode whose estimator applies when ``fit`` itself was fitted
    at a fixed prior taken from an empirical-Bayes fit. The coin-flip test is the joint
    fit's: a component's own fit at a fixed prior has only the weaker of its two tests.
    """
    if int(subset.sum()) < MIN_ESSAYS_FOR_RELIABILITY:
        return float("nan")
    if not signal:
        return 0.0
    mode = hierarchical or fit.prior_mode
    conditional = fit.conditional_standard_errors
    errors = fit.standard_errors if conditional is None else conditional
    if mode is PriorMode.EMPIRICAL_BAYES:
        return headline_reliability(fit.scores[subset], errors[subset], fit.prior_sd)
    return posterior_reliability(fit.scores[subset], errors[subset])


def _pooled_ssr(parts: tuple[ComponentReliability, ...]) -> float:
    sizes = np.array([part.items.size for part in parts], dtype=np.float64)
    observed = np.array([part.observed_variance for part in parts])
    error = np.array([part.error_variance for part in parts])
    total = float(sizes @ observed)
    if sizes.sum() < 2:
        return float("nan")
    if total <= 0.0:
        return 0.0
    return float(np.clip(float(sizes @ (observed - error)) / total, 0.0, 1.0))


def _separation(parts: tuple[ComponentReliability, ...]) -> float:
    sizes = np.array([part.items.size for part in parts], dtype=np.float64)
    observed = np.array([part.observed_variance for part in parts])
    error = np.array([part.error_variance for part in parts])
    error_total = float(sizes @ error)
    if sizes.sum() < 2 or error_total <= 0.0:
        return float("nan") if sizes.sum() < 2 else 0.0
    return float(np.sqrt(max(float(sizes @ (observed - error)), 0.0) / error_total))
