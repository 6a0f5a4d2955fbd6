"""What a worker's Redis transport lets through to kombu, and where the rest goes.

The whole path (raw garbage pushed into every queue of a real worker, which keeps
consuming) is tested in ``tests/integration/hostile``; these are the screen's rules.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cj_worker import dead_letters, poison
from cj_worker.celery_app import app


def decode_body(body: Any, encoding: Any) -> Any:
    """kombu's virtual channel's rule: base64 decodes, anything else passes."""
    return base64.b64decode(body, validate=True) if encoding == "base64" else body


def envelope(**changes: Any) -> str:
    message: dict[str, Any] = {
        "body": base64.b64encode(b"[[], {}, {}]").decode(),
        "content-type": "application/json",
        "content-encoding": "utf-8",
        "headers": {"task": "cj.sweep", "id": "1"},
        "properties": {
            "delivery_tag": "tag",
            "body_encoding": "base64",
            "delivery_info": {"exchange": "cj.control", "routing_key": "cj.control"},
        },
    }
    message.update(changes)
    return json.dumps(message)


def test_a_celery_message_passes() -> None:
    assert poison.envelope_problem(envelope(), decode_body) is None
    assert poison.envelope_problem(envelope().encode(), decode_body) is None


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        pytest.param("not json", "undecodable", id="text"),
        pytest.param(b"\xff\xfe", "undecodable", id="bytes"),
        pytest.param("", "undecodable", id="empty"),
        pytest.param('"a string"', "malformed_envelope", id="json-string"),
        pytest.param("[1, 2]", "malformed_envelope", id="json-list"),
        pytest.param("{}", "malformed_envelope", id="empty-object"),
        pytest.param(envelope(properties={}), "malformed_envelope", id="no-delivery-tag"),
        pytest.param(
            envelope(properties={"delivery_tag": ["x"], "delivery_info": {}}),
            "malformed_envelope",
            id="tag-not-a-string",
        ),
        pytest.param(
            envelope(properties={"delivery_tag": "t", "delivery_info": "x"}),
            "malformed_envelope",
            id="no-delivery-info",
        ),
        pytest.param(envelope(headers=["task"]), "malformed_envelope", id="headers-a-list"),
        pytest.param(envelope(body="!!not base64!!"), "undecodable_body", id="body"),
    ],
)
def test_what_kombu_could_not_deliver_is_named(item: str | bytes, reason: str) -> None:
    problem = poison.envelope_problem(item, decode_body)
    assert problem is not None
    assert problem[0] == reason
    assert problem[1], "with a detail for the log and the dead letter"


def test_the_hooks_are_installed_for_redis_brokers_only() -> None:
    assert poison.celery_options("redis://h:6379/0") == {
        "worker_consumer": poison.CONSUMER,
        "broker_transport": poison.TRANSPORT,
    }
    assert poison.celery_options("amqp://guest@h//") == {"worker_consumer": poison.CONSUMER}
    assert app.conf.worker_consumer == poison.CONSUMER


def test_a_dead_letter_keeps_the_raw_message_up_to_a_limit() -> None:
    small = dead_letters.DeadLetter.of("cj.intake", "undecodable", "not JSON", b"garbage")
    assert (small.raw, small.truncated) == ("garbage", False)
    assert dead_letters.DeadLetter.from_json(small.to_json()) == small
    huge = dead_letters.DeadLetter.of("q", "r", "e", "x" * (dead_letters.MAX_RAW_CHARS + 1))
    assert (len(huge.raw), huge.truncated) == (dead_letters.MAX_RAW_CHARS, True)
