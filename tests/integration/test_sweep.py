"""``cj.sweep`` on PostgreSQL: re-sends, timeouts, lost triggers, stalled batches, two sweeps
at once, a batch someone else holds.

The sweep runs in this process against a database of this module's own (emptied before
every test, so a report counts this test's batches only); the messages it sends are
captured, and where a test needs their effect it runs the receiving task's body itself.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pydantic
import pytest
import sqlalchemy as sa

from cj_worker import task_names
from cj_worker.config import get_settings
from cj_worker.core.decision import Reason
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import get_engine, session_scope
from cj_worker.db.migrate import upgrade
from cj_worker.db.models import Batch
from cj_worker.db.states import BatchState, ComparisonRowStatus, GenerationMode
from cj_worker.tasks.base import Message
from cj_worker.tasks.continuation import continue_batch, run_continuation
from cj_worker.tasks.finalize import finalize_failure, finalize_scoring
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.sweep import (
    REPORT_KEYS,
    RETRIGGERS_KEY,
    STALLED,
    SweepPolicy,
    sweep,
    sweep_batch,
)
from tests.builders.tasks import (
    PENDING,
    Row,
    batch_results,
    comparisons,
    decisions,
    read_batch,
    seed_batch,
    sent_ago,
    update_batch,
)
from tests.databases import temporary_database
from tests.unit.tasks.transports import CapturingTransport, capturing

pytestmark = pytest.mark.integration

DEADLINE = timedelta(seconds=10)
"""The default ``resend_simulated_after_seconds`` (the seeded batches' judge is simulated)."""
INTERVAL = timedelta(seconds=5)
"""The default ``sweep_interval_seconds``."""
QUIET = INTERVAL * 5


@pytest.fixture(scope="module")
def sweep_db(pg_admin_url: str) -> Iterator[str]:
    with temporary_database(pg_admin_url) as url:
        upgrade(url)
        yield url


@pytest.fixture
def url(sweep_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The module's database, empty, as ``CJ_DATABASE_URL``."""
    with session_scope(sweep_db) as session:
        session.execute(sa.text("TRUNCATE batches CASCADE"))
    monkeypatch.setenv("CJ_DATABASE_URL", sweep_db)
    get_settings.cache_clear()
    yield sweep_db
    get_engine(sweep_db).dispose()
    get_settings.cache_clear()


@pytest.fixture
def sent(url: str) -> Iterator[CapturingTransport]:
    """Messages sent after commit are recorded here instead of being executed."""
    with capturing() as transport:
        yield transport


def report(**counts: int) -> dict[str, int]:
    """The sweep's report, zero where not given."""
    return {key: counts.get(key, 0) for key in REPORT_KEYS}


def continuation(batch_id: uuid.UUID, wave: int) -> Message:
    return Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": wave})


def finalization(task: str, batch_id: uuid.UUID) -> Message:
    return Message(task, {"batch_id": str(batch_id)})


def go_quiet(url: str, batch_id: uuid.UUID, age: timedelta) -> None:
    """Make the batch's last activity ``age`` old, as if the sweep had slept that long."""
    update_batch(url, batch_id, last_activity_at=utc_now() - age)


# ------------------------------------------------------------------ re-sends, timeouts


def test_silence_after_the_re_send_fails_the_comparison_and_coverage_retries_the_pair(
    url: str, sent: CapturingTransport
) -> None:
    silent = seed_batch(url, 2, [Row(0, 1, PENDING)], quiet_for=QUIET)
    sent_ago(url, silent.id, DEADLINE + timedelta(seconds=5), sends=2)
    lost = seed_batch(url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)], quiet_for=QUIET)
    sent_ago(url, lost.id, DEADLINE + timedelta(seconds=5))

    assert sweep() == report(timed_out=1, resent=2, continuations=1)

    [row] = comparisons(url, silent.id)
    assert (row.status, row.error_code) == (ComparisonRowStatus.TIMED_OUT, "timeout")
    batch = read_batch(url, silent.id)
    assert (batch.comparisons_succeeded, batch.comparisons_failed) == (0, 1)
    assert {(row.status, row.sends) for row in comparisons(url, lost.id)} == {(PENDING, 2)}
    assert read_batch(url, lost.id).comparisons_failed == 0, "lost is not failed"
    messages = sent.take()
    assert continuation(silent.id, 1) in messages
    assert sorted(
        ticket["comparison_id"] for m in messages for ticket in m.kwargs.get("tickets", [])
    ) == (sorted(str(row.id) for row in comparisons(url, lost.id)))

    # The continuation counts the timeout as a failed attempt and asks for the pair again.
    with session_scope(url) as session:
        outcome = run_continuation(session, silent.id, 1).outcome
    assert outcome == "coverage_incomplete"
    [retry] = comparisons(url, silent.id, wave=2)
    assert {retry.essay_a, retry.essay_b} == {0, 1}
    assert (retry.attempt, retry.mode) == (2, GenerationMode.COVERAGE)


