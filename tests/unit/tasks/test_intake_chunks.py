"""Chunked intake (``cj.create_batch`` with ``essay_count``, then ``cj.add_essays``): each
chunk joins whole or not at all, once; only the chunk that completes the batch starts it,
and only if the essays are the ones the producer declared."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery

from cj_worker import client, metrics, task_names
from cj_worker.celery_app import configure
from cj_worker.config import Settings
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Essay
from cj_worker.db.repositories.reports import batch_status
from cj_worker.db.states import BatchState
from cj_worker.payloads import EssayIn, PayloadError, essays_sha256, parse
from cj_worker.tasks import intake
from cj_worker.tasks.base import Message
from cj_worker.tasks.chunks import UNKNOWN_BATCH, ChunkRefusedError, store_chunk
from cj_worker.tasks.continuation import continue_batch
from cj_worker.tasks.finalize import finalize_failure
from cj_worker.tasks.intake import add_essays, create_batch
from cj_worker.tasks.sweep import REPORT_KEYS, sweep
from tests.builders.tasks import (
    batch_results,
    decisions,
    essay_payloads,
    outbox,
    read_batch,
    row_counts,
    update_batch,
)
from tests.unit.tasks.transports import CapturingTransport

# ------------------------------------------------------------------------------ builders


def digest(essays: list[dict[str, Any]]) -> str:
    return essays_sha256(parse(EssayIn, essay) for essay in essays)


def chunked_request(essays: list[dict[str, Any]], first: int, **fields: Any) -> dict[str, Any]:
    """A create carrying ``essays[:first]`` of the whole list, with its count and digest."""
    return {
        "batch_id": str(uuid.uuid4()),
        "essays": essays[:first],
        "essay_count": len(essays),
        "essays_sha256": digest(essays),
        "budget": 40,
        "judge": {"kind": "simulated", "discrimination": 2.0, "seed": 3},
        **fields,
    }


def chunk(
    request: dict[str, Any], essays: list[dict[str, Any]], start: int, stop: int
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "batch_id": request["batch_id"],
        "offset": start,
        "essays": essays[start:stop],
    }
    if request.get("tenant") is not None:
        payload["tenant"] = request["tenant"]
    return payload


def create(request: dict[str, Any]) -> str:
    result: str = create_batch.delay(request).get()
    return result


def add(payload: dict[str, Any]) -> str:
    result: str = add_essays.delay(payload).get()
    return result


def stored(url: str, batch_id: str) -> list[tuple[int, str, str]]:
    with session_scope(url) as session:
        rows = session.execute(
            sa.select(Essay.position, Essay.external_id, Essay.text)
            .where(Essay.batch_id == uuid.UUID(batch_id))
            .order_by(Essay.position)
        )
        return [(position, external_id, text) for position, external_id, text in rows]


def trigger(batch_id: str) -> Message:
    return Message(task_names.CONTINUE_BATCH, {"batch_id": batch_id, "wave": 0})


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(metrics, "observe_refused", lambda *labels: calls.append(labels))
    return calls


@pytest.fixture
def retries_inline(eager_app: Celery) -> Iterator[None]:
    """Eager retries run at once, in this process (a propagated ``Retry`` would end the
    call instead); the final error still reaches ``.get()``."""
    eager_app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        eager_app.conf.task_eager_propagates = True


@pytest.fixture
def waiting(database_url: str, sent: CapturingTransport) -> tuple[dict[str, Any], list[Any]]:
    """A batch of 10 essays of ``school-1``: 0-3 stored by the create, 4-6 by a chunk."""
    essays = essay_payloads(10)
    request = chunked_request(essays, 4, tenant="school-1", result_task="producer.on_result")
    create(request)
    add(chunk(request, essays, 4, 7))
    sent.take()
    return request, essays


# ------------------------------------------------------------------ the happy paths


def test_a_chunked_create_stores_the_first_essays_and_waits(
    database_url: str, sent: CapturingTransport
) -> None:
    essays = essay_payloads(10)
    request = chunked_request(essays, 4)

    assert create(request) == request["batch_id"]

    batch = read_batch(database_url, uuid.UUID(request["batch_id"]))
    assert (batch.state, batch.essays_expected, batch.essays_sha256) == (
        BatchState.CREATED,
        10,
        digest(essays),
    )
    assert [row[1] for row in stored(database_url, request["batch_id"])] == [
        "e00",
        "e01",
        "e02",
        "e03",
    ]
    assert sent.messages == [], "no wave 0 before every essay arrived"
    with session_scope(database_url) as session:
        status = batch_status(session, uuid.UUID(request["batch_id"]))
    assert status is not None
    assert (status.essays, status.essays_expected) == (4, 10), "status says what is to come"


def test_chunks_in_any_order_store_every_essay_in_place_and_the_last_one_starts_it(
    database_url: str, sent: CapturingTransport
) -> None:
    essays = essay_payloads(12)
    request = chunked_request(essays, 3)
    create(request)
    chunks = [chunk(request, essays, start, min(start + 3, 12)) for start in range(3, 12, 3)]
    random.Random(7).shuffle(chunks)

    outcomes = [add(payload) for payload in chunks]

    assert outcomes == ["chunk_stored", "chunk_stored", "essays_complete"]
    assert stored(database_url, request["batch_id"]) == [
        (i, essay["id"], essay["text"]) for i, essay in enumerate(essays)
    ]
    assert sent.messages == [trigger(request["batch_id"])]
    assert read_batch(database_url, uuid.UUID(request["batch_id"])).state is BatchState.CREATED


def test_a_declared_count_equal_to_the_essays_sent_starts_at_once(
    database_url: str, sent: CapturingTransport
) -> None:
    essays = essay_payloads(4)
    request = chunked_request(essays, 4)
    create(request)
    assert sent.messages == [trigger(request["batch_id"])]


@pytest.mark.timeout(120)
def test_a_completed_batch_runs_to_its_end(database_url: str, eager_app: Celery) -> None:
    """The real transport: the last chunk's trigger runs the batch inline to completion."""
    essays = essay_payloads(8)
    request = chunked_request(essays, 3, budget=30)
    create(request)
    add(chunk(request, essays, 3, 8))

    batch = read_batch(database_url, uuid.UUID(request["batch_id"]))
    assert batch.state is BatchState.COMPLETED
    assert decisions(database_url, batch.id)[0].wave == 0


