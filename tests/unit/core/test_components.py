"""Components of the comparison graph: per-component and overall reliability, never a
bare 0 for a design fact, never-compared items apart."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from cj_worker.core.array_types import IntArray
from cj_worker.core.bt import PriorMode, fit_bradley_terry
from cj_worker.core.components import graph_components, graph_reliability
from cj_worker.core.literature import sirt_btm


def _net(n: int, per_item: int, seed: int, offset: int = 0) -> tuple[IntArray, IntArray]:
    """Random pairs among items offset..offset+n-1, BT outcomes at a true SD of 1.5."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.5, n)
    first = np.concatenate([rng.permutation(n) for _ in range(per_item)])
    second = np.concatenate([rng.permutation(n) for _ in range(per_item)])
    keep = first != second
    first, second = first[keep], second[keep]
    first_won = rng.random(first.size) < expit(theta[first] - theta[second])
    winners = np.where(first_won, first, second).astype(np.intp) + offset
    losers = np.where(first_won, second, first).astype(np.intp) + offset
    return winners, losers


def _groups(sizes: list[int], per_item: int, seed: int) -> tuple[int, IntArray, IntArray]:
    """Separate random nets side by side: a graph with one component per size."""
    winners, losers, offset = [], [], 0
    for k, size in enumerate(sizes):
        w, lo = _net(size, per_item, seed + k, offset)
        winners.append(w)
        losers.append(lo)
        offset += size
    return offset, np.concatenate(winners), np.concatenate(losers)


def test_components_are_listed_largest_first_and_isolated_items_apart() -> None:
    n, winners, losers = _groups([5, 12, 5], 4, seed=0)
    components, never = graph_components(n + 2, winners, losers)

    assert [part.size for part in components] == [12, 5, 5]
    np.testing.assert_array_equal(components[0], np.arange(5, 17))
    np.testing.assert_array_equal(components[1], np.arange(5))  # equal sizes: lowest first
    np.testing.assert_array_equal(never, [n, n + 1])


def test_a_connected_net_reports_the_fit_itself() -> None:
    winners, losers = _net(40, 10, seed=1)
    fit = fit_bradley_terry(40, winners, losers)
    graph = graph_reliability(40, winners, losers, fit)

    assert graph.connected
    assert graph.never_compared.size == 0
    assert graph.reliability == fit.reliability
    assert graph.ssr == pytest.approx(fit.ssr)
    assert graph.components[0].comparisons == winners.size
    assert graph.sirt_ssr == pytest.approx(sirt_btm(40, winners, losers).ssr)


def test_a_graph_in_five_components_gets_reliability_per_component_and_overall() -> None:
    n, winners, losers = _groups([30, 30, 30, 30, 30], 12, seed=2)
    fit = fit_bradley_terry(n, winners, losers)
    graph = graph_reliability(n, winners, losers, fit)

    assert not graph.connected
    assert len(graph.components) == 5
    for part in graph.components:
        alone = fit_bradley_terry(
            30,
            winners[np.isin(winners, part.items)] - part.items[0],
            losers[np.isin(losers, part.items)] - part.items[0],
            fit.prior_precision,
            prior_mode=PriorMode.FIXED,
        )
        assert part.ssr == pytest.approx(alone.ssr)
        assert part.reliability > 0.7
        assert part.sirt_ssr > 0.7
    # Pooled within components: among the components' own figures, and not the collapse a
    # fixed weak prior gives the joint SSR (each component's mean has the prior's SE).
    ssrs = [part.ssr for part in graph.components]
    assert min(ssrs) - 1e-9 <= graph.ssr <= max(ssrs) + 1e-9
    weak = fit_bradley_terry(n, winners, losers, 0.01, prior_mode=PriorMode.FIXED)
    assert weak.ssr < 0.3
    weak_graph = graph_reliability(n, winners, losers, weak)
    assert weak_graph.ssr > 0.7
    assert graph.reliability > 0.7
    assert graph.separation > 1.5


def test_never_compared_items_are_left_out_of_every_figure() -> None:
    winners, losers = _net(60, 10, seed=3)
    connected = fit_bradley_terry(60, winners, losers)
    fit = fit_bradley_terry(65, winners, losers, 0.01, prior_mode=PriorMode.FIXED)
    graph = graph_reliability(65, winners, losers, fit)

    np.testing.assert_array_equal(graph.never_compared, np.arange(60, 65))
    assert len(graph.components) == 1
    assert graph.components[0].items.size == 60
    # The weak-prior fit's SSR over all 65 items collapses (the isolated items' SE is the
    # prior's, 10 logits); the graph's figures do not see them.
    assert fit.ssr < 0.2
    assert graph.ssr > 0.7
    assert graph.ssr == pytest.approx(graph.components[0].ssr)
    assert graph.sirt_ssr == pytest.approx(sirt_btm(60, winners, losers).ssr)
    assert abs(graph.reliability - connected.reliability) < 0.1


def test_small_components_have_figures_and_no_headline_below_twenty_essays() -> None:
    # Items 0-1 and 2-4: two components of two and three essays.
    n = 5
    winners = np.array([0, 1, 0, 2, 3, 4, 2], dtype=np.intp)
    losers = np.array([1, 0, 1, 3, 4, 2, 4], dtype=np.intp)
    fit = fit_bradley_terry(n, winners, losers)
    graph = graph_reliability(n, winners, losers, fit)

    assert [part.items.size for part in graph.components] == [3, 2]
    for part in graph.components:
        assert math.isnan(part.reliability)
        assert 0.0 <= part.ssr <= 1.0
    assert math.isnan(graph.reliability)
    assert 0.0 <= graph.ssr <= 1.0


def test_judges_flipping_coins_give_no_reliability_in_any_component() -> None:
    rng = np.random.default_rng(6)
    pairs = [rng.permutation(30)[:2] + offset for offset in (0, 30) for _ in range(300)]
    first, second = np.array(pairs).T
    coin = rng.random(first.size) < 0.5
    winners = np.where(coin, first, second).astype(np.intp)
    losers = np.where(coin, second, first).astype(np.intp)
    fit = fit_bradley_terry(60, winners, losers)
    graph = graph_reliability(60, winners, losers, fit)

    assert len(graph.components) == 2
    assert not fit.shows_signal
    assert graph.reliability == 0.0
    assert [part.reliability for part in graph.components] == [0.0, 0.0]


def test_the_fit_must_cover_the_items() -> None:
    winners, losers = _net(10, 4, seed=5)
    fit = fit_bradley_terry(10, winners, losers)
    with pytest.raises(ValueError, match="items"):
        graph_reliability(11, winners, losers, fit)