# ------------------------------------------------------------------ lost triggers


def test_a_complete_undecided_wave_gets_one_continuation_until_it_goes_quiet_again(
    url: str, sent: CapturingTransport
) -> None:
    batch = seed_batch(url, 4, [Row(0, 1), Row(2, 3)], quiet_for=QUIET)

    assert sweep() == report(continuations=1)
    assert sweep() == report(), "the re-send is activity: the next pass waits"

    assert sent.messages == [continuation(batch.id, 1)]
    stored = read_batch(url, batch.id)
    assert stored.processing_metadata[RETRIGGERS_KEY] == {
        "state": "collecting",
        "wave": 1,
        "count": 1,
    }

    # The continuation was lost again: the second re-send waits twice as long.
    go_quiet(url, batch.id, INTERVAL * 1.5)
    assert sweep() == report()
    go_quiet(url, batch.id, INTERVAL * 2)
    assert sweep() == report(continuations=1)


@pytest.mark.parametrize(
    ("reason", "task", "state"),
    [
        ("budget_exhausted", task_names.FINALIZE_SCORING, BatchState.COMPLETED),
        ("low_success_rate", task_names.FINALIZE_FAILURE, BatchState.FAILED),
        ("judge_failed_wave", task_names.FINALIZE_FAILURE, BatchState.FAILED),
    ],
)
def test_a_batch_stuck_in_scoring_gets_its_finalization_again(
    url: str, sent: CapturingTransport, reason: str, task: str, state: BatchState
) -> None:
    batch = seed_batch(
        url,
        4,
        [Row(0, 1), Row(2, 3), Row(0, 2)],
        state=BatchState.SCORING,
        final_reason=reason,
        decided_waves=[0, 1],
        quiet_for=QUIET,
    )

    assert sweep() == report(finalizations=1)
    assert sent.messages == [finalization(task, batch.id)]

    finalize = finalize_scoring if task == task_names.FINALIZE_SCORING else finalize_failure
    assert finalize(str(batch.id)) == state.value
    stored = read_batch(url, batch.id)
    assert (stored.state, stored.final_reason) == (state, reason)
    assert sweep() == report(), "a finished batch is left alone"


def test_healthy_and_finished_batches_are_left_alone(url: str, sent: CapturingTransport) -> None:
    slow = seed_batch(url, 4, [Row(0, 1), Row(2, 3, PENDING)], quiet_for=QUIET)
    sent_ago(url, slow.id, INTERVAL / 2)  # within its deadline
    seed_batch(url, 4, [Row(0, 1), Row(2, 3)])  # wave complete a moment ago
    done = seed_batch(url, 4, [Row(0, 1, PENDING)], state=BatchState.COMPLETED, quiet_for=QUIET)
    sent_ago(url, done.id, QUIET, sends=2)

    assert sweep() == report()
    assert sent.messages == []
    assert [row.status for row in comparisons(url, done.id)] == [PENDING]


# ------------------------------------------------------------------------ stalled


