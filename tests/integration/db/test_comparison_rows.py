"""The comparison queries the callback and the sweep use: whose row, what is due, timeouts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.column_types import utc_now
from cj_worker.db.models import Comparison
from cj_worker.db.repositories import (
    batch_of_comparison,
    batches_with_stale_comparisons,
    record_decision,
    reload_comparison,
    time_out_comparisons,
    wave_awaits_decision,
    wave_decided,
    wave_has_pending,
)
from cj_worker.db.states import ComparisonRowStatus
from tests.factories import add_comparison, make_batch

PENDING = ComparisonRowStatus.PENDING


def test_a_comparison_names_its_batch(session: Session) -> None:
    batch = make_batch(session, 2)
    comparison = add_comparison(session, batch, 0, 1)

    assert batch_of_comparison(session, comparison.id) == batch.id
    assert batch_of_comparison(session, uuid.uuid4()) is None


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


def test_time_out_marks_only_the_batch_s_old_pending_rows(session: Session) -> None:
    now = utc_now()
    cut_off = now - timedelta(minutes=15)
    batch, other = make_batch(session, 4), make_batch(session, 2)
    old = add_comparison(session, batch, 0, 1, status=PENDING)
    fresh = add_comparison(session, batch, 2, 3, status=PENDING)
    answered = add_comparison(session, batch, 0, 2)
    elsewhere = add_comparison(session, other, 0, 1, status=PENDING)
    for row in (old, answered, elsewhere):
        row.created_at = cut_off - timedelta(seconds=1)
    session.flush()

    assert batches_with_stale_comparisons(session, cut_off).count(batch.id) == 1
    assert time_out_comparisons(session, batch.id, cut_off, now) == 1
    assert time_out_comparisons(session, batch.id, cut_off, now) == 0, "done once"

    statuses = {
        row.id: (row.status, row.error_code)
        for row in (reload_comparison(session, r.id) for r in (old, fresh, answered, elsewhere))
        if row is not None
    }
    assert statuses == {
        old.id: (ComparisonRowStatus.TIMED_OUT, "timeout"),
        fresh.id: (PENDING, None),
        answered.id: (ComparisonRowStatus.SUCCEEDED, None),
        elsewhere.id: (PENDING, None),
    }
    assert batch.id not in batches_with_stale_comparisons(session, cut_off)
    assert other.id in batches_with_stale_comparisons(session, cut_off)
