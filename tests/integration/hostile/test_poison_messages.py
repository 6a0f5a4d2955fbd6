"""Raw garbage pushed straight into every cj queue: dead-lettered, and the worker goes on.

Before, one non-JSON string in a Redis queue stopped the worker and its pool
(``Unrecoverable error: JSONDecodeError``, celery#7975 / kombu#2421).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from typing import Any

import pytest

from cj_worker import client, dead_letters, task_names
from cj_worker.payloads import SimulatedJudge
from tests.integration.hostile.conftest import SECRET_TEXT, Deployment, essays
from tests.integration.pipeline.conftest import wait_terminal

pytestmark = pytest.mark.integration


def envelope(queue: str, body: bytes, headers: dict[str, Any], **changes: Any) -> str:
    """A message as kombu's Redis transport stores it."""
    message: dict[str, Any] = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "delivery_tag": str(uuid.uuid4()),
            "body_encoding": "base64",
            "delivery_mode": 2,
            "priority": 0,
            "delivery_info": {"exchange": queue, "routing_key": queue},
        },
    }
    message.update(changes)
    return json.dumps(message)


def task_headers(task: str, **more: Any) -> dict[str, Any]:
    return {"task": task, "id": str(uuid.uuid4()), "lang": "py", **more}


GARBAGE = [
    pytest.param(lambda q: "this is not JSON", "undecodable", id="not-json"),
    pytest.param(lambda q: '{"unterminated": ', "undecodable", id="broken-json"),
    pytest.param(lambda q: '"a JSON string"', "malformed_envelope", id="json-string"),
    pytest.param(lambda q: "[1, 2, 3]", "malformed_envelope", id="json-list"),
    pytest.param(lambda q: '{"body": "x"}', "malformed_envelope", id="no-properties"),
    pytest.param(
        lambda q: envelope(q, b"x", {}).replace('"eA=="', '"@@not base64@@"'),
        "undecodable_body",
        id="body-not-base64",
    ),
    pytest.param(
        lambda q: envelope(q, b"not json", task_headers("cj.sweep")),
        "undecodable_body",
        id="body-not-json",
    ),
    pytest.param(
        lambda q: envelope(q, b"[[], {}, {}]", {"id": "1"}),
        "unknown_message",
        id="not-a-task",
    ),
    pytest.param(
        lambda q: envelope(q, b"[[], {}, {}]", task_headers("cj.no_such_task")),
        "unknown_task",
        id="unknown-task",
    ),
    pytest.param(
        lambda q: envelope(q, b"[[], {}, {}]", {"task": "cj.sweep"}),
        "unhandled",
        id="task-without-an-id",
    ),
    pytest.param(
        lambda q: envelope(
            q,
            b"\x80\x04K\x01.",
            task_headers("cj.sweep"),
            **{"content-type": "application/x-python-serialize"},
        ),
        "invalid_task",
        id="pickle",
    ),
    pytest.param(
        lambda q: envelope(q, b'"a string body"', task_headers("cj.sweep")),
        "unhandled",
        id="body-of-the-wrong-shape",
    ),
]


@pytest.mark.parametrize("queue", task_names.QUEUES)
@pytest.mark.parametrize(("make", "reason"), GARBAGE)
def test_garbage_in_a_queue_is_dead_lettered_and_the_worker_goes_on(
    deployment: Deployment, queue: str, make: Any, reason: str
) -> None:
    raw = make(queue)
    before = len(deployment.dead_letters())

    with deployment.unchanged():
        deployment.broker.lpush(queue, raw)
        letters = deployment.wait_for_dead_letters(before + 1)

    newest = letters[0]
    assert (newest.queue, newest.reason) == (queue, reason)
    assert newest.error
    if reason in ("undecodable", "malformed_envelope", "undecodable_body"):
        assert newest.raw == raw, "kept as the broker held it, for replay"


def test_a_producer_s_task_on_a_cj_queue_is_dead_lettered_not_lost(
    deployment: Deployment,
) -> None:
    """The README's warning: cj workers do not know a producer's task names."""
    before = len(deployment.dead_letters())
    with deployment.unchanged():
        deployment.producer.send_task(
            "myapp.judge", kwargs={"request": {}}, queue=task_names.JUDGE_QUEUE
        )
        [newest, *_] = deployment.wait_for_dead_letters(before + 1)
    assert (newest.queue, newest.reason) == (task_names.JUDGE_QUEUE, "unknown_task")
    assert "myapp.judge" in newest.error


