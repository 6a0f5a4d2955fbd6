"""``cj.record_comparison_result``: every judge answer is counted exactly once, and only an
answer that echoes its comparison's token is counted at all."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cj_worker import metrics, task_names
from cj_worker.config import get_settings
from cj_worker.db.states import BatchState, ComparisonRowStatus, Slot
from cj_worker.payloads import FATAL_JUDGE_ERROR_CODES, PayloadError
from cj_worker.tasks.base import Message
from cj_worker.tasks.callbacks import (
    ResultRefusedError,
    UnknownComparisonError,
    record_comparison_result,
)
from cj_worker.tasks.finalize import finalize_failure
from cj_worker.tokens import token_for
from tests.builders.tasks import (
    PENDING,
    TIMED_OUT,
    Row,
    SeededBatch,
    batch_results,
    comparisons,
    decisions,
    read_batch,
    row_counts,
    seed_batch,
)
from tests.unit.tasks.transports import CapturingTransport


def answer(comparison_id: uuid.UUID, winner: str | None = "B", **fields: Any) -> dict[str, Any]:
    """A judge's answer as JSON: ``winner`` None makes it a failed judgement.

    It echoes the comparison's token, as a judge echoes the one of its request.
    """
    result: dict[str, Any] = {
        "comparison_id": str(comparison_id),
        "token": token_for(comparison_id),
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


# ------------------------------------------------------------------------ authenticity


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Calls of ``metrics.observe_refused``, recorded instead of counted."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(metrics, "observe_refused", lambda *labels: calls.append(labels))
    return calls


@pytest.mark.parametrize(
    ("token", "says"),
    [
        pytest.param(None, "token is missing", id="missing"),
        pytest.param("", "token is missing", id="empty"),
        pytest.param("0" * 64, "token is not the one issued", id="guessed"),
        pytest.param(token_for(uuid.uuid4()), "token is not the one issued", id="another"),
    ],
)
def test_an_answer_without_its_token_changes_nothing_and_is_counted(
    database_url: str,
    sent: CapturingTransport,
    wave_of_two: SeededBatch,
    refusals: list[tuple[str, str]],
    token: str | None,
    says: str,
) -> None:
    first, _ = wave_of_two.comparison_ids
    before = row_counts(database_url), read_batch(database_url, wave_of_two.id).last_activity_at

    with pytest.raises(ResultRefusedError, match=f"result refused: {says} for comparison {first}"):
        record(answer(first, "A", token=token))

    after = row_counts(database_url), read_batch(database_url, wave_of_two.id).last_activity_at
    assert after == before
    assert counters(database_url, wave_of_two.id) == (2, 0, 0)
    assert all(c.status is PENDING for c in comparisons(database_url, wave_of_two.id))
    assert refusals == [(task_names.RECORD_COMPARISON_RESULT, "unauthenticated")]
    assert sent.messages == []
    assert record(answer(first, "B")) == "recorded", "the real answer still counts"


def test_a_token_for_one_comparison_does_not_answer_another(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    first, second = wave_of_two.comparison_ids
    with pytest.raises(ResultRefusedError):
        record(answer(second, "A", token=token_for(first)))
    assert counters(database_url, wave_of_two.id) == (2, 0, 0)


def test_an_unknown_comparison_without_a_token_is_refused_before_it_is_looked_up(
    database_url: str, sent: CapturingTransport, refusals: list[tuple[str, str]]
) -> None:
    """A stranger probing comparison ids learns nothing: no token, no lookup."""
    with pytest.raises(ResultRefusedError, match="token is missing"):
        record(answer(uuid.uuid4(), token=None))
    assert refusals == [(task_names.RECORD_COMPARISON_RESULT, "unauthenticated")]


def test_an_answer_naming_another_batch_is_refused(
    database_url: str,
    sent: CapturingTransport,
    wave_of_two: SeededBatch,
    refusals: list[tuple[str, str]],
) -> None:
    first, _ = wave_of_two.comparison_ids
    other = seed_batch(database_url, 4, [Row(0, 1, PENDING)])
    before = row_counts(database_url)

    with pytest.raises(ResultRefusedError, match=f"is not of batch {other.id}"):
        record(answer(first, "A", batch_id=str(other.id)))

    assert row_counts(database_url) == before
    assert counters(database_url, wave_of_two.id) == (2, 0, 0)
    assert counters(database_url, other.id) == (1, 0, 0)
    assert refusals == [(task_names.RECORD_COMPARISON_RESULT, "wrong_batch")]
    assert record(answer(first, "A", batch_id=str(wave_of_two.id))) == "recorded"


def test_rotation_accepts_the_old_secret_until_it_is_dropped(
    database_url: str,
    sent: CapturingTransport,
    wave_of_two: SeededBatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = wave_of_two.comparison_ids

    def secrets(value: str) -> None:
        monkeypatch.setenv("CJ_RESULT_TOKEN_SECRETS", value)
        get_settings.cache_clear()

    secrets("old-secret")
    old_first, old_second = token_for(first), token_for(second)
    secrets("new-secret,old-secret")
    assert token_for(first) != old_first, "the first secret signs"
    assert record(answer(first, "A", token=old_first)) == "recorded", "any secret verifies"

    secrets("new-secret")
    with pytest.raises(ResultRefusedError, match="not the one issued"):
        record(answer(second, "A", token=old_second))
    assert counters(database_url, wave_of_two.id) == (2, 1, 0)
    get_settings.cache_clear()


# ------------------------------------------------------------------------- usage and cost


def test_an_answers_usage_is_stored_on_its_row(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    first, second = wave_of_two.comparison_ids
    usage = {
        "model": "m",
        "prompt_tokens": 812,
        "completion_tokens": 41,
        "latency_seconds": 1.25,
        "attempts": 3,
        "cost": 0.0042,
    }

    record(answer(first, "A", usage=usage))
    record(answer(second, "B"))

    rows = {row.id: row for row in comparisons(database_url, wave_of_two.id)}
    stored = rows[first]
    assert (
        stored.prompt_tokens,
        stored.completion_tokens,
        stored.latency_seconds,
        stored.attempts,
        stored.cost,
    ) == (812, 41, 1.25, 3, 0.0042)
    other = rows[second]
    assert (other.prompt_tokens, other.attempts, other.cost) == (None, None, None), (
        "a judge that reports no usage leaves the columns NULL"
    )


# -------------------------------------------------------------- a judge that cannot work


def refused_key(comparison_id: uuid.UUID, code: str = "judge_auth_failed") -> dict[str, Any]:
    return answer(
        comparison_id,
        None,
        error_code=code,
        error_detail="HTTP 401 from the endpoint",
        judge_id="llm:m",
        usage={"model": "m", "attempts": 1},
    )


@pytest.mark.parametrize("code", sorted(FATAL_JUDGE_ERROR_CODES))
def test_a_fatal_judge_error_fails_the_batch_at_once(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch, code: str
) -> None:
    first, second = wave_of_two.comparison_ids

    assert record(refused_key(first, code)) == "recorded"

    batch = read_batch(database_url, wave_of_two.id)
    assert (batch.state, batch.final_reason) == (BatchState.SCORING, "judge_unauthorized")
    [*_, decision] = decisions(database_url, wave_of_two.id)
    assert (decision.wave, decision.action, decision.reason) == (
        1,
        "finalize_failure",
        "judge_unauthorized",
    )
    assert decision.details["error_code"] == code
    assert sent.messages == [
        Message(task_names.FINALIZE_FAILURE, {"batch_id": str(wave_of_two.id)})
    ], "one finalization, without waiting for the rest of the wave"

    # The finalization's authority check accepts the callback's decision.
    assert finalize_failure.delay(str(wave_of_two.id)).get() == "failed"
    batch = read_batch(database_url, wave_of_two.id)
    assert (batch.state, batch.final_reason) == (BatchState.FAILED, "judge_unauthorized")
    [result] = batch_results(database_url, wave_of_two.id)
    assert result.stop_reason == "judge_unauthorized"
    assert (result.summary["usage"]["comparisons"], result.summary["usage"]["attempts"]) == (
        1,
        1,
    ), "the result event says what the batch spent before it failed"

    assert record(refused_key(second, code)) == "batch_closed", "the rest arrive at a closed batch"


def test_a_fatal_error_while_the_batch_is_scoring_decides_nothing_more(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(
        database_url, 4, [Row(0, 1, PENDING)], state=BatchState.SCORING, final_reason="stable"
    )

    assert record(refused_key(batch.comparison_ids[0])) == "recorded"

    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.final_reason) == (BatchState.SCORING, "stable")
    assert [d.reason for d in decisions(database_url, batch.id)][-1] == "stable"
    assert sent.messages == []


def test_an_ordinary_failure_does_not_fail_the_batch(
    database_url: str, sent: CapturingTransport, wave_of_two: SeededBatch
) -> None:
    first, _ = wave_of_two.comparison_ids

    record(answer(first, None, error_code="judge_response_malformed"))

    assert read_batch(database_url, wave_of_two.id).state is BatchState.COLLECTING
    assert sent.messages == []
