"""The messages one task sends to another, built in one place.

Intake, the callback, the sweep and the continuation all trigger a continuation or a
finalization; built here, a trigger has one shape (task name, keyword names, id as a
string) whichever shell sends it, and a receiving task's signature changes in one place.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from cj_worker import task_names
from cj_worker.tasks.base import Message


def continue_batch_message(batch_id: uuid.UUID, wave: int) -> Message:
    """``cj.continue_batch``: decide after ``wave`` (0 is the decision at intake)."""
    return Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": wave})


def finalize_message(batch_id: uuid.UUID, *, failure: bool) -> Message:
    """``cj.finalize_failure`` if ``failure``, else ``cj.finalize_scoring``."""
    task = task_names.FINALIZE_FAILURE if failure else task_names.FINALIZE_SCORING
    return Message(task, {"batch_id": str(batch_id)})


def relay_outbox_message() -> Message:
    """``cj.relay_outbox``: deliver committed result events now, not at the next beat."""
    return Message(task_names.RELAY_OUTBOX, {})


def result_event_message(
    task: str, queue: str, event_type: str, payload: Mapping[str, Any]
) -> Message:
    """A result event for the producer's ``task`` on its ``queue``."""
    return Message(task, {"event": {"type": event_type, **payload}}, queue=queue)
