"""The message factory builds what the receiving tasks accept."""

from __future__ import annotations

import inspect
import uuid

import pytest
from celery import Celery

from cj_worker import task_names
from cj_worker.tasks.base import Message
from cj_worker.tasks.messages import (
    continue_batch_message,
    finalize_message,
    relay_outbox_message,
    result_event_message,
)

BATCH = uuid.UUID("2b0f6a43-5c1e-4f7b-9d2a-8e3c4b5a6d7e")


@pytest.mark.parametrize(
    ("message", "task"),
    [
        (continue_batch_message(BATCH, 3), task_names.CONTINUE_BATCH),
        (finalize_message(BATCH, failure=False), task_names.FINALIZE_SCORING),
        (finalize_message(BATCH, failure=True), task_names.FINALIZE_FAILURE),
        (relay_outbox_message(), task_names.RELAY_OUTBOX),
    ],
)
def test_each_trigger_binds_to_its_task_s_signature(
    eager_app: Celery, message: Message, task: str
) -> None:
    assert message.task == task
    inspect.signature(eager_app.tasks[task].run).bind(**message.kwargs)
    assert message.route == task_names.ROUTES[task]


def test_ids_travel_as_strings_so_the_json_serializer_takes_them() -> None:
    assert continue_batch_message(BATCH, 0).kwargs == {"batch_id": str(BATCH), "wave": 0}
    assert finalize_message(BATCH, failure=True).kwargs == {"batch_id": str(BATCH)}


def test_a_result_event_goes_to_the_producer_s_task_and_queue() -> None:
    message = result_event_message("producer.on_result", "results", "batch.failed", {"ssr": None})

    assert message == Message(
        "producer.on_result", {"event": {"type": "batch.failed", "ssr": None}}, queue="results"
    )
    assert message.route == "results"
