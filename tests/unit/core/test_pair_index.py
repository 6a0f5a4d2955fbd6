"""The one pair index that the decision and the planner both read.

Availability counts what each generation mode may still pick; a pair whose attempts all
failed stays open to COVERAGE until ``max_attempts_per_pair``, and a pending pair is open to
neither mode. The planner-agreement test is the reason the index exists: whenever the
decision counts a pair as available, ``plan_wave`` on the same index finds one.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cj_worker.core.history import ComparisonHistory, ComparisonStatus
from cj_worker.core.pair_index import PairAvailability, PairIndex
from cj_worker.core.pairing import PairGenerationMode, plan_wave
from tests.builders.core import (
    Row,
    failed,
    history_from,
    make_settings,
    ok,
    pending,
    timed_out,
)


def test_availability_of_an_empty_history_is_every_pair_for_coverage_only() -> None:
    assert PairAvailability.of(history_from(5, []), 3) == PairAvailability(
        coverage=10, resampling=0
    )


@pytest.mark.parametrize(("max_attempts", "coverage"), [(1, 2), (2, 2), (3, 3)])
def test_failed_pairs_stay_available_until_max_attempts(max_attempts: int, coverage: int) -> None:
    """Pair (0, 1) failed twice (one timeout): exhausted at 1 or 2 attempts, not at 3."""
    history = history_from(3, [failed(0, 1), timed_out(1, 0)])
    assert PairAvailability.of(history, max_attempts).coverage == coverage


def test_pending_pairs_are_blocked_for_both_modes() -> None:
    history = history_from(3, [ok(0, 1), pending(0, 1), pending(1, 2), ok(0, 2)])
    assert PairAvailability.of(history, 3) == PairAvailability(coverage=0, resampling=1)


def test_covered_pairs_are_available_for_resampling_only() -> None:
    history = history_from(4, [ok(0, 1), ok(2, 3), failed(0, 2)])
    assert PairAvailability.of(history, 3) == PairAvailability(coverage=4, resampling=2)


def test_index_counts_successful_pairs_once_per_unordered_pair() -> None:
    history = history_from(4, [ok(0, 1), ok(1, 0), ok(2, 3), failed(0, 2)])
    index = PairIndex(history)
    assert index.successful_pairs == 2
    assert index.attempts_of(index.key(np.array([0, 0, 1]), np.array([1, 2, 2]))).tolist() == [
        2,
        1,
        0,
    ]


_STATUSES = [ok, failed, timed_out, pending]


@st.composite
def _histories(draw: st.DrawFn) -> tuple[int, list[Row]]:
    n = draw(st.integers(2, 9))
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, 3)).filter(
                lambda t: t[0] != t[1]
            ),
            max_size=30,
        )
    )
    return n, [_STATUSES[kind](a, b) for a, b, kind in rows]


@given(_histories(), st.integers(1, 3), st.integers(0, 2**32 - 1))
@settings(max_examples=150, deadline=None)
def test_planner_finds_pairs_whenever_the_index_counts_some(
    net: tuple[int, list[Row]], max_attempts: int, seed: int
) -> None:
    n, rows = net
    history = history_from(n, rows)
    algorithm = make_settings(max_attempts_per_pair=max_attempts)
    index = PairIndex(history)
    available = index.availability(max_attempts)
    for mode, count in (
        (PairGenerationMode.COVERAGE, available.coverage),
        (PairGenerationMode.RESAMPLING, available.resampling),
    ):
        plan = plan_wave(mode, history, 100, np.random.default_rng(seed), algorithm, index=index)
        assert bool(plan.comparisons) == (count > 0), (mode, available)


@pytest.mark.parametrize("n", [1200, 1500])
def test_large_net_planner_finds_the_last_eligible_pairs(n: int) -> None:
    """Above full enumeration the candidates are windowed; the last open pairs still come."""
    rng = np.random.default_rng(n)
    first, second = np.triu_indices(n, 1)
    keep = rng.random(first.size) > 3e-6
    keep[0] = False  # (0, 1) stays open at least
    size = int(keep.sum())
    history = ComparisonHistory(
        n,
        first[keep].astype(np.intp),
        second[keep].astype(np.intp),
        np.full(size, ComparisonStatus.SUCCEEDED, dtype=np.int8),
        np.ones(size, dtype=bool),
    )
    index = PairIndex(history)
    open_pairs = index.availability(3).coverage
    assert open_pairs >= 1
    algorithm = make_settings(pairing_policy="random")
    plan = plan_wave(PairGenerationMode.COVERAGE, history, 50, rng, algorithm, index=index)
    assert 1 <= len(plan.comparisons) <= open_pairs
    chosen = index.key(
        np.array([p.slot_a for p in plan.comparisons]),
        np.array([p.slot_b for p in plan.comparisons]),
    )
    assert index.coverage_eligible(chosen, 3).all()
