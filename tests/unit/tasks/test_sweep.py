"""``cj.sweep``: sends what never left, re-sends what a judge did not answer, times out only
silence after every re-send, and re-sends lost triggers; nothing more."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cj_worker import task_names
from cj_worker.config import get_settings
from cj_worker.db.column_types import utc_now
from cj_worker.db.states import BatchState, ComparisonRowStatus
from cj_worker.tasks.base import Message
from cj_worker.tasks.sweep import REPORT_KEYS, sweep
from tests.builders.tasks import (
    PENDING,
    Row,
    backdate_comparisons,
    comparisons,
    read_batch,
    row_counts,
    seed_batch,
    sent_ago,
    update_batch,
)
from tests.unit.tasks.transports import CapturingTransport

DEADLINE = timedelta(seconds=10)
"""The default ``resend_simulated_after_seconds`` (the seeded batches' judge is simulated)."""
INTERVAL = timedelta(seconds=5)
"""The default ``sweep_interval_seconds``."""
OVERDUE = DEADLINE + timedelta(seconds=1)
QUIET = timedelta(minutes=5)
"""Far longer than any default deadline: the batch heard nothing for a while."""


def report(**counts: int) -> dict[str, int]:
    """The sweep's report, zero where not given."""
    return {key: counts.get(key, 0) for key in REPORT_KEYS}


def run_sweep() -> dict[str, int]:
    done: dict[str, int] = sweep.delay().get()
    return done


def continuation(batch_id: uuid.UUID, wave: int) -> Message:
    return Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": wave})


def requested(messages: list[Message]) -> list[str]:
    """The comparison ids of the judge requests among ``messages``, in order."""
    return [
        ticket["comparison_id"]
        for message in messages
        if message.task == task_names.JUDGE_COMPARISON
        for ticket in message.kwargs["tickets"]
    ]


def pending_ids(url: str, batch_id: uuid.UUID) -> list[str]:
    return [str(row.id) for row in comparisons(url, batch_id) if row.status is PENDING]


# --------------------------------------------------------------- sends and re-sends


def test_requests_whose_dispatch_was_lost_are_sent_once_the_batch_is_quiet(
    database_url: str, sent: CapturingTransport
) -> None:
    """The continuation committed the wave and died before sending: rows never sent."""
    batch = seed_batch(database_url, 6, [Row(0, 1, PENDING), Row(2, 3, PENDING)], quiet_for=QUIET)
    backdate_comparisons(database_url, batch.id, QUIET)

    assert run_sweep() == report(dispatched=2)

    assert requested(sent.messages) == pending_ids(database_url, batch.id)
    rows = comparisons(database_url, batch.id)
    assert [(row.sends, row.status) for row in rows] == [(1, PENDING), (1, PENDING)]
    assert all(row.sent_at is not None for row in rows)
    assert run_sweep() == report(), "sent: nothing is due until the deadline"


def test_a_fresh_wave_is_left_to_its_own_dispatch(
    database_url: str, sent: CapturingTransport
) -> None:
    """Rows committed a moment ago are being sent by the continuation right now."""
    seed_batch(database_url, 6, [Row(0, 1, PENDING), Row(2, 3, PENDING)])

    assert run_sweep() == report()
    assert sent.messages == []


def test_an_unanswered_request_is_re_sent_with_the_same_id_not_failed(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 6, [Row(0, 1), Row(2, 3, PENDING)], quiet_for=OVERDUE)
    sent_ago(database_url, batch.id, OVERDUE)
    [lost] = pending_ids(database_url, batch.id)

    assert run_sweep() == report(resent=1)

    assert requested(sent.messages) == [lost], "same comparison id: the answer is idempotent"
    row = next(row for row in comparisons(database_url, batch.id) if str(row.id) == lost)
    assert (row.status, row.sends) == (PENDING, 2)
    stored = read_batch(database_url, batch.id)
    assert (stored.comparisons_succeeded, stored.comparisons_failed) == (1, 0), "lost, not failed"
    assert run_sweep() == report(), "the re-send is activity: the next deadline starts now"


def test_nothing_is_re_sent_while_the_batch_still_hears_answers(
    database_url: str, sent: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long queue in front of a busy judge is not flooded with duplicates: the deadline
    counts from the batch's last answer too."""
    monkeypatch.setenv("CJ_RESEND_SIMULATED_AFTER_SECONDS", "60")
    get_settings.cache_clear()
    answered_30s_ago = timedelta(seconds=30)
    batch = seed_batch(database_url, 6, [Row(0, 1), Row(2, 3, PENDING)], quiet_for=answered_30s_ago)
    sent_ago(database_url, batch.id, QUIET)

    assert run_sweep() == report()
    assert sent.messages == []

    update_batch(database_url, batch.id, last_activity_at=utc_now() - timedelta(seconds=61))
    assert run_sweep() == report(resent=1)


def test_silence_after_every_re_send_times_the_comparison_out(
    database_url: str, sent: CapturingTransport
) -> None:
    """Sent, re-sent once (the default ``judge_max_resends``), still silent: now it counts as
    a failed judgement, and the wave, complete, gets its continuation at once."""
    batch = seed_batch(
        database_url, 6, [Row(0, 1), Row(2, 3, PENDING), Row(4, 5, PENDING)], quiet_for=OVERDUE
    )
    sent_ago(database_url, batch.id, OVERDUE, sends=2)

    assert run_sweep() == report(timed_out=2, continuations=1)

    rows = comparisons(database_url, batch.id)
    assert [row.status for row in rows] == [
        ComparisonRowStatus.SUCCEEDED,
        ComparisonRowStatus.TIMED_OUT,
        ComparisonRowStatus.TIMED_OUT,
    ]
    assert all(row.error_code == "timeout" and row.completed_at for row in rows[1:])
    stored = read_batch(database_url, batch.id)
    assert (stored.comparisons_succeeded, stored.comparisons_failed) == (1, 2)
    assert sent.messages == [continuation(batch.id, 1)]
    assert run_sweep() == report(), "timed out once"
    assert read_batch(database_url, batch.id).comparisons_failed == 2


def test_more_re_sends_are_allowed_when_configured(
    database_url: str, sent: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJ_JUDGE_MAX_RESENDS", "3")
    get_settings.cache_clear()
    batch = seed_batch(database_url, 4, [Row(0, 1, PENDING)], quiet_for=OVERDUE)
    sent_ago(database_url, batch.id, OVERDUE, sends=3)

    assert run_sweep() == report(resent=1)
    assert [row.sends for row in comparisons(database_url, batch.id)] == [4]


def test_each_judge_kind_has_its_own_deadline(
    database_url: str, sent: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    external = seed_batch(database_url, 4, [Row(0, 1, PENDING)], quiet_for=QUIET)
    update_batch(database_url, external.id, judge={"kind": "external", "task": "producer.judge"})
    sent_ago(database_url, external.id, timedelta(seconds=120))

    assert run_sweep() == report(), "two minutes is well within an external judge's 900 s"

    monkeypatch.setenv("CJ_RESEND_EXTERNAL_AFTER_SECONDS", "60")
    get_settings.cache_clear()
    assert run_sweep() == report(resent=1)
    [message] = sent.messages
    assert message.task == "producer.judge"


# ------------------------------------------------------------------ lost triggers


def test_a_complete_but_undecided_wave_gets_its_continuation_again(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1), Row(2, 3)], quiet_for=QUIET)

    assert run_sweep() == report(continuations=1)

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
        ("judge_failed_wave", task_names.FINALIZE_FAILURE),
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

    assert run_sweep() == report(finalizations=1)

    assert sent.messages == [Message(task, {"batch_id": str(batch.id)})]
    assert read_batch(database_url, batch.id).state is BatchState.SCORING


def test_healthy_and_finished_batches_are_left_alone(
    database_url: str, sent: CapturingTransport
) -> None:
    # Sent within the deadline, last answer minutes ago: waiting is right.
    slow = seed_batch(database_url, 4, [Row(0, 1), Row(2, 3, PENDING)], quiet_for=QUIET)
    sent_ago(database_url, slow.id, INTERVAL / 2)
    # Wave complete a moment ago: its callback's trigger may still be on its way.
    seed_batch(database_url, 4, [Row(0, 1), Row(2, 3)])
    # Finished batches, however quiet, even with a forgotten pending row.
    finished = []
    for state in (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED):
        done = seed_batch(
            database_url, 4, [Row(0, 1), Row(2, 3, PENDING)], state=state, quiet_for=QUIET
        )
        sent_ago(database_url, done.id, QUIET, sends=2)
        finished.append(done.id)
    # A wave that already has its decision is the continuation's business.
    seed_batch(database_url, 4, [Row(0, 1)], decided_waves=[0, 1], quiet_for=QUIET)
    before = row_counts(database_url)

    assert run_sweep() == report()

    assert row_counts(database_url) == before
    assert sent.messages == []
    for batch_id in [slow.id, *finished]:
        statuses = [row.status for row in comparisons(database_url, batch_id)]
        assert statuses.count(ComparisonRowStatus.PENDING) == 1
