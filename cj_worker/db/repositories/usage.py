"""What a batch's judging cost: tokens, time, HTTP attempts and money, per batch and judge.

The callback stores each answer's usage on its comparison row (LLM judges report it; other
judges leave the columns NULL); here it is summed for ``status``, ``export`` and the result
event. Costs are only as complete as the batch's price table: a row without a cost is
counted as ``unpriced`` rather than as free, and the cost is None when no row had one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Comparison

__all__ = ["BatchUsage", "UsageSums", "batch_usage"]


@dataclass(frozen=True)
class UsageSums:
    """Sums over the comparisons that reported usage."""

    comparisons: int = 0
    """Answers (succeeded or failed) that reported usage."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: float = 0.0
    """Sum of the answered requests' round trips."""
    attempts: int = 0
    """HTTP requests sent; ``attempts - comparisons`` were retries."""
    cost: float | None = None
    """Sum of the priced answers' costs; None if none was priced."""
    unpriced: int = 0
    """Answers without a cost (no price for their model, or no token counts)."""

    @property
    def retries(self) -> int:
        return max(0, self.attempts - self.comparisons)

    @property
    def mean_latency_seconds(self) -> float | None:
        return self.latency_seconds / self.comparisons if self.comparisons else None

    def __add__(self, other: UsageSums) -> UsageSums:
        costs = [c for c in (self.cost, other.cost) if c is not None]
        return UsageSums(
            comparisons=self.comparisons + other.comparisons,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            latency_seconds=self.latency_seconds + other.latency_seconds,
            attempts=self.attempts + other.attempts,
            cost=sum(costs) if costs else None,
            unpriced=self.unpriced + other.unpriced,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "comparisons": self.comparisons,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "latency_seconds": self.latency_seconds,
            "mean_latency_seconds": self.mean_latency_seconds,
            "attempts": self.attempts,
            "retries": self.retries,
            "cost": self.cost,
            "unpriced": self.unpriced,
        }


@dataclass(frozen=True)
class BatchUsage:
    """A batch's usage in total and per ``judge_id`` (a panel's models apart)."""

    total: UsageSums
    judges: dict[str | None, UsageSums] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.total.as_dict(),
            "judges": [
                {"judge_id": judge_id, **sums.as_dict()} for judge_id, sums in self.judges.items()
            ],
        }


def batch_usage(session: Session, batch_id: uuid.UUID) -> BatchUsage | None:
    """The batch's usage sums; None if no answer reported any (a non-LLM judge).

    One grouped query over the batch's comparison rows (indexed by batch).
    """
    reported = Comparison.attempts.is_not(None)
    statement = (
        sa.select(
            Comparison.judge_id,
            sa.func.count(Comparison.attempts),
            sa.func.coalesce(sa.func.sum(Comparison.prompt_tokens), 0),
            sa.func.coalesce(sa.func.sum(Comparison.completion_tokens), 0),
            sa.func.coalesce(sa.func.sum(Comparison.latency_seconds), 0.0),
            sa.func.coalesce(sa.func.sum(Comparison.attempts), 0),
            sa.func.sum(Comparison.cost),
            sa.func.count(Comparison.cost),
        )
        .where(Comparison.batch_id == batch_id, reported)
        .group_by(Comparison.judge_id)
        .order_by(Comparison.judge_id)
    )
    judges: dict[str | None, UsageSums] = {}
    for row in session.execute(statement):
        judge_id, answered, prompt, completion, latency, attempts, cost, priced = row
        judges[judge_id] = UsageSums(
            comparisons=int(answered),
            prompt_tokens=int(prompt or 0),
            completion_tokens=int(completion or 0),
            latency_seconds=float(latency or 0.0),
            attempts=int(attempts or 0),
            cost=None if not priced or cost is None else float(cost),
            unpriced=int(answered) - int(priced),
        )
    if not judges:
        return None
    total = sum(judges.values(), UsageSums())
    return BatchUsage(total, judges)
