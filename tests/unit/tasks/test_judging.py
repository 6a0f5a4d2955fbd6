"""Judge requests as dispatches, and the simulated judge's bound on dying workers."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from cj_worker import task_names
from cj_worker.celery_app import app
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Comparison, Essay
from cj_worker.db.states import ComparisonRowStatus
from cj_worker.llm_spec import LlmJudge
from cj_worker.tasks.base import Message
from cj_worker.tasks.dispatch import Send
from cj_worker.tasks.judging import (
    SIMULATED_WORKER_LOST_RETRIES,
    TICKETS_PER_MESSAGE,
    Outgoing,
    dispatches,
    judge_comparison,
)
from tests.builders.db import add_comparison, make_batch


def _outgoing(*rows: Comparison) -> list[Outgoing]:
    return [Outgoing(row.id, row.essay_a, row.essay_b, row.sends or 0) for row in rows]


def test_each_row_becomes_its_next_send_with_the_ticket_of_its_own_id(database_url: str) -> None:
    with session_scope(database_url) as session:
        batch = make_batch(session, 4)
        fresh = add_comparison(session, batch, 0, 1, status=ComparisonRowStatus.PENDING)
        resent = add_comparison(session, batch, 2, 3, status=ComparisonRowStatus.PENDING)
        resent.sends = 2
        session.flush()
        rows = _outgoing(fresh, resent)
        built = dispatches(session, batch, rows)

    assert [d.sends for d in built] == [(Send(fresh.id, 0),), (Send(resent.id, 2),)]
    assert [t["comparison_id"] for d in built for t in d.message.kwargs["tickets"]] == [
        str(fresh.id),
        str(resent.id),
    ]
    assert {d.message.task for d in built} == {task_names.JUDGE_COMPARISON}


def _celery_message(message: Message) -> bytes:
    """Celery's headers and body of ``message``, as JSON: what a broker would hold."""
    created = app.amqp.create_task_message(
        str(uuid.uuid4()), message.task, (), message.kwargs, kwargsrepr=message.kwargsrepr
    )
    return json.dumps({"headers": created.headers, "body": created.body}, default=str).encode()


@pytest.mark.parametrize("kind", ["simulated", "llm"])
def test_a_built_in_judge_request_is_small_whatever_the_essays_length(
    database_url: str, kind: str
) -> None:
    """A built-in judge loads what it needs: its message carries no text, whatever the
    essays' length (the broker bytes are measured against Redis in the integration test)."""
    with session_scope(database_url) as session:
        batch = make_batch(session, 2)
        if kind == "llm":
            batch.judge = LlmJudge(model="m", base_url="https://llm.example/v1").model_dump(
                mode="json"
            )
        for essay in session.scalars(sa.select(Essay).where(Essay.batch_id == batch.id)):
            essay.text = "SECRET-ESSAY " * 5_000
        row = add_comparison(session, batch, 0, 1, status=ComparisonRowStatus.PENDING)
        session.flush()
        [dispatch] = dispatches(session, batch, _outgoing(row))
        message = dispatch.message

    stored = _celery_message(message)
    assert len(stored) < 1024, len(stored)
    assert b"SECRET-ESSAY" not in stored
    assert message.kwargsrepr == f"{{'comparison_id': '{row.id}'}}"


def test_an_external_judge_gets_both_texts_and_monitoring_sees_only_the_id(
    database_url: str,
) -> None:
    with session_scope(database_url) as session:
        batch = make_batch(session, 3)
        batch.judge = {"kind": "external", "task": "producer.judge", "queue": "producer.q"}
        row = add_comparison(session, batch, 2, 0, status=ComparisonRowStatus.PENDING)
        session.flush()
        [dispatch] = dispatches(session, batch, _outgoing(row))
        message = dispatch.message

    request = message.kwargs["request"]
    assert (message.task, message.queue) == ("producer.judge", "producer.q")
    assert request["essay_a"] == {"text": "Essay number 2."}
    assert request["essay_b"] == {"text": "Essay number 0."}
    headers = json.loads(_celery_message(message))["headers"]
    assert "Essay number" not in headers["kwargsrepr"]
    assert str(row.id) in headers["kwargsrepr"]


def test_a_judgement_that_kills_its_worker_is_run_a_bounded_number_of_times() -> None:
    """A poison request ends in the sweep's re-send and time-out, not an endless loop."""
    assert getattr(judge_comparison, "retry_on_worker_lost", None) is True  # Celery 5.7
    assert judge_comparison.max_retries == SIMULATED_WORKER_LOST_RETRIES
    assert 0 < SIMULATED_WORKER_LOST_RETRIES < 5


def test_first_sends_go_in_bundles_and_every_re_send_alone(database_url: str) -> None:
    """A poison request (it kills its judge) must not take its bundle's neighbours with
    it twice: after the first send, each request travels alone."""
    with session_scope(database_url) as session:
        batch = make_batch(session, 2 * (TICKETS_PER_MESSAGE + 3))
        rows = [
            add_comparison(session, batch, 2 * i, 2 * i + 1, status=ComparisonRowStatus.PENDING)
            for i in range(TICKETS_PER_MESSAGE + 3)
        ]
        session.flush()
        outgoing = _outgoing(*rows)
        resent = [Outgoing(o.comparison_id, o.essay_a, o.essay_b, 1) for o in outgoing[:2]]
        fresh = dispatches(session, batch, outgoing)
        again = dispatches(session, batch, resent + outgoing[2:])

    assert [len(d.sends) for d in fresh] == [TICKETS_PER_MESSAGE, 3]
    assert [len(d.sends) for d in again] == [1, 1, TICKETS_PER_MESSAGE, 1]
    assert [s.comparison_id for d in again for s in d.sends] == [o.comparison_id for o in outgoing]
