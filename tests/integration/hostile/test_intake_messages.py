"""``cj.create_batch`` from careless and hostile producers: refused, nothing written, and the
producer hears why when it named a result task."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cj_worker import task_names
from cj_worker.payloads import MAX_ESSAY_CHARS, MAX_ESSAYS_PER_BATCH
from tests.integration.hostile.conftest import Deployment, RunningBatch, essays, take_event

pytestmark = pytest.mark.integration


def request(**changes: Any) -> dict[str, Any]:
    """A valid request, changed; a fresh batch id unless the change names one."""
    payload: dict[str, Any] = {
        "batch_id": str(uuid.uuid4()),
        "essays": [essay.model_dump(mode="json") for essay in essays(3, prefix="h")],
        "budget": 10,
    }
    payload.update(changes)
    return payload


def essay(**changes: Any) -> list[dict[str, Any]]:
    """Three essays, the first one changed (``None`` deletes a field)."""
    first = {"id": "x", "text": "an essay", "true_score": 0.0, **changes}
    return [{k: v for k, v in first.items() if v is not None}, *request()["essays"][1:]]


REFUSED = [
    pytest.param({"budget": "40"}, "budget: Input should be a valid integer", id="budget-string"),
    pytest.param(
        {"budget": 0}, "budget: Input should be greater than or equal to 1", id="budget-0"
    ),
    pytest.param({"essays": essay(text=None)}, "essays.0.text: Field required", id="no-text"),
    pytest.param(
        {"essays": essay(text="")}, "essays.0.text: String should have at least 1", id="empty-text"
    ),
    pytest.param(
        {"essays": essay(text=" \n\t ")},
        "essays.0.text: String should have at least 1",
        id="blank-text",
    ),
    pytest.param(
        {"essays": essay(text="w" * (MAX_ESSAY_CHARS + 1))},
        f"essays.0.text: String should have at most {MAX_ESSAY_CHARS} characters",
        id="essay-too-long",
    ),
    pytest.param(
        {"essays": essay(id="i" * 256)},
        "essays.0.id: String should have at most 255",
        id="id-too-long",
    ),
    pytest.param(
        {"essays": essay(id=5)}, "essays.0.id: Input should be a valid string", id="id-a-number"
    ),
    pytest.param(
        {"essays": essay(is_anchor="true", grade="B")},
        "essays.0.is_anchor: Input should be a valid boolean",
        id="flag-string",
    ),
    pytest.param(
        {"essays": essay(true_score="1.5")},
        "essays.0.true_score: Input should be a valid number",
        id="score-string",
    ),
    pytest.param(
        {"essays": essay(true_score=None)},
        "the simulated judge needs true_score",
        id="no-true-score",
    ),
    pytest.param({"essays": essay(id="h1")}, "duplicate essay id 'h1'", id="duplicate-ids"),
    pytest.param({"essays": []}, "essays: List should have at least 1 item", id="no-essays"),
    pytest.param(
        {
            "essays": [
                {"id": str(i), "text": "t", "true_score": 0}
                for i in range(MAX_ESSAYS_PER_BATCH + 1)
            ]
        },
        f"essays: List should have at most {MAX_ESSAYS_PER_BATCH} items",
        id="too-many-essays",
    ),
    pytest.param(
        {"tenant": ""}, "tenant: String should have at least 1 character", id="tenant-empty"
    ),
    pytest.param({"tenant": 7}, "tenant: Input should be a valid string", id="tenant-number"),
    pytest.param({"batch_id": "batch-1"}, "batch_id: Input should be a valid UUID", id="batch-id"),
    pytest.param(
        {"priority": "high"}, "priority: Extra inputs are not permitted", id="unknown-field"
    ),
    pytest.param({"settings": {"no_such_knob": 1}}, "no_such_knob", id="unknown-setting"),
    pytest.param({"settings": {"max_iterations": "many"}}, "max_iterations", id="bad-setting"),
    pytest.param({"grade_scale": "ib_7"}, "unknown grade scale 'ib_7'", id="unknown-scale"),
    pytest.param(
        {"judge": {"kind": "external", "task": "cj.create_batch", "queue": "p.judge"}},
        "task: 'cj.create_batch' is a name of cj-worker's own tasks",
        id="judge-is-create-batch",
    ),
    pytest.param(
        {"judge": {"kind": "external", "task": "cj.record_comparison_result"}},
        "is a name of cj-worker's own tasks",
        id="judge-is-the-callback",
    ),
    pytest.param(
        {"judge": {"kind": "external", "task": "p.judge", "queue": "cj.control"}},
        "queue: 'cj.control' is consumed by cj workers",
        id="judge-queue-is-cj",
    ),
    pytest.param(
        {"result_task": "cj.create_batch"},
        "result_task: 'cj.create_batch' is a name",
        id="result-task-is-cj",
    ),
    pytest.param(
        {"result_queue": "cj.intake"},
        "result_queue: 'cj.intake' is consumed by cj workers",
        id="result-queue-is-cj",
    ),
    pytest.param({"essays": essay(true_score=float("nan"))}, "(payload): not JSON", id="nan"),
]


@pytest.mark.parametrize(("changes", "says"), REFUSED)
def test_a_bad_request_is_refused_naming_the_field(
    deployment: Deployment, changes: dict[str, Any], says: str
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task_names.CREATE_BATCH, {"request": request(**changes)})
    assert " raised unexpected: " in outcome
    assert "invalid BatchRequest: " in outcome
    assert says in outcome


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        pytest.param({}, "missing 1 required positional argument: 'request'", id="no-request"),
        pytest.param({"request": ["a", "list"]}, "invalid BatchRequest: (payload)", id="a-list"),
        pytest.param({"request": "x"}, "invalid BatchRequest: (payload)", id="a-string"),
        pytest.param(
            {"request": request(), "extra": 1},
            "unexpected keyword argument 'extra'",
            id="extra-kwarg",
        ),
    ],
)
def test_a_request_of_the_wrong_shape_is_refused(
    deployment: Deployment, kwargs: dict[str, Any], says: str
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task_names.CREATE_BATCH, kwargs)
    assert says in outcome


def test_a_refused_request_tells_the_producer_s_result_task(deployment: Deployment) -> None:
    queue = f"tests.hostile.results.{uuid.uuid4().hex[:8]}"
    refused = request(
        budget="40", tenant="tenant-z", result_task="producer.on_result", result_queue=queue
    )

    with deployment.unchanged():
        outcome = deployment.send(task_names.CREATE_BATCH, {"request": refused})
        event = take_event(deployment.producer, queue)

    assert "budget: Input should be a valid integer" in outcome
    assert event == {
        "type": "batch.rejected",
        "batch_id": refused["batch_id"],
        "external_ref": None,
        "tenant": "tenant-z",
        "errors": ["budget: Input should be a valid integer"],
    }


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"tenant": "tenant-z"}, id="another-tenant"),
        pytest.param({"tenant": None}, id="no-tenant"),
        pytest.param(
            {"essays": [e.model_dump() for e in essays(6, prefix="other")]}, id="other-essays"
        ),
        pytest.param({"budget": 31}, id="other-budget"),
    ],
)
def test_a_batch_id_taken_by_another_request_is_a_conflict(
    deployment: Deployment, running: RunningBatch, changes: dict[str, Any]
) -> None:
    queue = f"tests.hostile.results.{uuid.uuid4().hex[:8]}"
    stranger = {**running.request, **changes, "result_task": "s.on_result", "result_queue": queue}

    with deployment.unchanged():
        outcome = deployment.send(task_names.CREATE_BATCH, {"request": stranger})
        event = take_event(deployment.producer, queue)

    message = (
        f"batch_id: batch {running.id} already exists with another payload or tenant;"
        " resubmit the same request to retry it, or choose a new batch_id"
    )
    assert "BatchConflictError" in outcome or message in outcome
    assert message in outcome
    assert (event["type"], event["errors"]) == ("batch.rejected", [message])


def test_the_same_request_again_returns_the_same_id_and_changes_nothing(
    deployment: Deployment, running: RunningBatch
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task_names.CREATE_BATCH, {"request": running.request})
    assert outcome.endswith(f"'{running.id}'")
