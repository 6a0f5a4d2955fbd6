"""``cj.continue_batch``: one decision per wave, persisted with its reason, acted on after
commit."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery

from cj_worker import task_names
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION
from cj_worker.db.column_types import utc_now
from cj_worker.db.progress import SELECTION_PRIOR_PRECISION
from cj_worker.db.states import BatchState, ComparisonRowStatus, GenerationMode
from cj_worker.tasks.base import Message, set_transport
from cj_worker.tasks.continuation import continue_batch
from cj_worker.tasks.sweep import sweep
from tests.builders.tasks import (
    FAILED,
    PENDING,
    Row,
    SeededBatch,
    all_pairs,
    backdate_comparisons,
    comparisons,
    decisions,
    read_batch,
    row_counts,
    seed_batch,
    update_batch,
)
from tests.unit.tasks.transports import CapturingTransport, capturing

COVERAGE_KEYS = {
    "max_possible_pairs",
    "successful_pairs_count",
    "unique_coverage_complete",
    "resampling_pass_count",
}


def run(batch_id: uuid.UUID, wave: int) -> str:
    outcome: str = continue_batch.delay(str(batch_id), wave).get()
    return outcome


def logged(caplog: pytest.LogCaptureFixture, batch_id: uuid.UUID, event: str) -> int:
    """How many lines about the batch start with ``event``."""
    return sum(
        record.getMessage().startswith(event)
        for record in caplog.records
        if getattr(record, "batch_id", None) == str(batch_id)
    )


@pytest.fixture
def half_covered(database_url: str) -> SeededBatch:
    """Six essays (a small net) after wave 1: three of the 15 pairs judged."""
    return seed_batch(database_url, 6, [Row(0, 1), Row(3, 2), Row(4, 5)])


def test_the_first_decision_dispatches_a_coverage_wave(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 6, [], wave=0, state=BatchState.CREATED)

    assert run(batch.id, 0) == "coverage_incomplete"

    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.current_wave) == (BatchState.COLLECTING, 1)
    wave = comparisons(database_url, batch.id, wave=1)
    assert 1 <= len(wave) <= 3
    essays = [c.essay_a for c in wave] + [c.essay_b for c in wave]
    assert len(set(essays)) == len(essays), "each essay at most once per wave"
    assert all(c.status is ComparisonRowStatus.PENDING for c in wave)
    assert stored.comparisons_submitted == len(wave)
    assert sent.tasks() == [task_names.JUDGE_COMPARISON], "one bundle of tickets"
    tickets = sent.tickets()
    assert [t["comparison_id"] for t in tickets] == [str(c.id) for c in wave]
    assert all(set(t) == {"comparison_id", "batch_id", "token", "simulation"} for t in tickets), (
        "the simulated judge gets ids and true scores, never texts"
    )
    [message] = sent.messages
    assert message.kwargsrepr is not None
    assert tickets[0]["comparison_id"] in message.kwargsrepr
    assert "token" not in message.kwargsrepr


def test_the_decision_is_logged_with_its_reason_and_figures(
    database_url: str, sent: CapturingTransport, half_covered: SeededBatch
) -> None:
    assert run(half_covered.id, 1) == "coverage_incomplete"

    [wave_0, wave_1] = decisions(database_url, half_covered.id)
    assert wave_0.wave == 0, "seeded"
    assert (wave_1.wave, wave_1.action, wave_1.reason) == (
        1,
        "request_coverage_wave",
        "coverage_incomplete",
    )
    figures = wave_1.details
    assert (figures["submitted"], figures["succeeded"], figures["failed"]) == (3, 3, 0)
    assert (figures["pending"], figures["budget_left"], figures["wave"]) == (0, 97, 1)
    assert figures["success_rate"] == 1.0
    assert figures["small_net"] is True
    assert figures["stable"] is False
    assert figures["resampling_pass_count"] == 0
    assert 0 < figures["wave_limit"] <= 97
    assert 0.0 <= figures["ssr"] <= 1.0
    stored = read_batch(database_url, half_covered.id)
    assert stored.current_wave == 2
    assert len(comparisons(database_url, half_covered.id, wave=2)) == len(sent.tickets()) > 0


def coverage_keys(metadata: dict[str, Any]) -> dict[str, Any]:
    return {key: metadata[key] for key in COVERAGE_KEYS if key in metadata}


def test_the_selection_prior_is_carried_to_the_next_wave(
    database_url: str, sent: CapturingTransport
) -> None:
    """The information policy's EM step is persisted, so the next wave starts from it."""
    seeded = seed_batch(
        database_url,
        6,
        [Row(0, 1), Row(3, 2), Row(4, 5)],
        settings={"pairing_policy": "hybrid"},
    )
    run(seeded.id, 1)

    metadata = read_batch(database_url, seeded.id).processing_metadata
    assert metadata[SELECTION_PRIOR_PRECISION] != INITIAL_SELECTION_PRECISION
    assert 1 / 25 <= metadata[SELECTION_PRIOR_PRECISION] <= 4


