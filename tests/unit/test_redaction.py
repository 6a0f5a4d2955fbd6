"""Monitoring shows task arguments without essays, prompts or tokens."""

from __future__ import annotations

import uuid

from celery import Celery

from cj_worker.celery_app import app
from cj_worker.redaction import RedactingAMQP, redacted, redacted_repr


def judge_request() -> dict[str, object]:
    return {
        "request": {
            "comparison_id": "c-1",
            "batch_id": "b-1",
            "token": "f" * 64,
            "essay_a": {"text": "Dear diary, my secret"},
            "essay_b": {"text": "Another pupil's essay"},
        },
        "judge": {"kind": "llm", "assignment": "Write about home", "rubric": "Be kind"},
    }


def test_sensitive_values_are_replaced_by_their_length() -> None:
    shown = redacted(judge_request())
    assert shown == {
        "request": {
            "comparison_id": "c-1",
            "batch_id": "b-1",
            "token": "<64 chars>",
            "essay_a": {"text": "<21 chars>"},
            "essay_b": {"text": "<21 chars>"},
        },
        "judge": {"kind": "llm", "assignment": "<16 chars>", "rubric": "<7 chars>"},
    }


def test_a_batch_s_essays_are_shown_by_id_or_by_count() -> None:
    few = {"request": {"essays": [{"id": "s1", "text": "secret"}]}}
    many = {"request": {"essays": [{"id": str(i), "text": "t"} for i in range(500)]}}
    assert redacted(few) == {"request": {"essays": [{"id": "s1", "text": "<6 chars>"}]}}
    assert redacted(many) == {"request": {"essays": "<500 items>"}}
    assert len(redacted_repr(many)) < 100


def test_the_repr_is_bounded_and_never_holds_the_texts() -> None:
    arguments = judge_request()
    arguments["request"]["essay_a"] = {"text": "x" * 100_000}  # type: ignore[index]
    shown = redacted_repr(arguments)
    assert "x" * 100 not in shown
    assert "pupil" not in shown
    assert "f" * 64 not in shown
    assert len(shown) <= 1024


def test_every_message_the_app_builds_carries_the_redacted_reprs() -> None:
    assert isinstance(app.amqp, RedactingAMQP)
    message = app.amqp.create_task_message(
        str(uuid.uuid4()), "cj.judge_comparison", (), judge_request(), create_sent_event=True
    )
    headers = message.headers
    assert "Dear diary" not in headers["kwargsrepr"]
    assert "'text': '<21 chars>'" in headers["kwargsrepr"]
    assert message.sent_event is not None
    assert message.sent_event["kwargs"] == headers["kwargsrepr"], "the task-sent event too"
    assert message.body[1]["request"]["essay_a"]["text"] == "Dear diary, my secret", (
        "the task itself gets the essay"
    )


def test_a_repr_the_sender_chose_is_kept() -> None:
    producer = Celery("producer", amqp="cj_worker.redaction:RedactingAMQP", set_as_current=False)
    message = producer.amqp.create_task_message(
        str(uuid.uuid4()), "x", (), {"text": "t"}, kwargsrepr="chosen"
    )
    assert message.headers["kwargsrepr"] == "chosen"
    producer.close()
