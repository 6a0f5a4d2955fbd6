"""The succeeded comparisons of a batch as results need them: slots, outcome, judge.

Kept apart from :mod:`cj_worker.core.batch_report` so that the database layer, which builds
these from rows, does not import the statistics (and scipy) just to name the type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cj_worker.core.array_types import BoolArray, IntArray


@dataclass(frozen=True)
class Judgements:
    """The succeeded comparisons of a batch: slots, outcome and who judged."""

    n_essays: int
    slot_a: IntArray
    slot_b: IntArray
    a_won: BoolArray
    judge: IntArray
    """Index of the judge of each comparison, < ``n_judges``."""
    n_judges: int

    def __post_init__(self) -> None:
        size = self.slot_a.size
        if not self.slot_b.size == self.a_won.size == self.judge.size == size:
            raise ValueError("slot_a, slot_b, a_won and judge must have the same length")
        if size and (int(self.judge.min()) < 0 or int(self.judge.max()) >= self.n_judges):
            raise ValueError(f"judge indices must lie in 0..{self.n_judges - 1}")

    def outcomes(self) -> tuple[IntArray, IntArray]:
        """(winners, losers), the Bradley-Terry fit's input."""
        return (
            np.where(self.a_won, self.slot_a, self.slot_b).astype(np.intp),
            np.where(self.a_won, self.slot_b, self.slot_a).astype(np.intp),
        )

    def without_judges(self, judges: IntArray) -> Judgements:
        """The same batch without the comparisons of ``judges`` (indices keep their meaning)."""
        kept = ~np.isin(self.judge, judges)
        return Judgements(
            self.n_essays,
            self.slot_a[kept],
            self.slot_b[kept],
            self.a_won[kept],
            self.judge[kept],
            self.n_judges,
        )
