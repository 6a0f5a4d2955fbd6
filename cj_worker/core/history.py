"""The comparison history of one net, as the pure core sees it.

Essays are numbered 0..n-1 (their position in the batch); a comparison is a row with the
essays in slot A and slot B, a status and, when it succeeded, which slot won. The shells
(database, harness) build one of these per decision; the core never sees ids or sessions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cj_worker.core.array_types import BoolArray, IntArray
from cj_worker.core.errors import CJWorkerError


class ComparisonStatus(enum.IntEnum):
    """Status of one comparison row; TIMED_OUT counts as a failed attempt."""

    PENDING = 0
    SUCCEEDED = 1
    FAILED = 2
    TIMED_OUT = 3


class HistoryError(CJWorkerError, ValueError):
    """The history arrays are inconsistent (wrong lengths, bad essay index, self-pair)."""


@dataclass(frozen=True)
class ComparisonHistory:
    """Every comparison of a net so far, as parallel arrays."""

    n_essays: int
    slot_a: IntArray
    slot_b: IntArray
    status: NDArray[np.int8]
    a_won: BoolArray
    """Meaningful only where status is SUCCEEDED."""

    def __post_init__(self) -> None:
        size = self.slot_a.size
        if self.n_essays < 0:
            raise HistoryError(f"n_essays must be >= 0, got {self.n_essays}")
        if not (self.slot_b.size == self.status.size == self.a_won.size == size):
            raise HistoryError("slot_a, slot_b, status and a_won must have the same length")
        if size == 0:
            return
        low = min(int(self.slot_a.min()), int(self.slot_b.min()))
        high = max(int(self.slot_a.max()), int(self.slot_b.max()))
        if low < 0 or high >= self.n_essays:
            raise HistoryError(f"essay indices must lie in 0..{self.n_essays - 1}")
        if np.any(self.slot_a == self.slot_b):
            raise HistoryError("a comparison cannot put the same essay in both slots")

    @classmethod
    def empty(cls, n_essays: int) -> ComparisonHistory:
        return cls.from_rows(n_essays, [])

    @classmethod
    def from_rows(
        cls,
        n_essays: int,
        rows: Iterable[tuple[int, int, ComparisonStatus, bool]],
    ) -> ComparisonHistory:
        """Build from ``(slot_a, slot_b, status, a_won)`` tuples."""
        materialised = list(rows)
        if not materialised:
            return cls(
                n_essays,
                np.zeros(0, np.intp),
                np.zeros(0, np.intp),
                np.zeros(0, np.int8),
                np.zeros(0, np.bool_),
            )
        a, b, status, a_won = zip(*materialised, strict=True)
        return cls(
            n_essays,
            np.asarray(a, dtype=np.intp),
            np.asarray(b, dtype=np.intp),
            np.asarray([int(s) for s in status], dtype=np.int8),
            np.asarray(a_won, dtype=np.bool_),
        )

    def extended(
        self,
        slot_a: IntArray,
        slot_b: IntArray,
        status: NDArray[np.int8],
        a_won: BoolArray,
    ) -> ComparisonHistory:
        """A new history with more rows appended (the harness adds a judged wave)."""
        return ComparisonHistory(
            self.n_essays,
            np.concatenate((self.slot_a, np.asarray(slot_a, np.intp))),
            np.concatenate((self.slot_b, np.asarray(slot_b, np.intp))),
            np.concatenate((self.status, np.asarray(status, np.int8))),
            np.concatenate((self.a_won, np.asarray(a_won, np.bool_))),
        )

    @property
    def size(self) -> int:
        return int(self.slot_a.size)

    @property
    def succeeded(self) -> BoolArray:
        return np.equal(self.status, ComparisonStatus.SUCCEEDED)

    @property
    def failed(self) -> BoolArray:
        return np.isin(self.status, (ComparisonStatus.FAILED, ComparisonStatus.TIMED_OUT))

    @property
    def pending(self) -> BoolArray:
        return np.equal(self.status, ComparisonStatus.PENDING)

    def outcomes(self) -> tuple[IntArray, IntArray]:
        """(winners, losers) of the succeeded comparisons, for the BT fit."""
        ok = self.succeeded
        a, b, a_won = self.slot_a[ok], self.slot_b[ok], self.a_won[ok]
        return np.where(a_won, a, b), np.where(a_won, b, a)

    def pair_keys(self) -> NDArray[np.int64]:
        """Unordered pair key min * n + max of every row."""
        low = np.minimum(self.slot_a, self.slot_b).astype(np.int64)
        high = np.maximum(self.slot_a, self.slot_b).astype(np.int64)
        return low * np.int64(self.n_essays) + high

    def appearances(self, mask: BoolArray | None = None) -> NDArray[np.int64]:
        """How many rows (optionally only those in ``mask``) each essay appears in."""
        a, b = (
            (self.slot_a, self.slot_b) if mask is None else (self.slot_a[mask], self.slot_b[mask])
        )
        return np.bincount(a, minlength=self.n_essays) + np.bincount(b, minlength=self.n_essays)

    def slot_a_counts(self) -> NDArray[np.int64]:
        return np.bincount(self.slot_a, minlength=self.n_essays)

    def slot_b_counts(self) -> NDArray[np.int64]:
        return np.bincount(self.slot_b, minlength=self.n_essays)
