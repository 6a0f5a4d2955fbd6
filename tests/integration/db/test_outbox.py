"""The outbox holds one event of each type per batch until a relay marks it sent."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import OutboxEvent
from cj_worker.db.repositories import (
    add_outbox_event,
    mark_outbox_sent,
    pending_outbox,
    record_outbox_failure,
)
from cj_worker.db.states import OutboxEventType
from tests.builders.db import make_batch

COMPLETED = OutboxEventType.BATCH_COMPLETED
TASK = "producer.on_result"
QUEUE = "producer.results"


def _pending_of(session: Session, *batch_ids: uuid.UUID) -> list[OutboxEvent]:
    # The PostgreSQL database is shared by the run: ignore other tests' events.
    return [event for event in pending_outbox(session, 1000) if event.batch_id in batch_ids]


def test_add_outbox_event_is_idempotent_per_batch_and_type(session: Session) -> None:
    batch = make_batch(session, 2)
    assert add_outbox_event(session, batch.id, COMPLETED, TASK, QUEUE, {"rank": [1]})
    assert not add_outbox_event(session, batch.id, COMPLETED, "other.task", QUEUE, {"rank": [2]})
    assert add_outbox_event(session, batch.id, OutboxEventType.BATCH_FAILED, TASK, QUEUE, {})
    events = session.scalars(
        sa.select(OutboxEvent).where(OutboxEvent.batch_id == batch.id).order_by(OutboxEvent.id)
    ).all()
    assert [(e.event_type, e.task_name, e.payload) for e in events] == [
        (COMPLETED, TASK, {"rank": [1]}),
        (OutboxEventType.BATCH_FAILED, TASK, {}),
    ]


def test_pending_outbox_lists_unsent_events_oldest_first(session: Session) -> None:
    first, second = make_batch(session, 2), make_batch(session, 2)
    add_outbox_event(session, second.id, COMPLETED, TASK, QUEUE, {})
    add_outbox_event(session, first.id, COMPLETED, TASK, QUEUE, {})
    assert [event.batch_id for event in _pending_of(session, first.id, second.id)] == [
        second.id,
        first.id,
    ]


def test_mark_outbox_sent(session: Session) -> None:
    batch = make_batch(session, 2)
    add_outbox_event(session, batch.id, COMPLETED, TASK, QUEUE, {})
    (event,) = _pending_of(session, batch.id)

    mark_outbox_sent(session, event.id)
    session.refresh(event)
    sent_at = event.sent_at
    assert sent_at is not None
    assert sent_at.tzinfo is not None
    assert event.attempts == 1
    assert _pending_of(session, batch.id) == []

    mark_outbox_sent(session, event.id)
    session.refresh(event)
    assert (event.sent_at, event.attempts) == (sent_at, 1)


def test_a_failed_send_stays_pending(session: Session) -> None:
    batch = make_batch(session, 2)
    add_outbox_event(session, batch.id, COMPLETED, TASK, QUEUE, {})
    (event,) = _pending_of(session, batch.id)

    record_outbox_failure(session, event.id, "broker unreachable")
    session.refresh(event)
    assert (event.attempts, event.last_error, event.sent_at) == (1, "broker unreachable", None)
    assert _pending_of(session, batch.id) == [event]