# ----------------------------------------------------------------------- exactly once


def test_a_redelivered_chunk_changes_nothing(
    database_url: str, sent: CapturingTransport, waiting: tuple[dict[str, Any], list[Any]]
) -> None:
    request, essays = waiting
    counts = row_counts(database_url)

    assert add(chunk(request, essays, 4, 7)) == "duplicate"

    assert row_counts(database_url) == counts
    assert sent.messages == [], "still waiting: no trigger"


def test_a_redelivered_last_chunk_re_sends_the_trigger_until_wave_0_is_decided(
    database_url: str, sent: CapturingTransport, waiting: tuple[dict[str, Any], list[Any]]
) -> None:
    request, essays = waiting
    assert add(chunk(request, essays, 7, 10)) == "essays_complete"
    sent.take()
    counts = row_counts(database_url)

    assert add(chunk(request, essays, 7, 10)) == "duplicate"
    assert sent.take() == [trigger(request["batch_id"])], "the first may have been lost"

    update_batch(database_url, uuid.UUID(request["batch_id"]), state=BatchState.COLLECTING)
    assert add(chunk(request, essays, 7, 10)) == "duplicate"
    assert sent.messages == []
    assert row_counts(database_url) == counts


def test_resubmitting_a_chunked_create_re_sends_no_trigger_while_it_waits(
    database_url: str, sent: CapturingTransport, waiting: tuple[dict[str, Any], list[Any]]
) -> None:
    request, essays = waiting
    counts = row_counts(database_url)

    assert create(dict(request)) == request["batch_id"]
    assert sent.take() == []
    assert row_counts(database_url) == counts

    add(chunk(request, essays, 7, 10))
    sent.take()
    create(dict(request))
    assert sent.take() == [trigger(request["batch_id"])], "complete and undecided"


