"""Score stability between consecutive decisions (SPEC section 6).

Stability is the max-change rule: enough successful comparisons, a previous score vector,
and no essay's score moving by more than the threshold. The success-rate guard is part of
it, so a batch whose judges mostly fail is never called stable.
"""

from __future__ import annotations

import numpy as np

from cj_worker.core.array_types import FloatArray


def max_score_change(now: FloatArray, previous: FloatArray) -> float:
    """Largest absolute change of any essay's score (logits); inf if the shapes differ."""
    if now.shape != previous.shape:
        return float("inf")
    if now.size == 0:
        return 0.0
    return float(np.max(np.abs(now - previous)))


def success_rate(succeeded: int, failed: int) -> float | None:
    """succeeded / (succeeded + failed); None before any comparison has finished."""
    finished = succeeded + failed
    return succeeded / finished if finished else None


def passes_success_guard(succeeded: int, failed: int, min_success_rate: float) -> bool:
    """True when the finished comparisons succeeded often enough (and at least one did)."""
    rate = success_rate(succeeded, failed)
    return rate is not None and succeeded > 0 and rate >= min_success_rate


def is_stable(
    *,
    succeeded: int,
    failed: int,
    scores_now: FloatArray | None,
    scores_previous: FloatArray | None,
    min_comparisons: int,
    threshold: float,
    min_success_rate: float,
) -> bool:
    if scores_now is None or scores_previous is None or succeeded < min_comparisons:
        return False
    if not passes_success_guard(succeeded, failed, min_success_rate):
        return False
    return max_score_change(scores_now, scores_previous) <= threshold
