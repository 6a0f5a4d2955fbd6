"""``cj.relay_outbox``: deliver committed result events to the producers' tasks.

At least once: an event is marked sent only after the broker accepted it, so a crash in
between sends it again on the next run (beat runs the relay every sweep interval, and
finalization nudges it); two relays running at once may both send an event. Sending
happens outside any transaction, so no database lock is held while the broker (or, in
eager mode, the receiving task) runs.

This is the one shell that does not go through :func:`cj_worker.tasks.unit_of_work.run`:
its order is the reverse (send, then commit that it was sent, one event at a time, so one
refused event does not hold back the others), and the events it sends were committed by
the finalization's unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cj_worker import metrics, task_names
from cj_worker.db import repositories
from cj_worker.db.engine import session_scope
from cj_worker.tasks.base import Message, cj_task, database_url, log, send
from cj_worker.tasks.messages import result_event_message

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
                result_event_message(
                    event.task_name, event.queue, str(event.event_type), event.payload
                ),
            )
            for event in repositories.pending_outbox(session, RELAY_BATCH_SIZE)
        ]
    sent = 0
    for event in pending:
        try:
            send([event.message])
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
