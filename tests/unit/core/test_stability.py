"""The max-change stability rule and the success-rate guard (SPEC section 6)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cj_worker.core.stability import (
    is_stable,
    max_score_change,
    passes_success_guard,
    success_rate,
)

SCORES = np.array([-1.0, 0.0, 1.0])


def test_max_score_change_is_the_largest_absolute_change() -> None:
    assert max_score_change(np.array([0.5, -2.0, 1.0]), np.array([0.0, -1.0, 1.25])) == 1.0


def test_max_score_change_counts_a_fall_like_a_rise() -> None:
    assert max_score_change(np.array([0.0, 0.0]), np.array([0.0, 0.75])) == 0.75


def test_max_score_change_of_different_shapes_is_infinite() -> None:
    """An essay count that changed between decisions can never look stable."""
    assert max_score_change(np.zeros(3), np.zeros(4)) == float("inf")


def test_max_score_change_of_no_essays_is_zero() -> None:
    assert max_score_change(np.zeros(0), np.zeros(0)) == 0.0


@pytest.mark.parametrize(
    ("succeeded", "failed", "rate"), [(0, 0, None), (3, 1, 0.75), (0, 4, 0.0), (5, 0, 1.0)]
)
def test_success_rate(succeeded: int, failed: int, rate: float | None) -> None:
    assert success_rate(succeeded, failed) == rate


@pytest.mark.parametrize(
    ("succeeded", "failed", "minimum", "passes"),
    [
        (8, 2, 0.8, True),  # exactly at the guard
        (7, 2, 0.8, False),  # 0.78
        (10, 0, 0.8, True),
        (0, 0, 0.8, False),  # nothing finished: no evidence the judges work
        (0, 0, 0.0, False),  # zero successes fail even a guard of 0
        (0, 5, 0.0, False),
        (1, 9, 0.1, True),
    ],
)
def test_passes_success_guard(succeeded: int, failed: int, minimum: float, passes: bool) -> None:
    assert passes_success_guard(succeeded, failed, minimum) is passes


def _stable(**overrides: Any) -> bool:
    """``is_stable`` on a case that is stable, with ``overrides`` changing one input."""
    arguments: dict[str, Any] = {
        "succeeded": 12,
        "failed": 0,
        "scores_now": SCORES + 0.05,
        "scores_previous": SCORES,
        "min_comparisons": 12,
        "threshold": 0.0625,
        "min_success_rate": 0.8,
    }
    arguments.update(overrides)
    return is_stable(**arguments)


def test_the_reference_case_is_stable() -> None:
    assert _stable()


def test_change_equal_to_the_threshold_is_stable() -> None:
    assert _stable(scores_now=SCORES + 0.0625)


def test_change_above_the_threshold_is_not_stable() -> None:
    assert not _stable(scores_now=SCORES + np.array([0.0, 0.0, 0.07]))


def test_floor_counts_only_successful_comparisons() -> None:
    """11 successes and 1 failure are 12 finished comparisons but below the floor of 12."""
    assert not _stable(succeeded=11, failed=1, min_success_rate=0.5)
    assert _stable(succeeded=12, failed=1, min_success_rate=0.5)


def test_needs_a_previous_score_vector() -> None:
    assert not _stable(scores_previous=None)


def test_needs_current_scores() -> None:
    assert not _stable(scores_now=None)


def test_needs_the_success_rate_guard() -> None:
    """Unchanged scores from judges that mostly fail are not evidence of stability."""
    assert not _stable(succeeded=12, failed=4, scores_now=SCORES)
    assert _stable(succeeded=12, failed=3, scores_now=SCORES)


def test_a_changed_essay_count_is_not_stable() -> None:
    assert not _stable(scores_now=np.zeros(4))