def test_a_dead_letter_is_replayed_into_its_queue_once_its_cause_is_gone(
    deployment: Deployment,
) -> None:
    """An unknown task dead-lettered, then replayed as a known one: it runs like any."""
    before = len(deployment.dead_letters())
    headers = task_headers("cj.sweep_typo")
    deployment.broker.lpush(
        task_names.CONTROL_QUEUE, envelope(task_names.CONTROL_QUEUE, b"[[], {}, {}]", headers)
    )
    deployment.wait_for_dead_letters(before + 1)
    entry = deployment.broker.lindex(dead_letters.KEY, 0)
    assert entry is not None
    # The operator fixes the message (here: the task name) and replays it.
    fixed = json.loads(entry)
    fixed["raw"] = fixed["raw"].replace("cj.sweep_typo", task_names.SWEEP)
    deployment.broker.lset(dead_letters.KEY, 0, json.dumps(fixed))
    after = deployment.log_offset()

    done = deployment.cli_module("cj_worker.dead_letters", "replay", "0")

    assert (done.returncode, done.stdout.strip()) == (
        0,
        f"replayed into {task_names.CONTROL_QUEUE}",
    )
    deployment.outcome(headers["id"], after)
    assert len(deployment.dead_letters()) == before


def test_dead_letters_are_listed_for_an_operator(deployment: Deployment) -> None:
    before = len(deployment.dead_letters())
    deployment.broker.lpush(task_names.INTAKE_QUEUE, "listed garbage")
    deployment.wait_for_dead_letters(before + 1)

    listed = deployment.cli_module("cj_worker.dead_letters", "list")
    shown = deployment.cli_module("cj_worker.dead_letters", "show", "0")
    missing = deployment.cli_module("cj_worker.dead_letters", "show", "100000")

    assert listed.returncode == 0
    first = listed.stdout.splitlines()[0].split("\t")
    assert (first[0], first[2], first[3]) == ("0", task_names.INTAKE_QUEUE, "undecodable")
    assert json.loads(shown.stdout)["raw"] == "listed garbage"
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        "dead_letters: no dead letter at index 100000",
    )


def test_after_all_that_a_normal_batch_runs_to_its_end_and_no_essay_is_shown(
    deployment: Deployment,
) -> None:
    """Garbage in every queue first; then a batch runs to its end while the task events
    (what Flower shows) are captured: they name ids, never an essay's text."""
    for queue in task_names.QUEUES:
        deployment.broker.lpush(queue, "one more piece of garbage")
    events: list[dict[str, Any]] = []
    with deployment.producer.connection_for_read() as connection:
        receiver = deployment.producer.events.Receiver(connection, handlers={"*": events.append})
        listening = threading.Thread(
            target=lambda: receiver.capture(limit=None, timeout=None, wakeup=False), daemon=True
        )
        listening.start()
        time.sleep(1.0)  # the receiver's queue is bound before the batch starts
        batch_id = client.submit_batch(
            essays(5, prefix="n"),
            budget=15,
            judge=SimulatedJudge(discrimination=2.0, seed=4),
            app=deployment.producer,
        )
        status = wait_terminal(batch_id, deployment.database_url, timeout=120)
        time.sleep(1.0)
        receiver.should_stop = True
        listening.join(timeout=10)

    assert status.state == "completed"
    assert deployment.answers_ping()
    shown = [e for e in events if e.get("type") in ("task-sent", "task-received")]
    judged = [e for e in shown if e.get("name") == task_names.JUDGE_COMPARISON]
    assert judged, "the judge requests were seen"
    assert all(
        "'comparisons'" in str(e.get("kwargs")) or "'comparison_id'" in str(e.get("kwargs"))
        for e in judged
    ), "monitoring shows comparison ids"
    assert not [e for e in judged if "token" in str(e.get("kwargs"))]
    assert not [e for e in shown if SECRET_TEXT in json.dumps(e, default=str)]
    assert SECRET_TEXT not in deployment.worker.log(), "nor in the worker's log"
