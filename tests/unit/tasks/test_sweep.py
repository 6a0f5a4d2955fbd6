"""``cj.sweep``: times out silent judges and re-sends lost triggers, nothing more."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cj_worker import task_names
from cj_worker.config import get_settings
from cj_worker.db.states import BatchState, ComparisonRowStatus
from cj_worker.tasks.base import Message
from cj_worker.tasks.sweep import sweep
from tests.unit.tasks.builders import (
    PENDING,
    Row,
    backdate_comparisons,
    comparisons,
    read_batch,
    row_counts,
    seed_batch,
)
from tests.unit.tasks.transports import CapturingTransport

TIMEOUT = timedelta(seconds=900)
"""The default ``comparison_timeout_seconds``."""
QUIET = timedelta(minutes=5)
"""Longer than the default sweep interval (60 s): the batch looks idle."""
NOTHING_DONE = {"timed_out": 0, "continuations": 0, "finalizations": 0, "stalled": 0}


def run_sweep() -> dict[str, int]:
    report: dict[str, int] = sweep.delay().get()
    return report


def continuation(batch_id: uuid.UUID, wave: int) -> Message:
    return Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": wave})


def test_pending_comparisons_older_than_the_timeout_are_timed_out(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 6, [Row(0, 1), Row(2, 3, PENDING), Row(4, 5, PENDING)])
    backdate_comparisons(database_url, batch.id, TIMEOUT + timedelta(seconds=30))

    assert run_sweep() == {"timed_out": 2, "continuations": 1, "finalizations": 0, "stalled": 0}

    rows = comparisons(database_url, batch.id)
    assert [row.status for row in rows] == [
        ComparisonRowStatus.SUCCEEDED,
        ComparisonRowStatus.TIMED_OUT,
        ComparisonRowStatus.TIMED_OUT,
    ]
    assert all(row.error_code == "timeout" and row.completed_at for row in rows[1:])
    stored = read_batch(database_url, batch.id)
    assert (stored.comparisons_succeeded, stored.comparisons_failed) == (1, 2)
    # The wave is complete now: continuation decides what the timeouts mean.
    assert sent.messages == [continuation(batch.id, 1)]


def test_the_timeout_setting_decides_what_is_too_old(
    database_url: str, sent: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = seed_batch(database_url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)])
    recent = seed_batch(database_url, 4, [Row(0, 1, PENDING)])
    backdate_comparisons(database_url, old.id, timedelta(seconds=120))
    backdate_comparisons(database_url, recent.id, timedelta(seconds=10))

    assert run_sweep() == NOTHING_DONE, "two minutes is within the default 900 s"

    monkeypatch.setenv("CJ_COMPARISON_TIMEOUT_SECONDS", "60")
    get_settings.cache_clear()
    assert run_sweep() == {"timed_out": 2, "continuations": 1, "finalizations": 0, "stalled": 0}
    assert {row.status for row in comparisons(database_url, old.id)} == {
        ComparisonRowStatus.TIMED_OUT
    }
    assert [row.status for row in comparisons(database_url, recent.id)] == [PENDING]
    assert sent.messages == [continuation(old.id, 1)]


def test_a_second_sweep_does_not_count_the_timeouts_again(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)])
    backdate_comparisons(database_url, batch.id, TIMEOUT * 2)
    run_sweep()
    sent.take()
    before = row_counts(database_url), read_batch(database_url, batch.id).comparisons_failed

    assert run_sweep() == NOTHING_DONE

    assert (row_counts(database_url), read_batch(database_url, batch.id).comparisons_failed) == (
        before
    )
    assert before[1] == 2
    assert sent.messages == []


def test_a_complete_but_undecided_wave_gets_its_continuation_again(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1), Row(2, 3)], quiet_for=QUIET)

    assert run_sweep() == {"timed_out": 0, "continuations": 1, "finalizations": 0, "stalled": 0}

    assert sent.messages == [continuation(batch.id, 1)]


def test_a_created_batch_whose_first_trigger_was_lost_gets_it_again(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 4, wave=0, state=BatchState.CREATED, quiet_for=QUIET)

    run_sweep()

    assert sent.messages == [continuation(batch.id, 0)]


@pytest.mark.parametrize(
    ("reason", "task"),
    [
        ("stable", task_names.FINALIZE_SCORING),
        ("budget_exhausted", task_names.FINALIZE_SCORING),
        ("low_success_rate", task_names.FINALIZE_FAILURE),
    ],
)
def test_a_batch_stuck_in_scoring_gets_its_finalization_again(
    database_url: str, sent: CapturingTransport, reason: str, task: str
) -> None:
    batch = seed_batch(
        database_url,
        4,
        [Row(0, 1), Row(2, 3)],
        state=BatchState.SCORING,
        final_reason=reason,
        decided_waves=[0, 1],
        quiet_for=QUIET,
    )

    assert run_sweep() == {"timed_out": 0, "continuations": 0, "finalizations": 1, "stalled": 0}

    assert sent.messages == [Message(task, {"batch_id": str(batch.id)})]
    assert read_batch(database_url, batch.id).state is BatchState.SCORING


def test_healthy_and_finished_batches_are_left_alone(
    database_url: str, sent: CapturingTransport
) -> None:
    # Judges still within the timeout, last answer minutes ago: waiting is right.
    slow = seed_batch(database_url, 4, [Row(0, 1), Row(2, 3, PENDING)], quiet_for=QUIET)
    backdate_comparisons(database_url, slow.id, QUIET)
    # Wave complete a moment ago: its callback's trigger may still be on its way.
    seed_batch(database_url, 4, [Row(0, 1), Row(2, 3)])
    # Finished batches, however quiet, even with a forgotten pending row.
    finished = []
    for state in (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED):
        done = seed_batch(
            database_url, 4, [Row(0, 1), Row(2, 3, PENDING)], state=state, quiet_for=QUIET
        )
        backdate_comparisons(database_url, done.id, TIMEOUT * 2)
        finished.append(done.id)
    # A wave that already has its decision is the continuation's business.
    seed_batch(database_url, 4, [Row(0, 1)], decided_waves=[0, 1], quiet_for=QUIET)
    before = row_counts(database_url)

    assert run_sweep() == NOTHING_DONE

    assert row_counts(database_url) == before
    assert sent.messages == []
    for batch_id in [slow.id, *finished]:
        statuses = [row.status for row in comparisons(database_url, batch_id)]
        assert statuses.count(ComparisonRowStatus.PENDING) == 1
