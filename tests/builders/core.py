"""Builders for the pure-core tests: histories, settings and continuation contexts.

Each builder returns a valid value with defaults that describe an ordinary batch, so a test
states only what it is about (``context(n, budget_left=0)``) and every test file builds its
inputs the same way. Net size is a parameter throughout: the small-net and regular-net
paths of SPEC section 6 are exercised by the same cases with a different ``n``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from cj_worker.core.coverage import CoverageMetrics, max_possible_pairs
from cj_worker.core.decision import ContinuationContext
from cj_worker.core.history import ComparisonHistory, ComparisonStatus
from cj_worker.core.pair_index import PairAvailability
from cj_worker.core.pairing import PlannedComparison
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.core.success_guard import WaveCounts

Row = tuple[int, int, ComparisonStatus, bool]
"""``(slot_a, slot_b, status, a_won)``, the row shape ``ComparisonHistory.from_rows`` takes."""

SMALL_NET = 6
"""At most the default ``min_resampling_net_size`` (10): the small-net path."""
REGULAR_NET = 24
"""Above the default ``min_resampling_net_size``: the regular-net path."""

by_net_size = pytest.mark.parametrize(
    "n",
    [pytest.param(SMALL_NET, id="small-net"), pytest.param(REGULAR_NET, id="regular-net")],
)
"""Run a test once on a small net and once on a regular net (argument ``n``)."""


# ------------------------------------------------------------------------------ rows


def ok(a: int, b: int, *, a_won: bool = True) -> Row:
    """A succeeded comparison, won by slot A unless ``a_won`` is False."""
    return (a, b, ComparisonStatus.SUCCEEDED, a_won)


def failed(a: int, b: int) -> Row:
    return (a, b, ComparisonStatus.FAILED, False)


def timed_out(a: int, b: int) -> Row:
    return (a, b, ComparisonStatus.TIMED_OUT, False)


def pending(a: int, b: int) -> Row:
    return (a, b, ComparisonStatus.PENDING, False)


# ------------------------------------------------------------------------- histories


def history_from(n: int, rows: Iterable[Row]) -> ComparisonHistory:
    """A history of ``n`` essays with exactly these rows, in order."""
    return ComparisonHistory.from_rows(n, rows)


def all_pairs(n: int) -> list[tuple[int, int]]:
    """Every unordered pair ``(low, high)`` of ``n`` essays."""
    return list(itertools.combinations(range(n), 2))


def complete_coverage_history(n: int, extra: Iterable[Row] = ()) -> ComparisonHistory:
    """Every pair judged once (lower index in slot A and winning), then ``extra`` rows.

    The lower index always wins, so essay 0 is the strongest: the outcome a perfect judge
    gives for abilities that fall with the index.
    """
    return history_from(n, [*(ok(a, b) for a, b in all_pairs(n)), *extra])


def with_rows(history: ComparisonHistory, rows: Iterable[Row]) -> ComparisonHistory:
    """``history`` with ``rows`` appended."""
    more = history_from(history.n_essays, rows)
    return history.extended(more.slot_a, more.slot_b, more.status, more.a_won)


def extend_succeeded(
    history: ComparisonHistory, wave: Iterable[PlannedComparison]
) -> ComparisonHistory:
    """``history`` plus ``wave`` judged successfully, the lower index winning (perfect judge)."""
    return with_rows(history, (ok(p.slot_a, p.slot_b, a_won=p.slot_a < p.slot_b) for p in wave))


# -------------------------------------------------------------------------- settings


def make_settings(**overrides: Any) -> AlgorithmSettings:
    """The default algorithm settings with ``overrides`` applied (and validated)."""
    return AlgorithmSettings.model_validate(overrides)


# ------------------------------------------------------------------- decision context


def context(
    n: int = SMALL_NET,
    *,
    coverage_complete: bool = True,
    covered: int | None = None,
    succeeded: int | None = None,
    failed: int = 0,
    pending: int = 0,
    budget_left: int = 100,
    current_wave: int = 1,
    resampling_pass_count: int = 0,
    settled: bool | None = False,
    coverage_available: int | None = None,
    resampling_available: int | None = None,
    settings: AlgorithmSettings | None = None,
    last_wave: WaveCounts | None = None,
) -> ContinuationContext:
    """A consistent end-of-wave context of an ``n``-essay batch; keywords override a part.

    - ``covered`` successful pairs: all of them when ``coverage_complete``, else half.
    - ``succeeded`` defaults to ``max(covered, min_comparisons_for_stability_check)``, so a
      stability check is possible unless a test lowers it.
    - The budget is ``submitted + budget_left`` with ``submitted = succeeded + failed +
      pending``.
    - Availability defaults to what such a history leaves: every uncovered pair for
      COVERAGE, every covered pair for RESAMPLING.
    - ``settled``: None gives no scores at all (the first decision); True a previous score
      vector equal to the current one; False one that moved by 1 logit. Whether the context
      is *stable* still depends on the success floor and the success-rate guard.
    - ``last_wave``: the wave just judged; by default every comparison so far (as at the
      first decision), so its evidence follows the success counts.
    """
    s = settings if settings is not None else make_settings()
    max_pairs = max_possible_pairs(n)
    if covered is None:
        covered = max_pairs if coverage_complete else max_pairs // 2
    if succeeded is None:
        succeeded = max(covered, s.min_comparisons_for_stability_check)
    submitted = succeeded + failed + pending
    scores_now = np.linspace(-1.0, 1.0, n) if settled is not None else None
    scores_previous = None
    if scores_now is not None:
        scores_previous = scores_now.copy() if settled else scores_now + 1.0
    return ContinuationContext(
        essay_count=n,
        current_wave=current_wave,
        submitted=submitted,
        succeeded=succeeded,
        failed=failed,
        pending=pending,
        total_budget=submitted + budget_left,
        coverage=CoverageMetrics(max_pairs, covered),
        availability=PairAvailability(
            coverage=max_pairs - covered if coverage_available is None else coverage_available,
            resampling=covered if resampling_available is None else resampling_available,
        ),
        resampling_pass_count=resampling_pass_count,
        scores_now=scores_now,
        scores_previous=scores_previous,
        settings=s,
        last_wave=WaveCounts(submitted, succeeded, failed) if last_wave is None else last_wave,
    )