def test_processing_metadata_gets_the_four_coverage_keys(
    database_url: str, sent: CapturingTransport, half_covered: SeededBatch
) -> None:
    run(half_covered.id, 1)

    metadata = read_batch(database_url, half_covered.id).processing_metadata
    assert coverage_keys(metadata) == {
        "max_possible_pairs": 15,
        "successful_pairs_count": 3,
        "unique_coverage_complete": False,
        "resampling_pass_count": 0,
    }


@pytest.mark.parametrize(
    ("rows", "seeded"),
    [
        (
            [Row(0, 1), Row(2, 3)],
            {"max_possible_pairs": 40, "successful_pairs_count": 12, "producer_note": "kept"},
        ),
        (
            [Row(0, 1), Row(2, 3), Row(4, 5)],
            {"max_possible_pairs": 15, "successful_pairs_count": 15},
        ),
    ],
    ids=["counts-above-the-rows", "complete-coverage-above-the-rows"],
)
def test_coverage_counts_never_move_backwards(
    database_url: str,
    sent: CapturingTransport,
    caplog: pytest.LogCaptureFixture,
    rows: list[Row],
    seeded: dict[str, Any],
) -> None:
    """Coverage is counted from the rows, which only grow: stored counts above them mean
    comparison rows were lost, and no decision is taken on a history that went backwards.
    The stored keys stay as they were, and the refusal is logged as an error."""
    caplog.set_level(logging.INFO, logger="cj_worker")
    batch = seed_batch(database_url, 6, rows, metadata=seeded)

    assert run(batch.id, 1) == "coverage_regression"

    after = read_batch(database_url, batch.id)
    assert {key: after.processing_metadata[key] for key in seeded} == seeded
    assert after.current_wave == 1
    assert sent.messages == []
    assert logged(caplog, batch.id, "coverage_regression") == 1


def test_a_small_net_with_full_coverage_enters_phase_2(
    database_url: str, sent: CapturingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cj_worker")
    batch = seed_batch(database_url, 5, all_pairs(5))

    assert run(batch.id, 1) == "small_net_phase2"

    stored = read_batch(database_url, batch.id)
    assert stored.resampling_pass_count == 1
    assert coverage_keys(stored.processing_metadata) == {
        "max_possible_pairs": 10,
        "successful_pairs_count": 10,
        "unique_coverage_complete": True,
        "resampling_pass_count": 1,
    }
    [decision] = [d for d in decisions(database_url, batch.id) if d.wave == 1]
    assert (decision.action, decision.reason) == ("request_resampling_wave", "small_net_phase2")
    wave = comparisons(database_url, batch.id, wave=2)
    assert wave
    assert {c.mode for c in wave} == {GenerationMode.RESAMPLING}
    assert all(c.attempt == 2 for c in wave), "every pair was judged once before"
    assert logged(caplog, batch.id, "small_net_phase2_entered") == 1


def test_the_small_net_resampling_cap_finalizes_and_logs_the_cap_line(
    database_url: str, sent: CapturingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cj_worker")
    rows = [
        *all_pairs(5, wave=1),
        Row(1, 0, wave=2, mode=GenerationMode.RESAMPLING),
        Row(3, 2, wave=3, mode=GenerationMode.RESAMPLING),
    ]
    batch = seed_batch(database_url, 5, rows, wave=3, resampling_pass_count=2)

    assert run(batch.id, 3) == "small_net_resampling_cap"

    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.final_reason) == (BatchState.SCORING, "small_net_resampling_cap")
    assert stored.resampling_pass_count == 2
    assert sent.messages == [Message(task_names.FINALIZE_SCORING, {"batch_id": str(batch.id)})]
    assert logged(caplog, batch.id, "small_net_resampling_cap_reached") == 1
    assert logged(caplog, batch.id, "small_net_phase2_entered") == 0


def test_a_capped_batch_with_a_low_success_rate_finalizes_as_a_failure(
    database_url: str, sent: CapturingTransport
) -> None:
    rows = [Row(0, 1), Row(2, 3, FAILED), Row(4, 5, FAILED), Row(1, 2, FAILED)]
    batch = seed_batch(database_url, 6, rows, budget=4)

    assert run(batch.id, 1) == "low_success_rate"

    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.final_reason) == (BatchState.SCORING, "low_success_rate")
    assert sent.messages == [Message(task_names.FINALIZE_FAILURE, {"batch_id": str(batch.id)})]
    [decision] = [d for d in decisions(database_url, batch.id) if d.wave == 1]
    assert decision.action == "finalize_failure"
    assert decision.details["success_rate"] == 0.25


