"""One index of a net's unordered pairs, read by both the decision and the pair planner.

The decision asks "are there pairs left for a COVERAGE / RESAMPLING wave?" and the planner
then picks them. When each computed eligibility on its own they could disagree (the decision
expecting pairs the planner would not find), and the continuation needed a second decision
for that case. Both now read this one index, built once per step from the history.

A pair is keyed ``low * n + high`` (int64), so sets of pairs are sorted numpy arrays and
every question is a vectorised set operation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cj_worker.core.array_types import BoolArray, IntArray, KeyArray
from cj_worker.core.history import ComparisonHistory


def max_possible_pairs(essay_count: int) -> int:
    """n(n-1)/2 over all essays of the batch, anchors included."""
    return essay_count * (essay_count - 1) // 2 if essay_count > 1 else 0


@dataclass(frozen=True)
class PairAvailability:
    """How many pairs each generation mode could still choose from."""

    coverage: int
    """Uncovered pairs with no pending attempt and fewer than the maximum failed attempts."""
    resampling: int
    """Pairs with at least one success and no pending attempt."""

    @classmethod
    def of(cls, history: ComparisonHistory, max_attempts_per_pair: int) -> PairAvailability:
        return PairIndex(history).availability(max_attempts_per_pair)


def sorted_unique(keys: KeyArray) -> tuple[KeyArray, KeyArray]:
    """Distinct keys in ascending order and how often each occurs.

    ``np.unique`` on numpy 2.4 hashes integer arrays before sorting, which measured
    1.7 s for a million pair keys; sorting and comparing neighbours takes milliseconds.
    """
    ordered = np.sort(keys, kind="stable")
    if ordered.size == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, ordered.size)).astype(np.int64)
    return ordered[starts], counts


class PairIndex:
    """Per unordered pair: successes, failures, pending rows, and orientations judged."""

    def __init__(self, history: ComparisonHistory) -> None:
        self.n = history.n_essays
        keys = history.pair_keys()
        self.succeeded, _ = sorted_unique(keys[history.succeeded])
        self.pending, _ = sorted_unique(keys[history.pending])
        self.failed_keys, self.failed_counts = sorted_unique(keys[history.failed])
        self.all_keys, self.attempts = sorted_unique(keys)
        # Orientations a judge actually decided: a failed or pending row showed nothing, so
        # it must not stop RESAMPLING from asking for the orientation still unjudged.
        forward = history.slot_a < history.slot_b
        self.forward_keys, _ = sorted_unique(keys[forward & history.succeeded])
        self.backward_keys, _ = sorted_unique(keys[~forward & history.succeeded])
        self._blocked: dict[int, KeyArray] = {}

    def key(self, first: IntArray, second: IntArray) -> KeyArray:
        low = np.minimum(first, second).astype(np.int64)
        high = np.maximum(first, second).astype(np.int64)
        return low * np.int64(self.n) + high

    @property
    def successful_pairs(self) -> int:
        """Distinct unordered pairs with at least one succeeded comparison."""
        return int(self.succeeded.size)

    def coverage_blocked(self, max_attempts: int) -> KeyArray:
        """Pairs COVERAGE may not pick: covered, in flight, or out of attempts (sorted)."""
        if max_attempts not in self._blocked:
            exhausted = self.failed_keys[self.failed_counts >= max_attempts]
            together = np.concatenate((self.succeeded, self.pending, exhausted))
            self._blocked[max_attempts], _ = sorted_unique(together)
        return self._blocked[max_attempts]

    def coverage_eligible(self, keys: KeyArray, max_attempts: int) -> BoolArray:
        return ~_contains(self.coverage_blocked(max_attempts), keys)

    def resampling_candidates(self) -> KeyArray:
        """Pairs RESAMPLING may pick: judged at least once and not in flight (sorted)."""
        return self.succeeded[~_contains(self.pending, self.succeeded)]

    def judged_forward(self, keys: KeyArray) -> BoolArray:
        """Whether each pair was decided with its lower essay in slot A."""
        return _contains(self.forward_keys, keys)

    def judged_backward(self, keys: KeyArray) -> BoolArray:
        return _contains(self.backward_keys, keys)

    def availability(self, max_attempts: int) -> PairAvailability:
        coverage = max_possible_pairs(self.n) - self.coverage_blocked(max_attempts).size
        return PairAvailability(
            coverage=int(coverage), resampling=int(self.resampling_candidates().size)
        )

    def attempts_of(self, keys: KeyArray) -> KeyArray:
        """Rows (any status) each pair already has."""
        if self.all_keys.size == 0:
            return np.zeros(keys.size, dtype=np.int64)
        position = np.searchsorted(self.all_keys, keys).clip(max=self.all_keys.size - 1)
        attempts: KeyArray = np.where(self.all_keys[position] == keys, self.attempts[position], 0)
        return attempts


def _contains(sorted_keys: KeyArray, keys: KeyArray) -> BoolArray:
    """Membership of ``keys`` in an ascending array, by binary search (no hashing)."""
    if sorted_keys.size == 0:
        return np.zeros(keys.size, dtype=bool)
    position = np.searchsorted(sorted_keys, keys).clip(max=sorted_keys.size - 1)
    found: BoolArray = sorted_keys[position] == keys
    return found
