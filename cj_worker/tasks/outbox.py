"""``cj.relay_outbox``: deliver committed result events to the producers' tasks.

At least once: an event is marked sent only after the broker accepted it, so a crash in
between sends it again on the next run (beat runs the relay every sweep interval, and
finalization nudges it). Concurrent relays skip each other's rows (``SKIP LOCKED``).
"""

from __future__ import annotations

from cj_worker import task_names
from cj_worker.db import repositories
from cj_worker.db.engine import session_scope
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit

RELAY_BATCH_SIZE = 100


@cj_task(task_names.RELAY_OUTBOX)
def relay_outbox() -> int:
    """Send up to ``RELAY_BATCH_SIZE`` pending events; returns how many were sent."""
    sent = 0
    with session_scope(database_url()) as session:
        for event in repositories.pending_outbox(session, RELAY_BATCH_SIZE):
            try:
                # The rows locked here are outbox rows, never a batch row.
                send_after_commit(
                    [
                        Message(
                            event.task_name,
                            {"event": {"type": event.event_type, **event.payload}},
                        )
                    ]
                )
            except Exception as error:  # any broker failure leaves the event pending
                log.warning(
                    "outbox delivery failed; will retry",
                    extra={"batch_id": str(event.batch_id), "error": repr(error)},
                )
                repositories.record_outbox_failure(session, event.id, repr(error))
                continue
            repositories.mark_outbox_sent(session, event.id)
            sent += 1
    return sent
