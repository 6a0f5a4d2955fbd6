"""``cj.record_comparison_result``: every judge answer is counted exactly once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cj_worker import task_names
from cj_worker.db.states import BatchState, ComparisonRowStatus, Slot
from cj_worker.payloads import PayloadError
from cj_worker.tasks.base import Message
from cj_worker.tasks.callbacks import UnknownComparisonError, record_comparison_result
from tests.unit.tasks.builders import (
    PENDING,
    TIMED_OUT,
    Row,
    SeededBatch,
    comparisons,
    read_batch,
    row_counts,
    seed_batch,
)
from tests.unit.tasks.transports import CapturingTransport


def answer(comparison_id: uuid.UUID, winner: str | None = "B", **fields: Any) -> dict[str, Any]:
    """A judge's answer as JSON: ``winner`` None makes it a failed judgement."""
    result: dict[str, Any] = {
        "comparison_id": str(comparison_id),
        "status": "failed" if winner is None else "succeeded",
        "winner": winner,
        "judge_id": "judge-1",
    }
    if winner is None:
        result["error_code"] = "timeout_upstream"
    result.update(fields)
    return result


def record(result: dict[str, Any]) -> str:
    outcome: str = record_comparison_result.delay(result).get()
    return outcome


def counters(url: str, batch_id: uuid.UUID) -> tuple[int, int, int]:
    batch = read_batch(url, batch_id)
    return batch.comparisons_submitted, batch.comparisons_succeeded, batch.comparisons_failed


def continuation(batch: SeededBatch, wave: int = 1) -> Message:
    return Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch.id), "wave": wave})


@pytest.fixture
def wave_of_two(database_url: str) -> SeededBatch:
    """A batch at wave 1 waiting for two answers."""
    return seed_batch(database_url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)])


def test_an_answer_is_stored_and_counted(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    first, _ = wave_of_two.comparison_ids

    assert record(answer(first, "B", confidence=0.75, justification="clearer")) == "recorded"

    assert counters(database_url, wave_of_two.id) == (2, 1, 0)
    row = next(c for c in comparisons(database_url, wave_of_two.id) if c.id == first)
    assert row.status is ComparisonRowStatus.SUCCEEDED
    assert (row.winner, row.judge_id, row.confidence, row.justification) == (
        Slot.B,
        "judge-1",
        0.75,
        "clearer",
    )
    assert row.completed_at is not None
    assert sent.messages == [], "the wave still has a pending comparison"


def test_the_answer_that_completes_the_wave_triggers_continuation(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    first, second = wave_of_two.comparison_ids
    record(answer(first))
    record(answer(second, None))

    assert sent.messages == [continuation(wave_of_two)]
    assert counters(database_url, wave_of_two.id) == (2, 1, 1)


def test_a_duplicate_delivery_is_counted_once(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    first, second = wave_of_two.comparison_ids
    record(answer(first, "A"))

    assert record(answer(first, "A")) == "duplicate"
    assert record(answer(first, "B")) == "duplicate", "the first answer stands"
    assert record(answer(first, None)) == "duplicate"

    assert counters(database_url, wave_of_two.id) == (2, 1, 0)
    row = next(c for c in comparisons(database_url, wave_of_two.id) if c.id == first)
    assert (row.status, row.winner) == (ComparisonRowStatus.SUCCEEDED, Slot.A)
    assert sent.messages == []

    record(answer(second))
    assert record(answer(second)) == "duplicate"
    # The redelivered last answer re-sends the trigger (the first send may have been lost
    # after commit); the continuation task ignores the spare.
    assert sent.messages == [continuation(wave_of_two), continuation(wave_of_two)]
    assert counters(database_url, wave_of_two.id) == (2, 2, 0)


def test_a_failed_judgement_counts_as_failed(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    first, _ = wave_of_two.comparison_ids

    assert record(answer(first, None, error_detail="rate limited")) == "recorded"

    assert counters(database_url, wave_of_two.id) == (2, 0, 1)
    row = next(c for c in comparisons(database_url, wave_of_two.id) if c.id == first)
    assert (row.status, row.winner) == (ComparisonRowStatus.FAILED, None)
    assert (row.error_code, row.error_detail) == ("timeout_upstream", "rate limited")


def test_an_unknown_comparison_raises_and_changes_nothing(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    before = row_counts(database_url), read_batch(database_url, wave_of_two.id).last_activity_at

    with pytest.raises(UnknownComparisonError, match="comparison_id"):
        record(answer(uuid.uuid4()))

    after = row_counts(database_url), read_batch(database_url, wave_of_two.id).last_activity_at
    assert after == before
    assert counters(database_url, wave_of_two.id) == (2, 0, 0)
    assert sent.messages == []


def test_an_invalid_answer_is_rejected_naming_the_field(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    first, _ = wave_of_two.comparison_ids

    with pytest.raises(PayloadError, match="winner"):
        record(answer(first, "B", status="failed"))
    with pytest.raises(PayloadError, match="confidence"):
        record(answer(first, "B", confidence=1.5))

    assert counters(database_url, wave_of_two.id) == (2, 0, 0)


def test_a_late_success_after_a_timeout_moves_failed_to_succeeded(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1, TIMED_OUT), Row(2, 3, PENDING)])
    timed_out, _ = batch.comparison_ids
    assert counters(database_url, batch.id) == (2, 0, 1)

    assert record(answer(timed_out, "A")) == "late_success"

    assert counters(database_url, batch.id) == (2, 1, 0)
    row = next(c for c in comparisons(database_url, batch.id) if c.id == timed_out)
    assert (row.status, row.winner) == (ComparisonRowStatus.SUCCEEDED, Slot.A)
    assert record(answer(timed_out, "A")) == "duplicate"
    assert counters(database_url, batch.id) == (2, 1, 0)


def test_a_failure_after_a_timeout_changes_nothing(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1, TIMED_OUT), Row(2, 3, PENDING)])
    timed_out, _ = batch.comparison_ids

    assert record(answer(timed_out, None)) == "duplicate"

    assert counters(database_url, batch.id) == (2, 0, 1)
    row = next(c for c in comparisons(database_url, batch.id) if c.id == timed_out)
    assert row.status is ComparisonRowStatus.TIMED_OUT


@pytest.mark.parametrize("state", [BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED])
def test_an_answer_after_the_batch_ended_is_not_counted(
    database_url: str, sent: CapturingTransport, state: BatchState
) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1, PENDING)], state=state)

    assert record(answer(batch.comparison_ids[0])) == "batch_closed"

    assert counters(database_url, batch.id) == (1, 0, 0)
    [row] = comparisons(database_url, batch.id)
    assert row.status is ComparisonRowStatus.PENDING
    assert read_batch(database_url, batch.id).state is state
    assert sent.messages == []


def test_an_answer_for_an_earlier_wave_triggers_nothing(
    database_url: str, sent: CapturingTransport
) -> None:
    """A late success of wave 1 while wave 2 runs is counted but decides nothing."""
    batch = seed_batch(
        database_url, 4, [Row(0, 1, TIMED_OUT, wave=1), Row(2, 3, PENDING, wave=2)], wave=2
    )

    assert record(answer(batch.comparison_ids[0])) == "late_success"

    assert counters(database_url, batch.id) == (2, 1, 0)
    assert sent.messages == []
