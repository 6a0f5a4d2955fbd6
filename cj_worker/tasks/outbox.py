"""``cj.relay_outbox``: deliver committed result events to the producers' tasks.

At least once: an event is marked sent only after the broker accepted it, so a crash in
between sends it again on the next run (beat runs the relay every sweep interval, and
finalization nudges it); two relays running at once may both send an event. Sending
happens outside any transaction, so no database lock is held while the broker (or, in
eager mode, the receiving task) runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cj_worker import metrics, task_names
from cj_worker.db import repositories
from cj_worker.db.engine import session_scope
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit

RELAY_BATCH_SIZE = 100


@dataclass(frozen=True)
class _Pending:
    event_id: int
    batch_id: str
    message: Message


@cj_task(task_names.RELAY_OUTBOX)
def relay_outbox() -> int:
    """Send up to ``RELAY_BATCH_SIZE`` pending events; returns how many were sent."""
    url = database_url()
    with session_scope(url) as session:
        pending = [
            _Pending(
                event.id,
                str(event.batch_id),
                Message(
                    event.task_name,
                    {"event": {"type": str(event.event_type), **event.payload}},
                    queue=event.queue,
                ),
            )
            for event in repositories.pending_outbox(session, RELAY_BATCH_SIZE)
        ]
    sent = 0
    for event in pending:
        try:
            send_after_commit([event.message])
        except Exception as error:  # any broker failure leaves the event pending
            metrics.observe_outbox_delivery("failed")
            _record(url, event, error)
            continue
        metrics.observe_outbox_delivery("sent")
        with session_scope(url) as session:
            repositories.mark_outbox_sent(session, event.event_id)
        sent += 1
    return sent


def _record(url: str, event: _Pending, error: Exception) -> None:
    fields: dict[str, Any] = {"batch_id": event.batch_id, "error": repr(error)}
    log.warning("outbox delivery failed; will retry", extra=fields)
    with session_scope(url) as session:
        repositories.record_outbox_failure(session, event.event_id, repr(error))
