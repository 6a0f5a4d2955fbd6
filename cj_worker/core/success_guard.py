"""When the judges' failures end a batch before any cap (SPEC section 6, "lost is not failed").

At a cap the guard is the plain rate rule (``succeeded / finished >= MIN_SUCCESS_RATE``). Before
a cap, a small sample must not end a healthy batch by chance, yet a dead judge must end it at
the wave that shows it rather than hours later. Two rules do that:

- **a whole wave failed**: every comparison of the wave just judged failed, and it had at least
  :data:`MIN_WAVE_FOR_JUDGE_FAILURE` comparisons (a judge failing 20 % of the time, the most the
  default guard allows, fails a wave of 3 by chance 0.8 % of the time);
- **clearly below the guard**: the one-sided upper confidence bound (Wilson score, z = 3.09,
  i.e. 99.9 %: the test is repeated at every decision) of the success rate lies below
  ``MIN_SUCCESS_RATE``. With the default 0.8 it fires after 3 finished comparisons at a 0 %
  success rate, 17 at 50 %, 37 at 60 % and 149 at 70 %.

Only failures a judge gave (or silence after the re-sends) reach these counts: comparisons lost
in transit are re-sent, not booked as failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_WAVE_FOR_JUDGE_FAILURE = 3
"""A wave at least this large, failed whole, ends the batch (``judge_failed_wave``)."""
EARLY_GUARD_Z = 3.09
"""One-sided 99.9 % normal quantile of the early success-rate test."""


@dataclass(frozen=True)
class WaveCounts:
    """Comparisons of one span of the history by outcome (the wave just judged, or totals)."""

    submitted: int = 0
    succeeded: int = 0
    failed: int = 0

    def __sub__(self, other: WaveCounts) -> WaveCounts:
        return WaveCounts(
            self.submitted - other.submitted,
            self.succeeded - other.succeeded,
            self.failed - other.failed,
        )

    @property
    def has_evidence(self) -> bool:
        """At least half of the wave succeeded: enough new judgements to test stability.

        A wave that came back empty or mostly failed leaves the scores where they were, and
        "the scores did not move" is then silence, not evidence that they settled.
        """
        return self.submitted > 0 and 2 * self.succeeded >= self.submitted

    @property
    def judge_failed_all(self) -> bool:
        return self.submitted >= MIN_WAVE_FOR_JUDGE_FAILURE and self.failed == self.submitted


def success_rate_upper_bound(succeeded: int, failed: int, z: float = EARLY_GUARD_Z) -> float:
    """Wilson score upper bound of the success rate; 1.0 before anything finished."""
    finished = succeeded + failed
    if finished == 0:
        return 1.0
    p = succeeded / finished
    centre = p + z * z / (2 * finished)
    spread = z * math.sqrt(p * (1 - p) / finished + z * z / (4 * finished * finished))
    return min(1.0, (centre + spread) / (1 + z * z / finished))


def clearly_below_guard(succeeded: int, failed: int, min_success_rate: float) -> bool:
    """The success rate is below the guard beyond reasonable doubt (see the module text)."""
    return success_rate_upper_bound(succeeded, failed) < min_success_rate