def test_a_batch_whose_continuation_keeps_failing_is_failed_as_stalled(
    url: str, sent: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJ_SWEEP_MAX_RETRIGGERS", "2")
    get_settings.cache_clear()
    batch = seed_batch(
        url, 4, [Row(0, 1), Row(2, 3)], quiet_for=QUIET, result_task="producer.on_result"
    )
    # Corrupt data: the next wave cannot be sent to this judge, so every continuation fails.
    update_batch(url, batch.id, judge={"kind": "no-such-judge"})

    for retrigger in (1, 2):
        assert sweep() == report(continuations=1)
        [message] = sent.take()
        assert message == continuation(batch.id, 1)
        with pytest.raises(pydantic.ValidationError):
            continue_batch(**message.kwargs)
        assert [d.wave for d in decisions(url, batch.id)] == [0], "nothing was decided"
        go_quiet(url, batch.id, INTERVAL * 2**retrigger)

    assert sweep() == report(finalizations=1, stalled=1)

    assert sent.take() == [finalization(task_names.FINALIZE_FAILURE, batch.id)]
    stored = read_batch(url, batch.id)
    assert (stored.state, stored.final_reason) == (BatchState.SCORING, STALLED)
    last = decisions(url, batch.id)[-1]
    assert (last.wave, last.action, last.reason) == (1, "finalize_failure", STALLED)
    assert finalize_failure(str(batch.id)) == "failed"
    [result] = batch_results(url, batch.id)
    assert (result.state, result.stop_reason) == (BatchState.FAILED, STALLED)


def test_a_finalization_that_keeps_failing_ends_in_a_failure_event(
    url: str, sent: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJ_SWEEP_MAX_RETRIGGERS", "1")
    get_settings.cache_clear()
    batch = seed_batch(
        url,
        4,
        [Row(0, 1), Row(2, 3)],
        state=BatchState.SCORING,
        final_reason="stable",
        decided_waves=[0, 1],
        quiet_for=QUIET,
    )

    assert sweep() == report(finalizations=1)
    assert sent.take() == [finalization(task_names.FINALIZE_SCORING, batch.id)]
    go_quiet(url, batch.id, INTERVAL * 2)  # ... and finalize_scoring never completed
    assert sweep() == report(finalizations=1, stalled=1)

    assert sent.take() == [finalization(task_names.FINALIZE_FAILURE, batch.id)]
    assert read_batch(url, batch.id).final_reason == STALLED
    # If finalize_failure is lost too, the sweep keeps re-sending it (and nothing else).
    go_quiet(url, batch.id, INTERVAL * 2)
    assert sweep() == report(finalizations=1)
    assert sent.take() == [finalization(task_names.FINALIZE_FAILURE, batch.id)]


# -------------------------------------------------------------- two sweeps at once


def test_a_sweep_skips_a_batch_someone_else_holds(url: str) -> None:
    """A batch whose lock is held is being worked on: the sweep neither waits nor acts."""
    batch = seed_batch(url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)], quiet_for=QUIET)
    sent_ago(url, batch.id, QUIET, sends=2)
    policy = SweepPolicy.of(get_settings(), utc_now())
    second: list[tuple[Outcome | Reason, int, list[Message]]] = []

    def second_sweep() -> None:
        with session_scope(url) as session:
            done = sweep_batch(session, batch.id, policy)
            second.append((done.outcome, done.timed_out, done.messages))

    with session_scope(url) as session:
        first = sweep_batch(session, batch.id, policy)
        thread = threading.Thread(target=second_sweep)
        started = time.monotonic()
        thread.start()
        thread.join(timeout=10)
        assert time.monotonic() - started < 5, "the second sweep did not wait for the lock"

    assert (first.outcome, first.timed_out, first.messages) == (
        Outcome.RETRIGGERED,
        2,
        [continuation(batch.id, 1)],
    )
    assert second == [(Outcome.LEFT_ALONE, 0, [])]
    assert read_batch(url, batch.id).comparisons_failed == 2


def test_two_sweeps_at_once_act_once_per_batch(url: str, sent: CapturingTransport) -> None:
    timed = []
    for _ in range(3):
        batch = seed_batch(url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)], quiet_for=QUIET)
        sent_ago(url, batch.id, QUIET, sends=2)
        timed.append(batch.id)
    resent = []
    for _ in range(2):
        batch = seed_batch(url, 4, [Row(0, 1), Row(2, 3, PENDING)], quiet_for=QUIET)
        sent_ago(url, batch.id, QUIET)
        resent.append(batch.id)
    lost = [seed_batch(url, 4, [Row(0, 1), Row(2, 3)], quiet_for=QUIET).id for _ in range(3)]
    scoring = seed_batch(
        url,
        4,
        [Row(0, 1)],
        state=BatchState.SCORING,
        final_reason="stable",
        decided_waves=[0, 1],
        quiet_for=QUIET,
    ).id
    start = threading.Barrier(2)
    reports: list[dict[str, int]] = []

    def run() -> None:
        start.wait()
        reports.append(sweep())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(reports) == 2
    assert {key: sum(r[key] for r in reports) for key in reports[0]} == report(
        timed_out=6, resent=2, continuations=6, finalizations=1
    )
    triggers = [message for message in sent.messages if "tickets" not in message.kwargs]
    assert sorted(triggers, key=str) == sorted(
        [continuation(batch_id, 1) for batch_id in timed + lost]
        + [finalization(task_names.FINALIZE_SCORING, scoring)],
        key=str,
    )
    with session_scope(url) as session:
        failed = session.scalars(sa.select(Batch.comparisons_failed).where(Batch.id.in_(timed)))
        assert list(failed) == [2, 2, 2]
    for batch_id in resent:
        assert [row.sends for row in comparisons(url, batch_id) if row.status is PENDING] == [2]
