"""The early success-rate rules: a dead judge ends a batch at once, a healthy one never by
chance, and a wave that came back failed is never read as stability."""

from __future__ import annotations

import numpy as np
import pytest

from cj_worker.core.success_guard import (
    MIN_WAVE_FOR_JUDGE_FAILURE,
    WaveCounts,
    clearly_below_guard,
    success_rate_upper_bound,
)


@pytest.mark.parametrize(
    ("succeeded", "failed", "fires"),
    [(0, 3, True), (0, 2, False), (8, 9, True), (9, 8, False), (22, 15, True), (16, 4, False)],
)
def test_clearly_below_the_default_guard(succeeded: int, failed: int, fires: bool) -> None:
    assert clearly_below_guard(succeeded, failed, 0.8) is fires


def test_nothing_finished_is_never_below_the_guard() -> None:
    assert success_rate_upper_bound(0, 0) == 1.0
    assert not clearly_below_guard(0, 0, 0.8)


def test_the_bound_contains_the_rate_and_shrinks_with_the_sample() -> None:
    bounds = [success_rate_upper_bound(k, k) for k in (5, 50, 500)]
    assert all(0.5 < bound <= 1.0 for bound in bounds)
    assert bounds == sorted(bounds, reverse=True)


@pytest.mark.parametrize(("failure_rate", "most"), [(0.1, 0.002), (0.2, 0.04)])
def test_a_healthy_judge_rarely_trips_the_early_rule(failure_rate: float, most: float) -> None:
    """Checked at every decision of a 30-wave batch of waves of 10: a judge failing 10 % of
    the time trips the early rule in < 0.2 % of runs; one failing 20 % (exactly at the default
    guard, which the cap's point rule fails about half the time) in < 4 %."""
    rng = np.random.default_rng(20261129)
    runs, tripped = 4000, 0
    finished = np.arange(10, 301, 10)
    for _ in range(runs):
        failures = np.cumsum(rng.random(300) < failure_rate)[9::10]
        pairs = zip(finished.tolist(), failures.tolist(), strict=True)
        tripped += any(clearly_below_guard(n - f, f, 0.8) for n, f in pairs)
    assert tripped / runs < most


def test_wave_counts_subtract_and_judge_evidence() -> None:
    wave = WaveCounts(30, 20, 8) - WaveCounts(20, 14, 4)
    assert wave == WaveCounts(10, 6, 4)
    assert wave.has_evidence
    assert not WaveCounts(10, 4, 6).has_evidence, "a mostly failed wave is no evidence"
    assert not WaveCounts(0, 0, 0).has_evidence, "an empty wave is no evidence"


def test_a_whole_failed_wave_condemns_the_judge_only_from_the_minimum_size() -> None:
    size = MIN_WAVE_FOR_JUDGE_FAILURE
    assert WaveCounts(size, 0, size).judge_failed_all
    assert not WaveCounts(size - 1, 0, size - 1).judge_failed_all
    assert not WaveCounts(size + 1, 0, size).judge_failed_all, "one was still pending or lost"
