"""Coverage metrics and the small-net flag (SPEC section 5).

Only a *succeeded* comparison covers a pair; these tests pin that down for every status,
because counting a failed or pending row would end Phase 1 with pairs never judged.
"""

from __future__ import annotations

import pytest

from cj_worker.core.coverage import (
    CoverageMetrics,
    CoverageRegressionError,
    is_small_net,
    max_possible_pairs,
    successful_pairs_count,
    unique_coverage_complete,
)
from tests.builders.core import (
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
    ("previous", "measured"),
    [(None, (10, 4)), ((10, 4), (10, 4)), ((10, 4), (10, 7)), ((0, 0), (15, 3))],
)
def test_never_behind_accepts_a_count_that_grew_or_stayed(
    previous: tuple[int, int] | None, measured: tuple[int, int]
) -> None:
    before = None if previous is None else CoverageMetrics(*previous)
    assert CoverageMetrics(*measured).never_behind(before) == CoverageMetrics(*measured)


@pytest.mark.parametrize(("previous", "measured"), [((10, 7), (10, 4)), ((15, 3), (10, 3))])
def test_never_behind_refuses_coverage_that_moved_backwards(
    previous: tuple[int, int], measured: tuple[int, int]
) -> None:
    """Counted from a history that only grows, a smaller count means lost comparison rows."""
    with pytest.raises(CoverageRegressionError, match="backwards"):
        CoverageMetrics(*measured).never_behind(CoverageMetrics(*previous))
