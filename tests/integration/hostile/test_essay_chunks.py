"""``cj.add_essays`` from careless and hostile producers: a chunk joins its batch whole or
not at all; one that contradicts the batch, names another tenant's or an unknown one, or is
malformed is refused naming the field and changes nothing; a redelivery changes nothing;
essays that are not the declared ones are never judged."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from cj_worker import task_names
from cj_worker.payloads import (
    MAX_CHUNK_TEXT_CHARS,
    MAX_ESSAY_CHARS,
    MAX_ESSAYS_PER_CHUNK,
    EssayIn,
    essays_sha256,
    parse,
)
from tests.integration.hostile.conftest import (
    NOBODY,
    TENANT,
    CompletedBatch,
    Deployment,
    RunningBatch,
    essays,
    take_event,
)
from tests.integration.pipeline.conftest import wait_terminal

pytestmark = pytest.mark.integration

TOTAL = 6
"""Essays of each chunked batch here; its create carries the first three."""
RETRY_WINDOW = 60.0
"""Seconds to wait for the outcome of a chunk whose batch is unknown: it is retried for
``intake.UNKNOWN_BATCH_RETRY_DELAYS`` (15 s) before it is refused."""


class Chunked:
    """A chunked batch of ``tenant-a`` waiting for essays 3 to 5, with a result queue."""

    def __init__(
        self, deployment: Deployment, *, declared: list[dict[str, Any]] | None = None
    ) -> None:
        self.essays = [essay.model_dump(mode="json") for essay in essays(TOTAL, prefix="k")]
        self.queue = f"tests.hostile.chunks.{uuid.uuid4().hex[:8]}"
        digest = essays_sha256(parse(EssayIn, essay) for essay in declared or self.essays)
        self.request = {
            "batch_id": str(uuid.uuid4()),
            "tenant": TENANT,
            "essays": self.essays[:3],
            "essay_count": TOTAL,
            "essays_sha256": digest,
            "budget": 10,
            "judge": NOBODY.model_dump(mode="json"),
            "result_task": "producer.on_result",
            "result_queue": self.queue,
        }
        outcome = deployment.send(task_names.CREATE_BATCH, {"request": self.request})
        assert outcome.endswith(f"'{self.id}'"), outcome

    @property
    def id(self) -> str:
        return str(self.request["batch_id"])

    def chunk(self, start: int, stop: int, **changes: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "batch_id": self.id,
            "tenant": TENANT,
            "offset": start,
            "essays": self.essays[start:stop],
        }
        payload.update(changes)
        return {k: v for k, v in payload.items() if v is not None}


@pytest.fixture(scope="module")
def waiting(deployment: Deployment) -> Chunked:
    return Chunked(deployment)


def add(deployment: Deployment, chunk: Any, *, timeout: float = 30.0) -> str:
    """Send ``cj.add_essays`` as any producer can; how it ended, from the worker's log."""
    after = deployment.log_offset()
    sent = deployment.producer.send_task(
        task_names.ADD_ESSAYS, kwargs={"chunk": chunk}, queue=task_names.INTAKE_QUEUE
    )
    record = deployment.wait_for_log(
        lambda r: (
            f"[{sent.id}]" in r.get("message", "")
            and (" succeeded in " in r["message"] or " raised " in r["message"])
        ),
        after,
        timeout=timeout,
    )
    return str(record["message"])


def _long(n: int) -> list[dict[str, Any]]:
    return [{"id": f"l{i}", "text": "w" * MAX_ESSAY_CHARS} for i in range(n)]


