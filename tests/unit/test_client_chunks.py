"""How the client splits a large batch (cj_worker.client.intake_messages): a create with the
count, the digest and the first essays, then chunks, every message within the limit; a
small batch is the one message it always was."""

from __future__ import annotations

import json
import uuid
from typing import Any

from cj_worker import client, task_names
from cj_worker.payloads import (
    BatchRequest,
    EssayChunk,
    EssayIn,
    ExternalJudge,
    essays_sha256,
    parse,
)

JUDGE = ExternalJudge(task="producer.judge", queue="producer.judge")


def essays(n: int, text: str = "an essay of some length") -> list[EssayIn]:
    return [EssayIn(id=f"s{i:05d}", text=f"{text} {i}") for i in range(n)]


def request(items: list[EssayIn], **fields: Any) -> BatchRequest:
    return client.batch_request(items, judge=JUDGE, batch_id=uuid.uuid4(), **fields)


def body_size(kwargs: dict[str, Any]) -> int:
    """The JSON body Celery sends for these kwargs (protocol 2, no callbacks)."""
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    return len(json.dumps([[], kwargs, embed]))


def reassembled(messages: list[tuple[str, dict[str, Any]]]) -> list[EssayIn]:
    """The essays of the messages, each at its offset; fails on a gap or an overlap."""
    (task, kwargs), *chunks = messages
    assert task == task_names.CREATE_BATCH
    everything = list(parse(BatchRequest, kwargs["request"]).essays)
    for task, kwargs in chunks:
        assert task == task_names.ADD_ESSAYS
        chunk = parse(EssayChunk, kwargs["chunk"])
        assert chunk.offset == len(everything), "contiguous, in order"
        everything.extend(chunk.essays)
    return everything


def test_a_small_batch_is_one_message_exactly_as_before() -> None:
    small = request(essays(5), tenant="school-1")

    [(task, kwargs)] = client.intake_messages(small)

    assert task == task_names.CREATE_BATCH
    assert "essay_count" not in kwargs["request"], "a worker of an earlier version takes it"
    assert "essays_sha256" not in kwargs["request"]
    assert parse(BatchRequest, kwargs["request"]) == small


def test_a_large_batch_is_a_create_then_chunks_each_within_the_limit() -> None:
    items = essays(300, text="word " * 100)
    large = request(items, tenant="school-1", result_task="producer.on_result")

    messages = client.intake_messages(large, max_bytes=20_000)

    assert len(messages) > 5
    assert all(body_size(kwargs) <= 20_000 for _, kwargs in messages)
    create = parse(BatchRequest, messages[0][1]["request"])
    assert (create.essay_count, create.essays_sha256) == (300, essays_sha256(items))
    assert (create.tenant, create.result_task, create.judge) == (
        "school-1",
        "producer.on_result",
        JUDGE,
    )
    assert all(kwargs["chunk"]["tenant"] == "school-1" for _, kwargs in messages[1:])
    assert reassembled(messages) == items


def test_the_same_request_splits_the_same_way() -> None:
    """A producer that retries sends the same create (the same fingerprint) and chunks."""
    large = request(essays(200, text="word " * 100))
    assert client.intake_messages(large, max_bytes=20_000) == client.intake_messages(
        large, max_bytes=20_000
    )


def test_an_essay_too_long_to_share_a_message_travels_alone() -> None:
    items = [
        *essays(3),
        EssayIn(id="long", text="é" * 20_000),  # 120,000 bytes of JSON: "\u00e9" each
        *[EssayIn(id=f"t{i}", text="tail") for i in range(3)],
    ]
    large = request(items)

    messages = client.intake_messages(large, max_bytes=50_000)

    [alone] = [kwargs for _, kwargs in messages if body_size(kwargs) > 50_000]
    assert [essay["id"] for essay in alone["chunk"]["essays"]] == ["long"]
    assert reassembled(messages) == items


def test_no_chunk_holds_more_essays_than_the_client_allows() -> None:
    items = essays(2_500, text="x")
    messages = client.intake_messages(request(items), max_bytes=100_000)

    counts = [
        len(
            kwargs["request"]["essays"]
            if task == task_names.CREATE_BATCH
            else kwargs["chunk"]["essays"]
        )
        for task, kwargs in messages
    ]
    assert max(counts) == client.MAX_ESSAYS_PER_MESSAGE
    assert sum(counts) == 2_500
