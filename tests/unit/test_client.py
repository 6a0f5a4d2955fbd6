"""The producer client: validates before sending, sends JSON by task name to the right queue.

The producer app runs on kombu's in-memory transport, so a test reads back exactly what a
worker would receive (headers, JSON body, queue) without a Redis server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from celery import Celery

from cj_worker import client, task_names
from cj_worker.celery_app import configure
from cj_worker.config import Settings
from cj_worker.db.engine import session_scope
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import (
    BatchRequest,
    ComparisonResult,
    EssayIn,
    ExternalJudge,
    GradeScaleIn,
    PayloadError,
    SimulatedJudge,
    parse,
)
from tests.builders.db import make_batch


@dataclass(frozen=True)
class Received:
    task: str
    kwargs: dict[str, Any]
    content_type: str | None
    kwargsrepr: str = ""


def drain(app: Celery, queue: str) -> list[Received]:
    """Every message waiting in ``queue``, acknowledged."""
    received = []
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        try:
            while simple.qsize():
                message = simple.get(timeout=1)
                _, kwargs, _ = message.payload
                received.append(
                    Received(
                        message.headers["task"],
                        kwargs,
                        message.content_type,
                        message.headers.get("kwargsrepr", ""),
                    )
                )
                message.ack()
        finally:
            simple.close()
    return received


@pytest.fixture
def producer() -> Iterator[Celery]:
    """A producer's app on the in-memory broker, configured as the package configures it."""
    app = Celery("producer", set_as_current=False)
    configure(app, Settings(broker_url="memory://"))
    for queue in task_names.QUEUES:
        drain(app, queue)
    yield app
    for queue in task_names.QUEUES:
        drain(app, queue)
    app.close()


def essays(n: int = 3) -> list[EssayIn]:
    return [EssayIn(id=f"s{i}", text=f"essay {i}", true_score=float(i)) for i in range(n)]


def test_submit_batch_sends_a_valid_request_to_the_intake_queue(producer: Celery) -> None:
    batch_id = client.submit_batch(
        [*essays(2), {"id": "raw", "text": "a dict is fine too", "true_score": 0.5}],
        budget=20,
        judge=SimulatedJudge(seed=4),
        settings={"MAX_ITERATIONS": 5},
        tenant="school-1",
        external_ref="class-7",
        result_task="producer.cj_result",
        app=producer,
    )

    [message] = drain(producer, task_names.INTAKE_QUEUE)
    assert (message.task, message.content_type) == (task_names.CREATE_BATCH, "application/json")
    request = parse(BatchRequest, message.kwargs["request"])
    assert request.batch_id == batch_id
    assert [essay.id for essay in request.essays] == ["s0", "s1", "raw"]
    assert (request.budget, request.tenant, request.external_ref) == (20, "school-1", "class-7")
    assert request.settings == {"MAX_ITERATIONS": 5}
    assert request.judge == SimulatedJudge(seed=4)
    assert request.result_task == "producer.cj_result"
    for queue in (task_names.CALLBACKS_QUEUE, task_names.CONTROL_QUEUE, task_names.JUDGE_QUEUE):
        assert drain(producer, queue) == []


def test_submit_batch_sends_the_result_queue_and_grade_scale(producer: Celery) -> None:
    anchors = [
        EssayIn(id="a", text="anchor", is_anchor=True, grade="merit", true_score=0.0),
        *essays(2),
    ]
    client.submit_batch(
        anchors,
        result_task="producer.cj_result",
        result_queue="producer.results",
        grade_scale=GradeScaleIn(name="btec", grades=["pass", "merit", "distinction"]),
        app=producer,
    )

    [message] = drain(producer, task_names.INTAKE_QUEUE)
    request = parse(BatchRequest, message.kwargs["request"])
    assert request.result_queue == "producer.results"
    assert request.scale().grades == ("pass", "merit", "distinction")


