"""``unit_of_work.run``: effects leave only after the commit, and never without it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker import task_names
from cj_worker.db.models import Batch
from cj_worker.db.states import BatchState
from cj_worker.tasks import unit_of_work
from cj_worker.tasks.base import Message
from cj_worker.tasks.dispatch import Dispatch, Send
from cj_worker.tasks.messages import continue_batch_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.unit_of_work import Effects
from tests.builders.tasks import (
    PENDING,
    CommitRefusedError,
    Row,
    comparisons,
    read_batch,
    refused_commits,
    seed_batch,
)
from tests.unit.tasks.transports import CapturingTransport, LockCheckingTransport, capturing


@dataclass
class Journal:
    """What happened, in order: observations recorded and messages sent."""

    entries: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Noted:
    """An observation that writes itself into a journal when recorded."""

    journal: Journal
    name: str

    def record(self) -> None:
        self.journal.entries.append(f"recorded {self.name}")


class JournalTransport:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def send(self, message: Message) -> None:
        self.journal.entries.append(f"sent {message.task}")


def stop_batch(batch_id: uuid.UUID, journal: Journal) -> Callable[[Session], Effects]:
    """A body that cancels the batch and asks for a continuation, noting a metric."""

    def body(session: Session) -> Effects:
        session.execute(
            sa.update(Batch).where(Batch.id == batch_id).values(state=BatchState.CANCELLED)
        )
        return Effects(
            Outcome.DUPLICATE,
            [continue_batch_message(batch_id, 1)],
            [Noted(journal, "cancelled")],
        )

    return body


def test_effects_follow_the_commit_observations_first(database_url: str) -> None:
    batch = seed_batch(database_url, 2)
    journal = Journal()

    effects = unit_of_work.run(stop_batch(batch.id, journal), transport=JournalTransport(journal))

    assert effects.outcome is Outcome.DUPLICATE
    assert read_batch(database_url, batch.id).state is BatchState.CANCELLED
    assert journal.entries == ["recorded cancelled", "sent cj.continue_batch"]


def test_a_body_that_raises_sends_and_records_nothing(database_url: str) -> None:
    batch = seed_batch(database_url, 2)
    journal = Journal()
    changes = stop_batch(batch.id, journal)

    def failing(session: Session) -> Effects:
        changes(session)
        raise RuntimeError("the body failed")

    with pytest.raises(RuntimeError, match="the body failed"):
        unit_of_work.run(failing, transport=JournalTransport(journal))

    assert journal.entries == []
    assert read_batch(database_url, batch.id).state is BatchState.COLLECTING, "rolled back"


def test_a_refused_commit_sends_and_records_nothing(database_url: str) -> None:
    batch = seed_batch(database_url, 2)
    journal = Journal()

    with refused_commits(), pytest.raises(CommitRefusedError):
        unit_of_work.run(stop_batch(batch.id, journal), transport=JournalTransport(journal))

    assert journal.entries == []
    assert read_batch(database_url, batch.id).state is BatchState.COLLECTING


def test_the_current_transport_is_used_unless_one_is_passed(database_url: str) -> None:
    batch = seed_batch(database_url, 2)
    journal = Journal()

    with capturing() as captured:
        unit_of_work.run(stop_batch(batch.id, journal))
        assert captured.messages == [continue_batch_message(batch.id, 1)]
        unit_of_work.run(stop_batch(batch.id, journal), transport=CapturingTransport())
        assert len(captured.messages) == 1, "the passed transport took the second message"


def test_the_body_s_own_effects_type_comes_back(database_url: str) -> None:
    @dataclass(frozen=True)
    class Counted(Effects):
        rows: int = 0

    done = unit_of_work.run(lambda session: Counted(Outcome.LEFT_ALONE, rows=3))

    assert (type(done), done.rows) == (Counted, 3)


def test_messages_leave_after_the_lock_is_released(
    database_url: str, migrated_sqlite_file: Path
) -> None:
    batch = seed_batch(database_url, 2)
    watched = LockCheckingTransport(migrated_sqlite_file, CapturingTransport())

    unit_of_work.run(stop_batch(batch.id, Journal()), transport=watched)

    assert (watched.sent, watched.sent_under_lock) == (1, [])


def request_for(comparison_id: uuid.UUID, sends: int = 0) -> Dispatch:
    message = Message(task_names.JUDGE_COMPARISON, {"tickets": [{"id": str(comparison_id)}]})
    return Dispatch((Send(comparison_id, sends),), message)


def test_judge_requests_leave_after_the_commit_and_their_sends_are_counted(
    database_url: str,
) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)])
    first, second = batch.comparison_ids
    journal = Journal()

    def body(session: Session) -> Effects:
        return Effects(
            Outcome.RESENT,
            [continue_batch_message(batch.id, 1)],
            dispatches=[request_for(first), request_for(second)],
        )

    unit_of_work.run(body, transport=JournalTransport(journal))

    assert journal.entries == [f"sent {task_names.JUDGE_COMPARISON}"] * 2 + [
        "sent cj.continue_batch"
    ]
    rows = comparisons(database_url, batch.id)
    assert [(row.sends, row.sent_at is not None) for row in rows] == [(1, True), (1, True)]


def test_a_send_already_counted_is_not_counted_twice(database_url: str) -> None:
    """Two deliveries of the same send (a sweep racing a slow dispatch) spend one send."""
    batch = seed_batch(database_url, 2, [Row(0, 1, PENDING)])
    [comparison_id] = batch.comparison_ids

    for _ in range(2):
        unit_of_work.run(
            lambda session: Effects(Outcome.RESENT, dispatches=[request_for(comparison_id)]),
            transport=CapturingTransport(),
        )

    assert [row.sends for row in comparisons(database_url, batch.id)] == [1]


def test_requests_the_broker_refused_stay_unsent(database_url: str) -> None:
    batch = seed_batch(database_url, 4, [Row(0, 1, PENDING), Row(2, 3, PENDING)])

    class Refusing:
        def send(self, message: Message) -> None:
            raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        unit_of_work.run(
            lambda session: Effects(
                Outcome.RESENT, dispatches=[request_for(i) for i in batch.comparison_ids]
            ),
            transport=Refusing(),
        )

    assert [row.sends for row in comparisons(database_url, batch.id)] == [0, 0]