# ------------------------------------------------------------------------- refusals


def _other_essays(essays: list[dict[str, Any]], start: int, stop: int) -> list[dict[str, Any]]:
    return [{**essay, "text": essay["text"] + " (edited)"} for essay in essays[start:stop]]


REFUSED = [
    pytest.param(
        lambda r, e: chunk(r, e, 4, 7) | {"essays": _other_essays(e, 4, 7)},
        "offset: positions 4 to 6 overlap 3 essays already stored with other content",
        id="same-positions-other-essays",
    ),
    pytest.param(
        lambda r, e: chunk(r, e, 6, 9),
        "offset: positions 6 to 8 overlap 1 essays already stored with other content "
        "(positions 6 to 6)",
        id="overlaps-a-stored-chunk",
    ),
    pytest.param(
        lambda r, e: chunk(r, e, 2, 4) | {"essays": _other_essays(e, 2, 4)},
        "offset: positions 2 to 3 overlap 2 essays",
        id="overlaps-the-create",
    ),
    pytest.param(
        lambda r, e: chunk(r, e, 7, 10) | {"essays": [*e[7:10], {**e[9], "id": "e99"}]},
        "offset: essays at positions 7 to 10 run past the batch's essay_count of 10",
        id="past-the-count",
    ),
    pytest.param(
        lambda r, e: chunk(r, e, 12, 13) | {"essays": [{**e[0], "id": "e12"}]},
        "offset: essays at positions 12 to 12 run past",
        id="offset-past-the-count",
    ),
    pytest.param(
        lambda r, e: chunk(r, e, 7, 9) | {"essays": [e[7], {**e[8], "id": "e02"}]},
        "essays.1.id: essay id 'e02' is already stored at position 2",
        id="id-of-a-stored-essay",
    ),
    pytest.param(
        lambda r, e: chunk(r, e, 7, 8) | {"essays": [{**e[7], "is_anchor": True, "grade": "A+"}]},
        "essays.0.grade: anchor 'e07' has grade 'A+', which is not in grade scale "
        "'swedish_8_anchor'",
        id="grade-outside-the-batch-s-scale",
    ),
    pytest.param(
        lambda r, e: chunk(r, e, 7, 8) | {"essays": [{"id": "e07", "text": "no score"}]},
        "essays: the simulated judge needs true_score for every essay (missing for e07)",
        id="the-batch-s-judge-needs-true-score",
    ),
]


@pytest.mark.parametrize(("build", "says"), REFUSED)
def test_a_chunk_that_contradicts_its_batch_is_refused_and_stores_nothing(
    database_url: str,
    sent: CapturingTransport,
    refusals: list[tuple[str, str]],
    waiting: tuple[dict[str, Any], list[Any]],
    build: Any,
    says: str,
) -> None:
    request, essays = waiting
    counts = row_counts(database_url)
    before = stored(database_url, request["batch_id"])
    payload = build(request, essays)

    with pytest.raises(ChunkRefusedError) as raised:
        add(payload)

    assert str(raised.value).startswith(says)
    assert row_counts(database_url) == counts
    assert stored(database_url, request["batch_id"]) == before
    [event] = sent.take()
    assert (event.task, event.queue) == ("producer.on_result", task_names.RESULTS_QUEUE)
    assert event.kwargs["event"] == {
        "type": "batch.chunk_rejected",
        "batch_id": request["batch_id"],
        "external_ref": None,
        "tenant": "school-1",
        "offset": payload["offset"],
        "errors": [str(raised.value)],
    }
    broken_rules = "grade" in says or "true_score" in says
    assert refusals == ([] if broken_rules else [(task_names.ADD_ESSAYS, "conflict")])


