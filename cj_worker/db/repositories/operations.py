"""Figures an operator watches: what is waiting on judges, on the broker, and in flight."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Batch, Comparison, OutboxEvent
from cj_worker.db.states import LIVE_STATES, BatchState, ComparisonRowStatus

__all__ = ["LIVE_STATES", "STATEMENT_TIMEOUT_MS", "Backlog", "backlog"]

STATEMENT_TIMEOUT_MS = 5_000
"""A scrape must not hang on a locked or overloaded database."""


@dataclass(frozen=True)
class Backlog:
    pending_comparisons: int
    oldest_pending_comparison: datetime | None
    outbox_backlog: int
    oldest_outbox_event: datetime | None
    live_batches: dict[BatchState, int] = field(default_factory=dict)


def backlog(session: Session) -> Backlog:
    """Pending comparisons of unfinished batches, undelivered events, batches by state.

    Pending rows are counted through the unfinished batches (few) and the
    ``(batch_id, status)`` index, not by scanning every comparison ever made; undelivered
    events use the partial index on unsent outbox rows.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
    live = Batch.state.in_(LIVE_STATES)
    pending, oldest_pending = session.execute(
        sa.select(sa.func.count(), sa.func.min(Comparison.created_at))
        .select_from(Comparison)
        .join(Batch, Batch.id == Comparison.batch_id)
        .where(live, Comparison.status == ComparisonRowStatus.PENDING)
    ).one()
    unsent, oldest_unsent = session.execute(
        sa.select(sa.func.count(), sa.func.min(OutboxEvent.created_at)).where(
            OutboxEvent.sent_at.is_(None)
        )
    ).one()
    by_state = session.execute(
        sa.select(Batch.state, sa.func.count()).where(live).group_by(Batch.state)
    )
    return Backlog(
        pending_comparisons=int(pending),
        oldest_pending_comparison=oldest_pending,
        outbox_backlog=int(unsent),
        oldest_outbox_event=oldest_unsent,
        live_batches={BatchState(state): int(count) for state, count in by_state},
    )
