"""An answer in two statements: the guarded update of its comparison, the batch's tally."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, Comparison
from cj_worker.db.repositories import (
    answer_target,
    apply_answer,
    count_comparisons,
    counters_from_rows,
    tally_answer,
)
from cj_worker.db.states import BatchState, ComparisonRowStatus, Slot
from tests.builders.db import add_comparison, make_batch

PENDING = ComparisonRowStatus.PENDING
SUCCEEDED = ComparisonRowStatus.SUCCEEDED
FAILED = ComparisonRowStatus.FAILED
TIMED_OUT = ComparisonRowStatus.TIMED_OUT
WON_BY_A: dict[str, Any] = {"status": SUCCEEDED, "winner": Slot.A, "judge_id": "j"}
FAILURE: dict[str, Any] = {"status": FAILED, "winner": None, "error_code": "e"}


def _pending_wave(session: Session, n_pending: int) -> tuple[Batch, list[Comparison]]:
    batch = make_batch(session, 2 * n_pending)
    rows = [
        add_comparison(session, batch, 2 * i, 2 * i + 1, status=PENDING) for i in range(n_pending)
    ]
    batch.current_wave = 1
    count_comparisons(batch, None, PENDING, n_pending)
    session.flush()
    return batch, rows


def _status(session: Session, comparison_id: uuid.UUID) -> ComparisonRowStatus:
    status = session.scalar(sa.select(Comparison.status).where(Comparison.id == comparison_id))
    assert status is not None
    return status


def test_a_pending_comparison_takes_the_answer_once(session: Session) -> None:
    batch, [row, _] = _pending_wave(session, 2)

    applied = apply_answer(session, row.id, WON_BY_A, batch_id=None, succeeded=True)
    again = apply_answer(session, row.id, WON_BY_A, batch_id=None, succeeded=True)

    assert applied is not None
    assert (applied.batch_id, applied.wave, applied.before) == (batch.id, 1, PENDING)
    assert again is None, "a redelivered answer changes nothing"
    assert _status(session, row.id) is SUCCEEDED


def test_a_timed_out_comparison_takes_a_late_success_but_not_a_failure(session: Session) -> None:
    batch = make_batch(session, 4)
    late = add_comparison(session, batch, 0, 1, status=TIMED_OUT)
    other = add_comparison(session, batch, 2, 3, status=TIMED_OUT)
    session.flush()

    assert apply_answer(session, other.id, FAILURE, batch_id=None, succeeded=False) is None
    applied = apply_answer(session, late.id, WON_BY_A, batch_id=None, succeeded=True)

    assert applied is not None
    assert applied.before is TIMED_OUT
    assert (_status(session, late.id), _status(session, other.id)) == (SUCCEEDED, TIMED_OUT)


def test_an_answer_naming_another_batch_or_for_an_ended_batch_changes_nothing(
    session: Session,
) -> None:
    batch, [row] = _pending_wave(session, 1)

    assert apply_answer(session, row.id, WON_BY_A, batch_id=uuid.uuid4(), succeeded=True) is None
    batch.state = BatchState.CANCELLED
    session.flush()
    assert apply_answer(session, row.id, WON_BY_A, batch_id=batch.id, succeeded=True) is None
    assert _status(session, row.id) is PENDING
    target = answer_target(session, row.id)
    assert target is not None
    assert (target.batch_id, target.wave, target.batch_state) == (
        batch.id,
        1,
        BatchState.CANCELLED,
    )
    assert answer_target(session, uuid.uuid4()) is None


def test_the_tally_counts_like_the_rows_and_says_when_the_wave_is_complete(
    session: Session,
) -> None:
    batch, rows = _pending_wave(session, 3)
    tallies = []
    for row, values in zip(rows, [WON_BY_A, FAILURE, WON_BY_A], strict=True):
        applied = apply_answer(
            session, row.id, values, batch_id=batch.id, succeeded=values is WON_BY_A
        )
        assert applied is not None
        tallies.append(tally_answer(session, batch.id, applied.before, values["status"], utc_now()))

    assert [t.pending for t in tallies] == [2, 1, 0]
    assert {(t.state, t.current_wave) for t in tallies} == {(BatchState.COLLECTING, 1)}
    session.refresh(batch)
    counted = (batch.comparisons_submitted, batch.comparisons_succeeded, batch.comparisons_failed)
    rows_say = counters_from_rows(session, batch.id)
    assert counted == (rows_say.submitted, rows_say.succeeded, rows_say.failed) == (3, 2, 1)


def test_a_late_success_moves_a_failure_to_a_success_in_the_tally(session: Session) -> None:
    batch = make_batch(session, 2)
    row = add_comparison(session, batch, 0, 1, status=TIMED_OUT)
    count_comparisons(batch, None, TIMED_OUT)
    session.flush()

    tally = tally_answer(session, batch.id, TIMED_OUT, SUCCEEDED, utc_now())

    session.refresh(batch)
    assert (batch.comparisons_succeeded, batch.comparisons_failed, tally.pending) == (1, 0, 0)
    assert row.id is not None


@pytest.mark.integration
def test_concurrent_answers_of_one_wave_are_each_counted_once_and_one_completes_it(
    pg_url: str,
) -> None:
    """Twelve threads answer 240 comparisons of one wave (each twice, as redeliveries):
    every row is stored once, the counters equal the rows, exactly one answer saw the
    wave complete."""
    with session_scope(pg_url) as session:
        batch, rows = _pending_wave(session, 240)
        batch_id, ids = batch.id, [row.id for row in rows]
    completed: list[uuid.UUID] = []
    lock = threading.Lock()

    def answer(chunk: list[uuid.UUID]) -> None:
        for comparison_id in chunk:
            with session_scope(pg_url) as session:
                applied = apply_answer(
                    session, comparison_id, WON_BY_A, batch_id=batch_id, succeeded=True
                )
                if applied is None:
                    continue
                tally = tally_answer(session, batch_id, applied.before, SUCCEEDED, utc_now())
                if tally.pending == 0:
                    with lock:
                        completed.append(comparison_id)

    chunks = [ids[i::6] for i in range(6)] * 2
    threads = [threading.Thread(target=answer, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with session_scope(pg_url) as session:
        stored = session.get(Batch, batch_id)
        assert stored is not None
        rows_say = counters_from_rows(session, batch_id)
        assert (stored.comparisons_succeeded, stored.comparisons_failed) == (240, 0)
        assert (rows_say.succeeded, rows_say.pending) == (240, 0)
    assert len(completed) == 1