def test_a_malformed_chunk_of_a_waiting_batch_tells_its_producer(
    database_url: str, sent: CapturingTransport, waiting: tuple[dict[str, Any], list[Any]]
) -> None:
    request, essays = waiting
    counts = row_counts(database_url)

    with pytest.raises(PayloadError, match="invalid EssayChunk: offset: Input should be a valid"):
        add(chunk(request, essays, 7, 10) | {"offset": "7"})

    assert row_counts(database_url) == counts
    [event] = sent.take()
    assert event.kwargs["event"]["errors"] == ["offset: Input should be a valid integer"]
    assert event.kwargs["event"]["offset"] is None


@pytest.mark.parametrize(
    ("tenant", "says"),
    [
        pytest.param("school-2", "batch_id: no batch {} of tenant 'school-2'", id="another-tenant"),
        pytest.param(None, "batch_id: no batch {}", id="no-tenant"),
    ],
)
def test_a_chunk_for_another_tenant_reads_like_an_unknown_batch(
    retries_inline: None,
    database_url: str,
    sent: CapturingTransport,
    refusals: list[tuple[str, str]],
    waiting: tuple[dict[str, Any], list[Any]],
    tenant: str | None,
    says: str,
) -> None:
    request, essays = waiting
    counts = row_counts(database_url)
    payload = {k: v for k, v in chunk(request, essays, 7, 10).items() if k != "tenant"}
    if tenant is not None:
        payload["tenant"] = tenant

    with pytest.raises(ChunkRefusedError) as raised:
        add(payload)

    assert str(raised.value) == says.format(request["batch_id"])
    assert row_counts(database_url) == counts
    assert sent.messages == [], "a stranger's refusal is not the batch's producer's business"
    assert refusals == [(task_names.ADD_ESSAYS, UNKNOWN_BATCH)]


