"""``cj.finalize_scoring`` / ``cj.finalize_failure`` end a batch once; ``cj.relay_outbox``
delivers its result event."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery

from cj_worker import task_names
from cj_worker.db.models import EssayResult
from cj_worker.db.states import BatchState, OutboxEventType
from cj_worker.tasks.base import Message, set_transport
from cj_worker.tasks.finalize import finalize_failure, finalize_scoring
from cj_worker.tasks.outbox import relay_outbox
from tests.unit.tasks.builders import (
    FAILED,
    CommitRefusedError,
    Row,
    SeededBatch,
    all_pairs,
    batch_results,
    count,
    essay_results,
    outbox,
    read_batch,
    refused_commits,
    row_counts,
    seed_batch,
)
from tests.unit.tasks.transports import CapturingTransport, LockCheckingTransport

RESULT_TASK = "producer.cj_result"

Prepare = Callable[[str, str | None], SeededBatch]
Finish = Callable[[uuid.UUID], str]


def scoring(batch_id: uuid.UUID) -> str:
    outcome: str = finalize_scoring.delay(str(batch_id)).get()
    return outcome


def failure(batch_id: uuid.UUID) -> str:
    outcome: str = finalize_failure.delay(str(batch_id)).get()
    return outcome


def relay() -> int:
    sent: int = relay_outbox.delay().get()
    return sent


def ready_to_score(url: str, result_task: str | None = None) -> SeededBatch:
    """Five essays, every pair judged once, the lower position always winning."""
    return seed_batch(
        url,
        5,
        all_pairs(5),
        state=BatchState.SCORING,
        final_reason="stable",
        result_task=result_task,
    )


def ready_to_fail(url: str, result_task: str | None = None) -> SeededBatch:
    rows = [Row(0, 1), Row(1, 2, FAILED), Row(2, 3, FAILED), Row(3, 4, FAILED)]
    return seed_batch(
        url,
        5,
        rows,
        state=BatchState.SCORING,
        final_reason="low_success_rate",
        result_task=result_task,
    )


def test_scoring_ranks_every_essay_and_completes_the_batch(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_score(database_url)

    assert scoring(batch.id) == "completed"

    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.final_reason) == (BatchState.COMPLETED, "stable")
    assert stored.completed_at is not None
    results = essay_results(database_url, batch.id)
    assert [result.rank for result, _ in results] == [1, 2, 3, 4, 5]
    assert [essay.position for _, essay in results] == [0, 1, 2, 3, 4], "0 beat everyone"
    scores = [result.score for result, _ in results]
    assert scores == sorted(scores, reverse=True)
    assert abs(sum(scores)) < 1e-6, "mean-centred logits"
    assert all(result.standard_error > 0 for result, _ in results)
    assert [result.wins for result, _ in results] == [4, 3, 2, 1, 0]
    assert all(result.comparisons == 4 for result, _ in results)
    assert all(essay.score == result.score for result, essay in results)
    [summary] = batch_results(database_url, batch.id)
    assert (summary.state, summary.stop_reason, summary.waves) == (
        BatchState.COMPLETED,
        "stable",
        1,
    )
    assert (summary.comparisons_made, summary.comparisons_succeeded) == (10, 10)
    assert summary.ssr is not None
    assert outbox(database_url, batch.id) == [], "no result_task, no event"
    assert sent.messages == []


def test_failure_stores_no_ranking_and_fails_the_batch(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_fail(database_url)

    assert failure(batch.id) == "failed"

    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.final_reason) == (BatchState.FAILED, "low_success_rate")
    assert count(database_url, EssayResult, batch.id) == 0
    [summary] = batch_results(database_url, batch.id)
    assert (summary.state, summary.stop_reason) == (BatchState.FAILED, "low_success_rate")
    assert (summary.comparisons_made, summary.comparisons_failed) == (4, 3)
    assert summary.ssr is None
    assert sent.messages == []


@pytest.mark.parametrize(
    ("prepare", "first", "second"),
    [
        pytest.param(ready_to_score, scoring, scoring, id="scoring-twice"),
        pytest.param(ready_to_score, scoring, failure, id="failure-after-scoring"),
        pytest.param(ready_to_fail, failure, failure, id="failure-twice"),
        pytest.param(ready_to_fail, failure, scoring, id="scoring-after-failure"),
    ],
)
def test_finalizing_twice_changes_nothing(
    database_url: str,
    sent: CapturingTransport,
    prepare: Prepare,
    first: Finish,
    second: Finish,
) -> None:
    batch = prepare(database_url, RESULT_TASK)
    state = first(batch.id)
    before = row_counts(database_url), read_batch(database_url, batch.id).completed_at
    sent.take()

    assert second(batch.id) == f"already_{state}"

    assert (row_counts(database_url), read_batch(database_url, batch.id).completed_at) == before
    assert len(outbox(database_url, batch.id)) == 1
    assert sent.messages == []


def test_an_unknown_batch_is_not_finalized(database_url: str, sent: CapturingTransport) -> None:
    assert scoring(uuid.uuid4()) == "unknown_batch"
    assert failure(uuid.uuid4()) == "unknown_batch"
    assert sent.messages == []


@pytest.mark.parametrize(
    ("prepare", "finish", "event_type"),
    [
        pytest.param(ready_to_score, scoring, OutboxEventType.BATCH_COMPLETED, id="completed"),
        pytest.param(ready_to_fail, failure, OutboxEventType.BATCH_FAILED, id="failed"),
    ],
)
def test_the_result_event_is_written_with_the_results(
    database_url: str,
    sent: CapturingTransport,
    prepare: Prepare,
    finish: Finish,
    event_type: OutboxEventType,
) -> None:
    batch = prepare(database_url, RESULT_TASK)

    state = finish(batch.id)

    [event] = outbox(database_url, batch.id)
    assert (event.event_type, event.task_name, event.sent_at) == (event_type, RESULT_TASK, None)
    [summary] = batch_results(database_url, batch.id)
    assert event.payload == summary.summary
    assert event.payload["state"] == state
    assert event.payload["batch_id"] == str(batch.id)
    assert sent.messages == [Message(task_names.RELAY_OUTBOX, {})], "the relay is nudged"


def test_results_state_and_event_commit_together(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_score(database_url, RESULT_TASK)
    before = row_counts(database_url)

    with refused_commits(), pytest.raises(CommitRefusedError):
        scoring(batch.id)

    assert row_counts(database_url) == before
    assert read_batch(database_url, batch.id).state is BatchState.SCORING
    assert sent.messages == []
    assert scoring(batch.id) == "completed", "the retry finds the batch as it was"


def test_the_relay_sends_the_event_once_and_marks_it_sent(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_score(database_url, RESULT_TASK)
    scoring(batch.id)
    [summary] = batch_results(database_url, batch.id)
    sent.take()

    assert relay() == 1

    assert sent.messages == [
        Message(
            RESULT_TASK,
            {"event": {"type": "batch.completed", **summary.summary}},
            queue=task_names.RESULTS_QUEUE,
        )
    ]
    [event] = outbox(database_url, batch.id)
    assert event.sent_at is not None
    assert (event.attempts, event.last_error) == (1, None)
    assert relay() == 0
    assert len(sent.messages) == 1, "a sent event is not sent again"


class BrokenTransport:
    def send(self, message: Message) -> None:
        raise ConnectionError("broker down")


def test_an_event_the_broker_refused_stays_pending_for_the_next_relay(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_fail(database_url, RESULT_TASK)
    failure(batch.id)
    sent.take()

    previous = set_transport(BrokenTransport())
    try:
        assert relay() == 0
    finally:
        set_transport(previous)

    [event] = outbox(database_url, batch.id)
    assert event.sent_at is None
    assert event.attempts == 1
    assert "broker down" in (event.last_error or "")
    assert relay() == 1
    assert sent.tasks() == [RESULT_TASK]
    [event] = outbox(database_url, batch.id)
    assert (event.sent_at is not None, event.attempts, event.last_error) == (True, 2, None)


@pytest.fixture
def lock_checked(eager_app: Celery, migrated_sqlite_file: Path) -> Iterator[LockCheckingTransport]:
    transport = LockCheckingTransport(migrated_sqlite_file, CapturingTransport())
    previous = set_transport(transport)
    try:
        yield transport
    finally:
        set_transport(previous)


def test_the_relay_sends_outside_any_database_lock(
    database_url: str, lock_checked: LockCheckingTransport
) -> None:
    batch = ready_to_score(database_url, RESULT_TASK)
    scoring(batch.id)

    relay()

    assert lock_checked.sent == 2  # the relay nudge, then the event
    assert lock_checked.sent_under_lock == []
