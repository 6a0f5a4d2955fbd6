"""Coverage of the n-choose-2 comparison graph and the small-net flag (SPEC section 5).

Phase 1 (COVERAGE) aims to judge every unordered pair once; these metrics say how far it
got. Only *succeeded* comparisons cover a pair: a pair whose attempts all failed stays
uncovered and eligible for retry until it has ``max_attempts_per_pair`` failures.
"""

from __future__ import annotations

from dataclasses import dataclass

from cj_worker.core.errors import CJWorkerError
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pair_index import PairIndex, max_possible_pairs, sorted_unique


def successful_pairs_count(history: ComparisonHistory) -> int:
    """Distinct unordered pairs with at least one succeeded comparison."""
    return int(sorted_unique(history.pair_keys()[history.succeeded])[0].size)


def unique_coverage_complete(max_pairs: int, successful_pairs: int) -> bool:
    return max_pairs > 0 and successful_pairs >= max_pairs


def is_small_net(essay_count: int, min_resampling_net_size: int) -> bool:
    """Small nets get their own resampling cap; the bound is inclusive."""
    return essay_count <= min_resampling_net_size


class CoverageRegressionError(CJWorkerError, RuntimeError):
    """Coverage counted from the history fell below the persisted count (lost rows)."""


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

    @classmethod
    def of_index(cls, index: PairIndex) -> CoverageMetrics:
        return cls(max_possible_pairs(index.n), index.successful_pairs)

    def never_behind(self, previous: CoverageMetrics | None) -> CoverageMetrics:
        """This measurement, asserted to be no smaller than the one persisted before.

        Coverage is counted from the whole history, which only grows; a smaller count means
        comparisons vanished from the store, which no decision should be taken on.
        """
        if previous is not None and (
            self.max_possible_pairs < previous.max_possible_pairs
            or self.successful_pairs_count < previous.successful_pairs_count
        ):
            raise CoverageRegressionError(
                f"coverage moved backwards: {previous} -> {self}; comparisons were lost"
            )
        return self


__all__ = [
    "CoverageMetrics",
    "CoverageRegressionError",
    "is_small_net",
    "max_possible_pairs",
    "successful_pairs_count",
    "unique_coverage_complete",
]