MALFORMED = [
    pytest.param({"offset": "3"}, "offset: Input should be a valid integer", id="offset-string"),
    pytest.param({"offset": 0}, "offset: Input should be greater than or equal to 1", id="0"),
    pytest.param({"essays": []}, "essays: List should have at least 1 item", id="no-essays"),
    pytest.param({"batch_id": "b-1"}, "batch_id: Input should be a valid UUID", id="batch-id"),
    pytest.param({"wave": 0}, "wave: Extra inputs are not permitted", id="unknown-field"),
    pytest.param(
        {"essays": [{"id": "x", "text": " "}]},
        "essays.0.text: String should have at least 1",
        id="blank-text",
    ),
    pytest.param(
        {"essays": [{"id": "x", "text": "a"}, {"id": "x", "text": "b"}]},
        "essays: duplicate essay id 'x'",
        id="duplicate-ids",
    ),
    pytest.param(
        {"essays": [{"id": f"m{i}", "text": "t"} for i in range(MAX_ESSAYS_PER_CHUNK + 1)]},
        f"essays: List should have at most {MAX_ESSAYS_PER_CHUNK} items",
        id="too-many-essays",
    ),
    pytest.param(
        {"essays": _long(MAX_CHUNK_TEXT_CHARS // MAX_ESSAY_CHARS + 1)},
        f"a chunk holds at most {MAX_CHUNK_TEXT_CHARS}",
        id="too-much-text",
    ),
]


@pytest.mark.parametrize(("changes", "says"), MALFORMED)
def test_a_malformed_chunk_is_refused_naming_the_field(
    deployment: Deployment, waiting: Chunked, changes: dict[str, Any], says: str
) -> None:
    with deployment.unchanged():
        outcome = add(deployment, waiting.chunk(3, 6, **changes))
        if "batch_id" not in changes:
            event = take_event(deployment.producer, waiting.queue)
    assert "invalid EssayChunk: " in outcome
    assert says in outcome
    if "batch_id" not in changes:
        assert event["type"] == "batch.chunk_rejected"
        assert says in " ".join(event["errors"])


def _edited(waiting: Chunked, start: int, stop: int) -> list[dict[str, Any]]:
    return [{**essay, "text": "not the producer's"} for essay in waiting.essays[start:stop]]


AGAINST_THE_BATCH = [
    pytest.param(
        lambda w: w.chunk(2, 4, essays=_edited(w, 2, 4)),
        "offset: positions 2 to 3 overlap 1 essays already stored with other content",
        id="overlaps-the-create",
    ),
    pytest.param(
        lambda w: w.chunk(0, 3, offset=4),
        "offset: essays at positions 4 to 6 run past the batch's essay_count of 6",
        id="past-the-count",
    ),
    pytest.param(
        lambda w: w.chunk(3, 5, essays=[w.essays[3], {**w.essays[4], "id": "k0"}]),
        "essays.1.id: essay id 'k0' is already stored at position 0",
        id="id-of-a-stored-essay",
    ),
    pytest.param(
        lambda w: w.chunk(3, 4, essays=[{**w.essays[3], "is_anchor": True, "grade": "A+"}]),
        "essays.0.grade: anchor 'k3' has grade 'A+', which is not in grade scale",
        id="grade-outside-the-scale",
    ),
]


@pytest.mark.parametrize(("build", "says"), AGAINST_THE_BATCH)
def test_a_chunk_that_contradicts_its_batch_is_refused_and_its_producer_hears(
    deployment: Deployment, waiting: Chunked, build: Any, says: str
) -> None:
    chunk = build(waiting)
    with deployment.unchanged():
        outcome = add(deployment, chunk)
        event = take_event(deployment.producer, waiting.queue)
    assert "ChunkRefusedError" in outcome
    assert says in outcome
    assert event == {
        "type": "batch.chunk_rejected",
        "batch_id": waiting.id,
        "external_ref": None,
        "tenant": TENANT,
        "offset": chunk["offset"],
        "errors": [event["errors"][0]],
    }
    assert event["errors"][0].startswith(says)


def test_a_chunk_for_a_batch_submitted_whole_is_refused(
    deployment: Deployment, running: RunningBatch, completed: CompletedBatch
) -> None:
    for batch_id, tenant in ((running.id, TENANT), (completed.id, "tenant-b")):
        chunk = {
            "batch_id": str(batch_id),
            "tenant": tenant,
            "offset": 6,
            "essays": [{"id": "z", "text": "t"}],
        }
        with deployment.unchanged():
            outcome = add(deployment, chunk)
        assert f"batch_id: batch {batch_id} was submitted whole (no essay_count)" in outcome


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        pytest.param(
            {"tenant": "tenant-z"}, "no batch {} of tenant 'tenant-z'", id="another-tenant"
        ),
        pytest.param({"batch_id": None}, "no batch {} of tenant 'tenant-a'", id="unknown-batch"),
    ],
)
def test_a_chunk_for_another_tenant_s_batch_reads_like_one_for_an_unknown_batch(
    deployment: Deployment, waiting: Chunked, changes: dict[str, Any], says: str
) -> None:
    batch_id = waiting.id if "batch_id" not in changes else str(uuid.uuid4())
    chunk = waiting.chunk(3, 6, **{**changes, "batch_id": batch_id})
    with deployment.unchanged():
        started = time.monotonic()
        outcome = add(deployment, chunk, timeout=RETRY_WINDOW)
        waited = time.monotonic() - started
    assert "raised unexpected: ChunkRefusedError(" in outcome
    assert f"batch_id: {says.format(batch_id)}" in outcome
    assert waited >= 10, "retried first, in case its create was still being stored"


def test_a_redelivered_chunk_changes_nothing(deployment: Deployment) -> None:
    batch = Chunked(deployment)
    assert "'chunk_stored'" in add(deployment, batch.chunk(3, 5))

    with deployment.unchanged():
        outcome = add(deployment, batch.chunk(3, 5))
    assert "'duplicate'" in outcome


def test_essays_that_are_not_the_declared_ones_are_never_judged(deployment: Deployment) -> None:
    declared = [essay.model_dump(mode="json") for essay in essays(TOTAL, prefix="k")]
    declared[4]["text"] += " (as the producer wrote it)"
    batch = Chunked(deployment, declared=declared)

    outcome = add(deployment, batch.chunk(3, 6))

    assert "'essays_digest_mismatch'" in outcome
    status = wait_terminal(uuid.UUID(batch.id), deployment.database_url, timeout=60)
    assert (status.state, status.final_reason, status.submitted) == (
        "failed",
        "essays_digest_mismatch",
        0,
    )
    event = take_event(deployment.producer, batch.queue)
    assert (event["type"], event["stop_reason"], event["comparisons_made"]) == (
        "batch.failed",
        "essays_digest_mismatch",
        0,
    )