def test_a_wave_with_a_pending_comparison_waits_without_a_decision(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 6, [Row(0, 1), Row(2, 3, PENDING)])
    before = row_counts(database_url)

    assert run(batch.id, 1) == "wave_in_flight"

    assert row_counts(database_url) == before
    assert [d.wave for d in decisions(database_url, batch.id)] == [0]
    stored = read_batch(database_url, batch.id)
    assert (stored.current_wave, stored.processing_metadata) == (1, {})
    assert sent.messages == []


def test_a_stale_wave_is_ignored(database_url: str, sent: CapturingTransport) -> None:
    batch = seed_batch(database_url, 6, [Row(0, 1, wave=1), Row(2, 3, wave=2)], wave=2)
    before = row_counts(database_url)

    assert run(batch.id, 1) == "stale_wave"
    assert run(batch.id, 3) == "stale_wave"

    assert row_counts(database_url) == before
    assert sent.messages == []


@pytest.mark.parametrize(
    "state",
    [BatchState.SCORING, BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED],
)
def test_a_batch_past_collecting_is_ignored(
    database_url: str, sent: CapturingTransport, state: BatchState
) -> None:
    batch = seed_batch(database_url, 6, [Row(0, 1)], state=state)
    before = row_counts(database_url)

    assert run(batch.id, 1) == f"ignored_{state}"

    assert row_counts(database_url) == before
    assert read_batch(database_url, batch.id).state is state
    assert sent.messages == []


def test_an_unknown_batch_is_ignored(database_url: str, sent: CapturingTransport) -> None:
    assert run(uuid.uuid4(), 1) == "unknown_batch"
    assert sent.messages == []


def test_a_duplicate_continuation_takes_no_second_decision(
    database_url: str, sent: CapturingTransport, half_covered: SeededBatch
) -> None:
    run(half_covered.id, 1)
    first = sent.tickets()
    sent.take()
    wave_2 = len(comparisons(database_url, half_covered.id, wave=2))
    before = row_counts(database_url)

    assert run(half_covered.id, 1) == "stale_wave"

    assert row_counts(database_url) == before
    assert [d.wave for d in decisions(database_url, half_covered.id)] == [0, 1]
    assert len(comparisons(database_url, half_covered.id, wave=2)) == wave_2 == len(first)
    assert sent.messages == []


def test_a_decision_already_logged_for_the_wave_stands(
    database_url: str, sent: CapturingTransport
) -> None:
    """The decision log is the second guard: one row per wave, the first one wins."""
    batch = seed_batch(database_url, 6, [Row(0, 1), Row(2, 3)], decided_waves=[0, 1])
    before = row_counts(database_url)

    assert run(batch.id, 1) == "duplicate"

    assert row_counts(database_url) == before
    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.current_wave) == (BatchState.COLLECTING, 1)
    assert stored.processing_metadata == {}
    assert sent.messages == []


def test_the_wave_s_requests_are_counted_as_sent_once_they_left(
    database_url: str, sent: CapturingTransport, half_covered: SeededBatch
) -> None:
    run(half_covered.id, 1)

    wave = comparisons(database_url, half_covered.id, wave=2)
    assert len(sent.tickets()) == len(wave) > 0
    assert all(row.sends == 1 and row.sent_at is not None for row in wave)


class BrokerDownAfter:
    """A transport that takes ``accepted`` messages, then fails as an unreachable broker."""

    def __init__(self, accepted: int) -> None:
        self.accepted = accepted
        self.messages: list[Message] = []

    def send(self, message: Message) -> None:
        if len(self.messages) >= self.accepted:
            raise ConnectionError("broker unreachable")
        self.messages.append(message)


def test_a_crash_between_commit_and_send_leaves_the_requests_to_the_sweep(
    database_url: str, eager_app: Celery, half_covered: SeededBatch
) -> None:
    """The wave is committed; its requests never reach the broker. Nothing is lost: the
    rows still say unsent, the redelivered continuation is stale, and the sweep sends them."""
    broken = BrokerDownAfter(accepted=0)
    previous = set_transport(broken)
    try:
        with pytest.raises(ConnectionError):
            run(half_covered.id, 1)
    finally:
        set_transport(previous)
    wave = comparisons(database_url, half_covered.id, wave=2)
    assert wave, "the decision and the wave's rows were committed"
    assert {row.sends for row in wave} == {0}, "none counted as sent"

    with capturing() as transport:
        assert run(half_covered.id, 1) == "stale_wave"
        update_batch(
            database_url, half_covered.id, last_activity_at=utc_now() - timedelta(minutes=1)
        )
        backdate_comparisons(database_url, half_covered.id, timedelta(minutes=1))
        swept = sweep.delay().get()

    assert swept["dispatched"] == len(wave)
    ids = [ticket["comparison_id"] for ticket in transport.tickets()]
    assert ids == [str(row.id) for row in wave]
    assert {row.sends for row in comparisons(database_url, half_covered.id, wave=2)} == {1}
