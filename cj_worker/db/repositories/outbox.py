"""The transactional outbox: result events committed with the state change they report.

Finalization writes the event in its own transaction; a relay sends pending events to
Celery afterwards and marks them, so an event is neither lost when the broker is down nor
published for a change that rolled back (delivery is at least once).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.column_types import utc_now
from cj_worker.db.models import OutboxEvent
from cj_worker.db.repositories.conflicts import insert_unless_exists
from cj_worker.db.states import OutboxEventType


def add_outbox_event(
    session: Session,
    batch_id: uuid.UUID,
    event_type: OutboxEventType,
    task_name: str,
    queue: str,
    payload: Mapping[str, Any],
) -> bool:
    """Queue the batch's event; False, changing nothing, if it is already queued."""
    return insert_unless_exists(
        session,
        OutboxEvent,
        {
            "batch_id": batch_id,
            "event_type": event_type,
            "task_name": task_name,
            "queue": queue,
            "payload": dict(payload),
        },
        unique_key=("batch_id", "event_type"),
    )


def pending_outbox(session: Session, limit: int) -> list[OutboxEvent]:
    """The oldest unsent events, locked; concurrent relays skip each other's rows."""
    statement = (
        sa.select(OutboxEvent)
        .where(OutboxEvent.sent_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(statement))


def mark_outbox_sent(session: Session, event_id: int) -> None:
    """Record a successful send; marking an event twice keeps the first time."""
    session.execute(
        sa.update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.sent_at.is_(None))
        .values(sent_at=utc_now(), attempts=OutboxEvent.attempts + 1, last_error=None)
    )


def record_outbox_failure(session: Session, event_id: int, error: str) -> None:
    """Record a failed send; the event stays pending for the next relay run."""
    session.execute(
        sa.update(OutboxEvent)
        .where(OutboxEvent.id == event_id)
        .values(attempts=OutboxEvent.attempts + 1, last_error=error)
    )