def test_a_chosen_batch_id_makes_a_resubmission_the_same_request(producer: Celery) -> None:
    batch_id = uuid.uuid4()
    judge = ExternalJudge(task="producer.judge", queue="producer.judge")
    for _ in range(2):
        assert client.submit_batch(essays(), batch_id=batch_id, judge=judge, app=producer) == (
            batch_id
        )

    first, second = drain(producer, task_names.INTAKE_QUEUE)
    assert first.kwargs == second.kwargs
    assert first.kwargs["request"]["judge"] == {
        "kind": "external",
        "task": "producer.judge",
        "queue": "producer.judge",
    }


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (
            {
                "essays": [
                    EssayIn(id="a", text="x", true_score=0),
                    EssayIn(id="a", text="y", true_score=1),
                ]
            },
            "duplicate",
        ),
        ({"essays": []}, "essays"),
        ({"budget": 0}, "budget"),
        ({"settings": {"max_iterations": -1}}, "max_iterations"),
        ({"settings": {"no_such_knob": 1}}, "no_such_knob"),
        ({"essays": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]}, "true_score"),
        (
            {"essays": [{"id": "a", "text": "x", "is_anchor": True, "true_score": 0}]},
            "needs a grade",
        ),
        ({"essays": [{"id": "a", "true_score": 0}]}, "essays.0.text: Field required"),
        ({"budget": "40"}, "budget: Input should be a valid integer"),
        ({"tenant": ""}, "tenant"),
        ({"result_task": "cj.create_batch"}, "a name of cj-worker's own tasks"),
        ({"judge": ExternalJudge.model_construct(task="cj.sweep")}, "own tasks"),
    ],
)
def test_submit_batch_validates_before_touching_the_broker(
    producer: Celery, arguments: dict[str, Any], named: str
) -> None:
    arguments = {"essays": essays(), **arguments}
    with pytest.raises(PayloadError, match=named):
        client.submit_batch(app=producer, **arguments)

    assert drain(producer, task_names.INTAKE_QUEUE) == []


def test_a_bad_request_fails_fast_even_when_the_broker_is_down() -> None:
    app = Celery("unreachable", set_as_current=False)
    configure(app, Settings(broker_url="redis://127.0.0.1:1/0"))
    started = time.monotonic()
    with pytest.raises(PayloadError):
        client.submit_batch([EssayIn(id="a", text="x")], budget=0, app=app)
    assert time.monotonic() - started < 1.0, "validation must come before any connection"
    app.close()


def test_record_result_sends_a_success_to_the_callback_queue(producer: Celery) -> None:
    comparison_id = uuid.uuid4()

    client.record_result(
        comparison_id,
        token="the-token",
        winner="B",
        judge_id="gpt-x",
        confidence=0.8,
        justification="better argued",
        app=producer,
    )

    [message] = drain(producer, task_names.CALLBACKS_QUEUE)
    assert message.task == task_names.RECORD_COMPARISON_RESULT
    result = parse(ComparisonResult, message.kwargs["result"])
    assert result == ComparisonResult(
        comparison_id=comparison_id,
        token="the-token",
        status="succeeded",
        winner="B",
        judge_id="gpt-x",
        confidence=0.8,
        justification="better argued",
    )


