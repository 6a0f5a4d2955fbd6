"""Coverage of the n-choose-2 comparison graph and the small-net flag (SPEC section 5).

Phase 1 (COVERAGE) aims to judge every unordered pair once; these metrics say how far it
got. Only *succeeded* comparisons cover a pair: a pair whose attempts all failed stays
uncovered and eligible for retry until it has ``max_attempts_per_pair`` failures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cj_worker.core.history import ComparisonHistory


def max_possible_pairs(essay_count: int) -> int:
    """n(n-1)/2 over all essays of the batch, anchors included."""
    return essay_count * (essay_count - 1) // 2 if essay_count > 1 else 0


def successful_pairs_count(history: ComparisonHistory) -> int:
    """Distinct unordered pairs with at least one succeeded comparison."""
    return int(np.unique(history.pair_keys()[history.succeeded]).size)


def unique_coverage_complete(max_pairs: int, successful_pairs: int) -> bool:
    return max_pairs > 0 and successful_pairs >= max_pairs


def is_small_net(essay_count: int, min_resampling_net_size: int) -> bool:
    """Small nets get their own resampling cap; the bound is inclusive."""
    return essay_count <= min_resampling_net_size


@dataclass(frozen=True)
class CoverageMetrics:
    """The coverage keys persisted in a batch's ``processing_metadata``."""

    max_possible_pairs: int
    successful_pairs_count: int

    @property
    def unique_coverage_complete(self) -> bool:
        return unique_coverage_complete(self.max_possible_pairs, self.successful_pairs_count)

    @classmethod
    def of(cls, history: ComparisonHistory) -> CoverageMetrics:
        return cls(max_possible_pairs(history.n_essays), successful_pairs_count(history))

    def advanced_by(self, other: CoverageMetrics) -> CoverageMetrics:
        """Merge with a fresh measurement; counts never move backwards."""
        return CoverageMetrics(
            max(self.max_possible_pairs, other.max_possible_pairs),
            max(self.successful_pairs_count, other.successful_pairs_count),
        )


@dataclass(frozen=True)
class PairAvailability:
    """How many pairs each generation mode could still choose from."""

    coverage: int
    """Uncovered pairs with no pending attempt and fewer than the maximum failed attempts."""
    resampling: int
    """Pairs with at least one success and no pending attempt."""

    @classmethod
    def of(cls, history: ComparisonHistory, max_attempts_per_pair: int) -> PairAvailability:
        keys = history.pair_keys()
        covered = np.unique(keys[history.succeeded])
        pending = np.unique(keys[history.pending])
        failed_keys, failed_counts = np.unique(keys[history.failed], return_counts=True)
        exhausted = failed_keys[failed_counts >= max_attempts_per_pair]
        blocked = np.union1d(np.union1d(covered, pending), exhausted)
        coverage = max_possible_pairs(history.n_essays) - blocked.size
        resampling = np.setdiff1d(covered, pending, assume_unique=True).size
        return cls(coverage=int(coverage), resampling=int(resampling))
