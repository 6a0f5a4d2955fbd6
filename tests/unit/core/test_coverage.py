"""Coverage metrics, the small-net flag and pair availability (SPEC section 5).

Only a *succeeded* comparison covers a pair; these tests pin that down for every status,
because counting a failed or pending row would end Phase 1 with pairs never judged.
"""

from __future__ import annotations

import pytest

from cj_worker.core.coverage import (
    CoverageMetrics,
    PairAvailability,
    is_small_net,
    max_possible_pairs,
    successful_pairs_count,
    unique_coverage_complete,
)
from tests.unit.core.builders import (
    all_pairs,
    by_net_size,
    complete_coverage_history,
    failed,
    history_from,
    ok,
    pending,
    timed_out,
)


@pytest.mark.parametrize(
    ("essays", "expected"), [(0, 0), (1, 0), (2, 1), (3, 3), (5, 10), (24, 276)]
)
def test_max_possible_pairs_is_n_choose_2(essays: int, expected: int) -> None:
    assert max_possible_pairs(essays) == expected


def test_anchors_count_as_essays_in_max_possible_pairs() -> None:
    """The core sees anchors as ordinary essay positions: 4 essays + 2 anchors is 6 essays."""
    assert CoverageMetrics.of(history_from(4 + 2, [])).max_possible_pairs == 15


def test_empty_history_covers_nothing() -> None:
    assert successful_pairs_count(history_from(5, [])) == 0


def test_failed_only_pairs_are_not_covered() -> None:
    history = history_from(4, [failed(0, 1), timed_out(0, 1), failed(2, 3), ok(1, 2)])
    assert successful_pairs_count(history) == 1


def test_pending_rows_do_not_cover() -> None:
    assert successful_pairs_count(history_from(3, [pending(0, 1), pending(1, 2)])) == 0


def test_a_later_success_covers_the_pair_once() -> None:
    history = history_from(3, [failed(0, 1), failed(1, 0), ok(0, 1), ok(0, 1, a_won=False)])
    assert successful_pairs_count(history) == 1


def test_both_orientations_are_one_pair() -> None:
    assert successful_pairs_count(history_from(3, [ok(0, 1), ok(1, 0), ok(2, 1)])) == 2


@by_net_size
def test_complete_history_covers_every_pair(n: int) -> None:
    metrics = CoverageMetrics.of(complete_coverage_history(n))
    assert metrics.successful_pairs_count == metrics.max_possible_pairs == max_possible_pairs(n)
    assert metrics.unique_coverage_complete


@by_net_size
def test_one_missing_pair_leaves_coverage_incomplete(n: int) -> None:
    rows = [ok(a, b) for a, b in all_pairs(n)[1:]]
    first_a, first_b = all_pairs(n)[0]
    metrics = CoverageMetrics.of(history_from(n, [*rows, failed(first_a, first_b)]))
    assert metrics.successful_pairs_count == max_possible_pairs(n) - 1
    assert not metrics.unique_coverage_complete


@pytest.mark.parametrize(
    ("max_pairs", "successful", "complete"),
    [(0, 0, False), (1, 0, False), (1, 1, True), (10, 9, False), (10, 10, True), (10, 11, True)],
)
def test_unique_coverage_complete(max_pairs: int, successful: int, complete: bool) -> None:
    """An empty or one-essay net (no pairs at all) is never 'complete'."""
    assert unique_coverage_complete(max_pairs, successful) is complete
    assert CoverageMetrics(max_pairs, successful).unique_coverage_complete is complete


@pytest.mark.parametrize(
    ("essays", "bound", "small"), [(9, 10, True), (10, 10, True), (11, 10, False), (5, 5, True)]
)
def test_small_net_bound_is_inclusive(essays: int, bound: int, small: bool) -> None:
    assert is_small_net(essays, bound) is small


@pytest.mark.parametrize(
    ("stored", "measured", "expected"),
    [
        ((10, 4), (10, 7), (10, 7)),
        ((10, 7), (10, 4), (10, 7)),
        ((10, 7), (0, 0), (10, 7)),
        ((0, 0), (15, 3), (15, 3)),
    ],
)
def test_advanced_by_never_moves_backwards(
    stored: tuple[int, int], measured: tuple[int, int], expected: tuple[int, int]
) -> None:
    merged = CoverageMetrics(*stored).advanced_by(CoverageMetrics(*measured))
    assert (merged.max_possible_pairs, merged.successful_pairs_count) == expected


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