def test_record_result_without_a_winner_is_a_failure(producer: Celery) -> None:
    comparison_id = uuid.uuid4()

    client.record_result(
        comparison_id,
        token="t",
        winner=None,
        error_code="rate_limited",
        error_detail="429",
        app=producer,
    )

    [message] = drain(producer, task_names.CALLBACKS_QUEUE)
    result = parse(ComparisonResult, message.kwargs["result"])
    assert (result.status, result.winner, result.error_code, result.error_detail) == (
        "failed",
        None,
        "rate_limited",
        "429",
    )


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({"winner": "C"}, "winner"), ({"winner": "A", "confidence": 2.0}, "confidence")],
)
def test_record_result_validates_before_sending(
    producer: Celery, arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(PayloadError, match=named):
        client.record_result(uuid.uuid4(), token="t", app=producer, **arguments)
    assert drain(producer, task_names.CALLBACKS_QUEUE) == []


def test_status_and_results_of_an_unknown_batch(database_url: str) -> None:
    missing = uuid.uuid4()
    with pytest.raises(client.UnknownBatchError, match=str(missing)):
        client.get_status(missing)
    with pytest.raises(client.UnknownBatchError, match=str(missing)):
        client.get_results(missing, database_url=database_url)


def test_status_reads_the_configured_database(database_url: str) -> None:
    with session_scope(database_url) as session:
        batch_id = make_batch(session, 4, total_budget=12).id

    status = client.get_status(batch_id)
    results = client.get_results(batch_id)

    assert (status.batch_id, status.state, status.essays, status.total_budget) == (
        batch_id,
        "collecting",
        4,
        12,
    )
    assert (status.submitted, status.success_rate) == (0, None)
    assert results.essays == []
    assert results.stop_reason is None


def test_monitoring_sees_ids_never_essays_or_tokens(producer: Celery) -> None:
    secret_essay = [EssayIn(id="s0", text="My grandmother's secret", true_score=0.0)]
    client.submit_batch([*secret_essay, *essays(2)[1:]], app=producer)
    client.record_result(
        uuid.uuid4(), token="forge-me-not", winner="A", justification="quotes", app=producer
    )

    [batch] = drain(producer, task_names.INTAKE_QUEUE)
    [answer] = drain(producer, task_names.CALLBACKS_QUEUE)
    assert "'s0'" in batch.kwargsrepr, "ids are shown"
    assert "grandmother" not in batch.kwargsrepr
    assert "'text': '<23 chars>'" in batch.kwargsrepr
    assert "forge-me-not" not in answer.kwargsrepr
    assert "quotes" not in answer.kwargsrepr
    assert batch.kwargs["request"]["essays"][0]["text"] == "My grandmother's secret", (
        "the task itself gets the essay"
    )


def test_reads_that_name_a_tenant_see_only_its_batches(database_url: str) -> None:
    with session_scope(database_url) as session:
        ours = make_batch(session, 3, total_budget=12)
        ours.tenant = "school-1"
        untenanted = make_batch(session, 3, total_budget=12)
        ours_id, untenanted_id = ours.id, untenanted.id

    assert client.get_status(ours_id, tenant="school-1").tenant == "school-1"
    assert client.get_results(ours_id, tenant="school-1").status.batch_id == ours_id
    assert client.get_status(ours_id).tenant == "school-1", "no tenant named: no scope"
    for batch_id in (ours_id, untenanted_id, uuid.uuid4()):
        for read in (client.get_status, client.get_results):
            with pytest.raises(client.UnknownBatchError) as raised:
                read(batch_id, tenant="school-2")
            assert str(raised.value) == f"no batch {batch_id} of tenant 'school-2'", (
                "another tenant's batch reads exactly like one that does not exist"
            )


def test_submit_batch_sends_an_llm_judge_with_its_assignment_and_rubric(producer: Celery) -> None:
    judge = LlmJudge(base_url="http://127.0.0.1:11434/v1", model="llama3.1", concurrency=2)

    client.submit_batch(
        essays(), judge=judge, assignment="Describe a storm.", rubric="Vivid.", app=producer
    )

    [message] = drain(producer, task_names.INTAKE_QUEUE)
    request = parse(BatchRequest, message.kwargs["request"])
    assert isinstance(request.judge, LlmJudge)
    assert (request.judge.model, request.judge.concurrency) == ("llama3.1", 2)
    assert (request.assignment, request.rubric) == ("Describe a storm.", "Vivid.")
    assert (request.judge.assignment, request.judge.rubric) == ("Describe a storm.", "Vivid."), (
        "the judge's spec carries the prompt context to the judge workers"
    )


def test_batch_request_validates_without_sending(producer: Celery) -> None:
    request = client.batch_request(essays(), budget=7, rubric="Clear.")

    assert (request.budget, request.rubric) == (7, "Clear.")
    assert drain(producer, task_names.INTAKE_QUEUE) == []
    with pytest.raises(PayloadError, match="budget"):
        client.batch_request(essays(), budget=0)