def test_a_chunk_for_an_unknown_batch_is_retried_then_refused(
    retries_inline: None,
    database_url: str,
    sent: CapturingTransport,
    refusals: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    essays = essay_payloads(4)
    payload = chunk({"batch_id": str(uuid.uuid4())}, essays, 1, 3)
    real = store_chunk
    calls: list[int] = []

    def counted(session: Any, parsed: Any) -> Any:
        calls.append(1)
        return real(session, parsed)

    monkeypatch.setattr(intake, "store_chunk", counted)

    with pytest.raises(ChunkRefusedError, match=f"batch_id: no batch {payload['batch_id']}$"):
        add(payload)

    assert len(calls) == 1 + len(intake.UNKNOWN_BATCH_RETRY_DELAYS)
    assert row_counts(database_url)["essays"] == 0
    assert refusals == [(task_names.ADD_ESSAYS, UNKNOWN_BATCH)], "counted once, at the end"


def test_a_chunk_that_overtook_its_create_is_stored_on_a_retry(
    retries_inline: None,
    database_url: str,
    sent: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two intake workers took the create and the first chunk at once: the chunk found no
    batch, and its retry finds the committed create."""
    essays = essay_payloads(6)
    request = chunked_request(essays, 3)
    create(request)
    real = store_chunk
    calls: list[int] = []

    def not_yet_committed(session: Any, parsed: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ChunkRefusedError("batch_id: no batch", reason=UNKNOWN_BATCH)
        return real(session, parsed)

    monkeypatch.setattr(intake, "store_chunk", not_yet_committed)

    assert add(chunk(request, essays, 3, 6)) == "essays_complete"
    assert len(calls) == 2
    assert sent.messages == [trigger(request["batch_id"])]


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (BatchState.FAILED, "batch_id: batch {} is failed: it takes no more essays"),
        (BatchState.CANCELLED, "batch_id: batch {} is cancelled: it takes no more essays"),
    ],
)
def test_a_chunk_for_a_batch_no_longer_waiting_is_refused(
    database_url: str,
    sent: CapturingTransport,
    waiting: tuple[dict[str, Any], list[Any]],
    state: BatchState,
    says: str,
) -> None:
    request, essays = waiting
    update_batch(database_url, uuid.UUID(request["batch_id"]), state=state)
    counts = row_counts(database_url)

    with pytest.raises(ChunkRefusedError) as raised:
        add(chunk(request, essays, 7, 10))

    assert str(raised.value) == says.format(request["batch_id"])
    assert row_counts(database_url) == counts
    assert sent.messages == [], "the batch's own event tells its producer"


def test_a_chunk_for_a_batch_submitted_whole_is_refused(
    database_url: str, sent: CapturingTransport
) -> None:
    request = {
        "batch_id": str(uuid.uuid4()),
        "essays": essay_payloads(3),
        "judge": {"kind": "simulated"},
    }
    create(request)
    sent.take()
    counts = row_counts(database_url)
    extra = [{"id": "e09", "text": "late", "true_score": 0.0}]

    with pytest.raises(ChunkRefusedError, match="submitted whole \\(no essay_count\\)"):
        add({"batch_id": request["batch_id"], "offset": 3, "essays": extra})

    assert row_counts(database_url) == counts


# --------------------------------------------------------------------- the digest


def test_essays_that_are_not_the_declared_ones_fail_the_batch_unjudged(
    database_url: str, sent: CapturingTransport
) -> None:
    essays = essay_payloads(6)
    request = chunked_request(essays, 3, result_task="producer.on_result")
    create(request)
    tampered = _other_essays(essays, 3, 6)

    outcome = add(chunk(request, essays, 3, 6) | {"essays": tampered})

    assert outcome == "essays_digest_mismatch"
    batch_id = uuid.UUID(request["batch_id"])
    batch = read_batch(database_url, batch_id)
    assert (batch.state, batch.final_reason) == (BatchState.SCORING, "essays_digest_mismatch")
    [decision] = decisions(database_url, batch_id)
    assert (decision.wave, decision.action, decision.reason) == (
        0,
        "finalize_failure",
        "essays_digest_mismatch",
    )
    assert decision.details["declared"] == digest(essays)
    assert decision.details["stored"] == digest([*essays[:3], *tampered])
    [finalize] = sent.take()
    assert finalize == Message(task_names.FINALIZE_FAILURE, {"batch_id": str(batch_id)})

    assert finalize_failure.delay(str(batch_id)).get() == "failed"

    assert read_batch(database_url, batch_id).state is BatchState.FAILED
    [result] = batch_results(database_url, batch_id)
    assert result.stop_reason == "essays_digest_mismatch"
    [event] = outbox(database_url, batch_id)
    assert (event.event_type, event.payload["stop_reason"]) == (
        "batch.failed",
        "essays_digest_mismatch",
    )
    assert event.payload["comparisons_made"] == 0


# ------------------------------------------------------- continuation and the sweep


def test_continuation_does_not_start_a_batch_still_waiting_for_essays(
    database_url: str, sent: CapturingTransport, waiting: tuple[dict[str, Any], list[Any]]
) -> None:
    request, _ = waiting
    counts = row_counts(database_url)

    assert continue_batch.delay(request["batch_id"], 0).get() == "awaiting_essays"

    assert row_counts(database_url) == counts
    assert read_batch(database_url, uuid.UUID(request["batch_id"])).state is BatchState.CREATED
    assert sent.messages == []


def run_sweep() -> dict[str, int]:
    done: dict[str, int] = sweep.delay().get()
    return done


def test_the_sweep_sends_no_wave_0_for_a_batch_waiting_for_essays(
    database_url: str, sent: CapturingTransport, waiting: tuple[dict[str, Any], list[Any]]
) -> None:
    request, _ = waiting
    batch_id = uuid.UUID(request["batch_id"])
    update_batch(database_url, batch_id, last_activity_at=utc_now() - timedelta(minutes=30))

    assert run_sweep() == dict.fromkeys(REPORT_KEYS, 0)
    assert sent.messages == []
    assert read_batch(database_url, batch_id).state is BatchState.CREATED


def test_the_sweep_fails_a_batch_whose_chunks_stopped_arriving(
    database_url: str, sent: CapturingTransport, waiting: tuple[dict[str, Any], list[Any]]
) -> None:
    request, _ = waiting
    batch_id = uuid.UUID(request["batch_id"])
    timeout = Settings().intake_timeout_seconds
    update_batch(
        database_url, batch_id, last_activity_at=utc_now() - timedelta(seconds=timeout + 5)
    )

    assert run_sweep() == dict.fromkeys(REPORT_KEYS, 0) | {
        "finalizations": 1,
        "intake_expired": 1,
    }

    batch = read_batch(database_url, batch_id)
    assert (batch.state, batch.final_reason) == (BatchState.SCORING, "intake_incomplete")
    [decision] = decisions(database_url, batch_id)
    assert (decision.action, decision.reason) == ("finalize_failure", "intake_incomplete")
    assert (decision.details["stored"], decision.details["expected"]) == (7, 10)
    assert sent.take() == [Message(task_names.FINALIZE_FAILURE, {"batch_id": str(batch_id)})]
    assert finalize_failure.delay(str(batch_id)).get() == "failed"
    [event] = outbox(database_url, batch_id)
    assert event.payload["stop_reason"] == "intake_incomplete"


def test_the_intake_timeout_counts_from_the_last_chunk(
    database_url: str, sent: CapturingTransport, waiting: tuple[dict[str, Any], list[Any]]
) -> None:
    request, essays = waiting
    batch_id = uuid.UUID(request["batch_id"])
    timeout = Settings().intake_timeout_seconds
    update_batch(
        database_url, batch_id, last_activity_at=utc_now() - timedelta(seconds=timeout + 5)
    )

    add(chunk(request, essays, 7, 9))

    assert run_sweep()["intake_expired"] == 0
    assert read_batch(database_url, batch_id).state is BatchState.CREATED


# ------------------------------------------------------- 10,000 essays through the client


@pytest.fixture
def producer() -> Iterator[Celery]:
    """A producer's app on kombu's in-memory broker: what it sends can be read back."""
    app = Celery("producer", set_as_current=False)
    configure(app, Settings(broker_url="memory://"))
    yield app
    app.close()


def received(app: Celery, queue: str) -> list[tuple[str, dict[str, Any], int]]:
    """Every message waiting in ``queue``: task, kwargs and the size of its body in bytes."""
    messages: list[tuple[str, dict[str, Any], int]] = []
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        try:
            while simple.qsize():
                message = simple.get(timeout=1)
                _, kwargs, _ = message.payload
                size = len(message.body or b"")  # the encoded JSON, as the broker holds it
                messages.append((message.headers["task"], kwargs, size))
                message.ack()
        finally:
            simple.close()
    return messages


@pytest.mark.timeout(240)
def test_ten_thousand_essays_travel_in_messages_within_the_limit_and_arrive_in_order(
    database_url: str, sent: CapturingTransport, producer: Celery
) -> None:
    """Sent whole, these essays would be one message of about 28 MB (the issue's case)."""
    essays = [
        EssayIn(id=f"pupil-{i:05d}", text=f"Essay {i}: " + "word " * 540, true_score=i / 1e4)
        for i in range(10_000)
    ]

    batch_id = client.submit_batch(essays, budget=50_000, tenant="district-9", app=producer)

    messages = received(producer, task_names.INTAKE_QUEUE)
    assert sum(size for _, _, size in messages) > 27_000_000
    assert max(size for _, _, size in messages) <= client.MAX_MESSAGE_BYTES
    assert [task for task, _, _ in messages] == [task_names.CREATE_BATCH] + [
        task_names.ADD_ESSAYS
    ] * (len(messages) - 1)
    for task, kwargs, _ in messages:
        if task == task_names.CREATE_BATCH:
            assert create_batch.delay(**kwargs).get() == str(batch_id)
        else:
            add_essays.delay(**kwargs).get()

    assert sent.messages == [trigger(str(batch_id))]
    with session_scope(database_url) as session:
        rows = session.execute(
            sa.select(Essay.position, Essay.external_id)
            .where(Essay.batch_id == batch_id)
            .order_by(Essay.position)
        )
        assert [(p, i) for p, i in rows] == [(p, e.id) for p, e in enumerate(essays)]
    batch = read_batch(database_url, batch_id)
    assert (batch.essays_expected, batch.tenant) == (10_000, "district-9")
