"""The task shells' metric calls: what they count, with which labels, and when not.

Counters live in this process's default registry (the tests run without multiprocess
mode), so each test reads the change it caused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from cj_worker.db.states import BatchState
from cj_worker.payloads import PayloadError
from cj_worker.tasks.base import Message, set_transport
from cj_worker.tasks.callbacks import UnknownComparisonError, record_comparison_result
from cj_worker.tasks.continuation import continue_batch
from cj_worker.tasks.finalize import finalize_scoring
from cj_worker.tasks.outbox import relay_outbox
from cj_worker.tasks.sweep import sweep
from cj_worker.tokens import token_for
from tests.builders.tasks import (
    PENDING,
    CommitRefusedError,
    Row,
    all_pairs,
    refused_commits,
    seed_batch,
    sent_ago,
)
from tests.unit.tasks.transports import CapturingTransport


def reading(name: str, **labels: str) -> Callable[[], float]:
    """A function that returns the sample's current value (0 before its first use)."""
    return lambda: REGISTRY.get_sample_value(name, labels) or 0.0


def change(read: Callable[[], float], action: Callable[[], Any]) -> float:
    before = read()
    action()
    return read() - before


def decisions(action: str, reason: str) -> Callable[[], float]:
    return reading("cj_decisions_total", action=action, reason=reason)


def test_a_decision_and_its_wave_are_counted_once_committed(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 6, [Row(0, 1), Row(3, 2), Row(4, 5)])
    coverage = decisions("request_coverage_wave", "coverage_incomplete")
    waves = reading("cj_waves_total", mode="coverage")
    fits = reading("cj_bt_fit_seconds_count")
    before = coverage(), waves(), fits()

    continue_batch.delay(str(batch.id), 1).get()

    assert (coverage(), waves(), fits()) == (before[0] + 1, before[1] + 1, before[2] + 1)
    # A duplicate continuation decides nothing and counts nothing.
    assert change(coverage, lambda: continue_batch.delay(str(batch.id), 1).get()) == 0


def test_a_decision_that_did_not_commit_is_not_counted(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 6, [Row(0, 1), Row(3, 2), Row(4, 5)])

    def refused() -> None:
        with refused_commits(), pytest.raises(CommitRefusedError):
            continue_batch.delay(str(batch.id), 1).get()

    assert change(decisions("request_coverage_wave", "coverage_incomplete"), refused) == 0


def test_a_finalizing_decision_is_counted_with_its_reason(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 4, all_pairs(4), budget=6)

    def decide() -> None:
        assert continue_batch.delay(str(batch.id), 1).get() == "budget_exhausted"

    assert change(decisions("finalize_scoring", "budget_exhausted"), decide) == 1


@pytest.mark.parametrize(("winner", "status"), [("A", "succeeded"), (None, "failed")])
def test_callbacks_are_counted_by_outcome_and_status(
    database_url: str, sent: CapturingTransport, winner: str | None, status: str
) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)])
    answer: dict[str, Any] = {
        "comparison_id": str(batch.comparison_ids[0]),
        "token": token_for(batch.comparison_ids[0]),
        "status": status,
        "winner": winner,
    }
    recorded = reading("cj_callbacks_total", outcome="recorded", status=status)
    duplicate = reading("cj_callbacks_total", outcome="duplicate", status=status)

    assert change(recorded, lambda: record_comparison_result.delay(answer).get()) == 1
    assert change(duplicate, lambda: record_comparison_result.delay(answer).get()) == 1


def test_rejected_callbacks_are_counted(database_url: str, sent: CapturingTransport) -> None:
    invalid = reading("cj_callbacks_total", outcome="rejected", status="invalid")
    unknown = reading("cj_callbacks_total", outcome="rejected", status="succeeded")

    def bad_payload() -> None:
        with pytest.raises(PayloadError):
            record_comparison_result.delay({"comparison_id": "not a uuid"}).get()

    def unknown_comparison() -> None:
        comparison_id = uuid.uuid4()
        answer: dict[str, object] = {
            "comparison_id": str(comparison_id),
            "token": token_for(comparison_id),
            "status": "succeeded",
            "winner": "A",
        }
        with pytest.raises(UnknownComparisonError):
            record_comparison_result.delay(answer).get()

    assert change(invalid, bad_payload) == 1
    assert change(unknown, unknown_comparison) == 1


def test_the_sweep_counts_timeouts_and_re_sent_triggers(
    database_url: str, sent: CapturingTransport
) -> None:
    silent = timedelta(hours=1)  # sent, re-sent, and never answered
    batch = seed_batch(database_url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)], quiet_for=silent)
    sent_ago(database_url, batch.id, silent, sends=2)
    timed_out = reading("cj_sweep_actions_total", action="timed_out")
    continuations = reading("cj_sweep_actions_total", action="continuation")
    before = timed_out(), continuations()

    sweep.delay().get()

    assert (timed_out(), continuations()) == (before[0] + 2, before[1] + 1)


class RefusingTransport:
    def send(self, message: Message) -> None:
        raise ConnectionError("broker down")


def test_outbox_deliveries_are_counted_by_outcome(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(
        database_url,
        4,
        all_pairs(4),
        state=BatchState.SCORING,
        final_reason="stable",
        result_task="producer.on_result",
    )
    finalize_scoring.delay(str(batch.id)).get()
    delivered = reading("cj_outbox_deliveries_total", outcome="sent")
    failed = reading("cj_outbox_deliveries_total", outcome="failed")

    previous = set_transport(RefusingTransport())
    try:
        assert change(failed, lambda: relay_outbox.delay().get()) == 1
    finally:
        set_transport(previous)
    assert change(delivered, lambda: relay_outbox.delay().get()) == 1
