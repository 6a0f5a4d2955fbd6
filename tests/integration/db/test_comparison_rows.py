"""The comparison queries the callback and the sweep use: what is due, what to (re-)send,
sends counted once, timeouts."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.column_types import utc_now
from cj_worker.db.models import Comparison
from cj_worker.db.repositories import (
    mark_sent,
    record_decision,
    reload_comparison,
    requests_due,
    time_out_comparisons,
    wave_awaits_decision,
    wave_decided,
    wave_has_pending,
)
from cj_worker.db.states import ComparisonRowStatus
from tests.builders.db import add_comparison, make_batch

PENDING = ComparisonRowStatus.PENDING


def test_reload_comparison_sees_a_change_made_behind_the_session_s_back(session: Session) -> None:
    comparison = add_comparison(session, make_batch(session, 2), 0, 1, status=PENDING)
    session.execute(
        sa.update(Comparison)
        .where(Comparison.id == comparison.id)
        .values(status=ComparisonRowStatus.FAILED)
        .execution_options(synchronize_session=False)
    )
    assert comparison.status is PENDING, "the session's copy is stale"

    assert reload_comparison(session, comparison.id) is comparison
    assert comparison.status is ComparisonRowStatus.FAILED


def test_a_wave_awaits_its_decision_once_nothing_is_pending(session: Session) -> None:
    batch = make_batch(session, 4)
    add_comparison(session, batch, 0, 1, wave=1)
    pending = add_comparison(session, batch, 2, 3, wave=1, status=PENDING)
    add_comparison(session, batch, 0, 2, wave=2, status=PENDING)

    assert wave_has_pending(session, batch.id, 1)
    assert not wave_awaits_decision(session, batch.id, 1)

    pending.status = ComparisonRowStatus.FAILED  # unflushed: the query flushes it first
    assert not wave_has_pending(session, batch.id, 1)
    assert wave_awaits_decision(session, batch.id, 1), "wave 2's pending row is another wave's"

    assert record_decision(session, batch.id, 1, "finalize_scoring", "stable", {})
    assert wave_decided(session, batch.id, 1)
    assert not wave_awaits_decision(session, batch.id, 1)
    assert not wave_decided(session, batch.id, 2)


def test_time_out_marks_only_rows_silent_through_every_re_send(session: Session) -> None:
    now = utc_now()
    cut_off = now - timedelta(seconds=5)
    batch, other = make_batch(session, 4), make_batch(session, 2)
    silent = add_comparison(session, batch, 0, 1, status=PENDING)
    once = add_comparison(session, batch, 2, 3, status=PENDING)
    fresh = add_comparison(session, batch, 1, 2, status=PENDING)
    answered = add_comparison(session, batch, 0, 2)
    elsewhere = add_comparison(session, other, 0, 1, status=PENDING)
    for row, sends in ((silent, 2), (once, 1), (answered, 2), (elsewhere, 2)):
        row.sends, row.sent_at = sends, cut_off - timedelta(seconds=1)
    fresh.sends, fresh.sent_at = 2, now
    session.flush()

    def time_out() -> int:
        return time_out_comparisons(session, batch.id, sent_before=cut_off, min_sends=2, now=now)

    assert time_out() == 1
    assert time_out() == 0, "done once"

    statuses = {
        row.id: (row.status, row.error_code)
        for row in (reload_comparison(session, r.id) for r in (silent, once, fresh, answered))
        if row is not None
    }
    assert statuses == {
        silent.id: (ComparisonRowStatus.TIMED_OUT, "timeout"),
        once.id: (PENDING, None),
        fresh.id: (PENDING, None),
        answered.id: (ComparisonRowStatus.SUCCEEDED, None),
    }
    assert reload_comparison(session, elsewhere.id).status is PENDING  # type: ignore[union-attr]


def test_requests_due_are_the_unsent_and_the_overdue(session: Session) -> None:
    now = utc_now()
    long_ago = now - timedelta(minutes=5)
    batch = make_batch(session, 6)
    unsent = add_comparison(session, batch, 0, 1, status=PENDING)
    just_inserted = add_comparison(session, batch, 2, 3, status=PENDING)
    overdue = add_comparison(session, batch, 4, 5, status=PENDING)
    exhausted = add_comparison(session, batch, 0, 2, status=PENDING)
    answered = add_comparison(session, batch, 1, 3)
    unsent.created_at = long_ago
    for row, sends in ((overdue, 1), (exhausted, 3), (answered, 1)):
        row.sends, row.sent_at, row.created_at = sends, long_ago, long_ago
    session.flush()

    def due(overdue_before: object) -> list[object]:
        rows = requests_due(
            session,
            batch.id,
            unsent_before=now - timedelta(seconds=5),
            overdue_before=overdue_before,  # type: ignore[arg-type]
            max_sends=2,
        )
        return [row.id for row in rows]

    assert due(now - timedelta(seconds=5)) == [unsent.id, overdue.id]
    assert due(None) == [unsent.id], "the batch heard an answer: only the unsent are due"
    assert just_inserted.id not in due(now)


def test_a_send_is_counted_once_whoever_reports_it(session: Session) -> None:
    now = utc_now()
    batch = make_batch(session, 4)
    first = add_comparison(session, batch, 0, 1, status=PENDING)
    second = add_comparison(session, batch, 2, 3, status=PENDING)

    assert mark_sent(session, [(first.id, 0), (second.id, 0)], now) == 2
    assert mark_sent(session, [(first.id, 0)], now) == 0, "already counted"
    assert mark_sent(session, [(first.id, 1)], now) == 1, "the re-send"
    assert mark_sent(session, [], now) == 0

    sends = {
        row.id: (row.sends, row.sent_at is not None)
        for row in (reload_comparison(session, r.id) for r in (first, second))
        if row is not None
    }
    assert sends == {first.id: (2, True), second.id: (1, True)}
