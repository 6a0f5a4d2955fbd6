"""Comparison rows become the core's history and row counts."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from cj_worker.core.history import ComparisonStatus
from cj_worker.db.repositories import RowCounts, counters_from_rows, load_history
from cj_worker.db.states import ComparisonRowStatus, Slot
from tests.builders.db import add_comparison, make_batch


def test_load_history_round_trip(session: Session) -> None:
    batch = make_batch(session, 4)
    # Inserted out of order: the history comes back in (wave, slot A, slot B) order.
    add_comparison(session, batch, 1, 3, wave=2, status=ComparisonRowStatus.PENDING)
    add_comparison(session, batch, 2, 1, wave=1, winner=Slot.B)
    add_comparison(session, batch, 3, 0, wave=2, status=ComparisonRowStatus.TIMED_OUT)
    add_comparison(session, batch, 0, 1, wave=1, winner=Slot.A)
    add_comparison(session, batch, 0, 2, wave=2, status=ComparisonRowStatus.FAILED)
    add_comparison(session, make_batch(session, 4), 0, 1)

    history = load_history(session, batch.id, 4)

    assert history.n_essays == 4
    assert history.slot_a.tolist() == [0, 2, 0, 1, 3]
    assert history.slot_b.tolist() == [1, 1, 2, 3, 0]
    assert history.status.tolist() == [
        ComparisonStatus.SUCCEEDED,
        ComparisonStatus.SUCCEEDED,
        ComparisonStatus.FAILED,
        ComparisonStatus.PENDING,
        ComparisonStatus.TIMED_OUT,
    ]
    assert history.a_won[history.succeeded].tolist() == [True, False]
    winners, losers = history.outcomes()
    np.testing.assert_array_equal(winners, [0, 1])
    np.testing.assert_array_equal(losers, [1, 2])


def test_load_history_of_a_batch_without_comparisons(session: Session) -> None:
    history = load_history(session, make_batch(session, 3).id, 3)
    assert history.n_essays == 3
    assert history.size == 0


def test_counters_from_rows(session: Session) -> None:
    batch = make_batch(session, 4)
    add_comparison(session, batch, 0, 1, wave=1)
    add_comparison(session, batch, 2, 3, wave=1, status=ComparisonRowStatus.FAILED)
    add_comparison(session, batch, 0, 2, wave=2, status=ComparisonRowStatus.TIMED_OUT)
    add_comparison(session, batch, 1, 3, wave=2, status=ComparisonRowStatus.PENDING)
    add_comparison(session, batch, 0, 3, wave=2)

    assert counters_from_rows(session, batch.id) == RowCounts(
        submitted=5, succeeded=2, failed=2, pending=1
    )
    assert counters_from_rows(session, batch.id, wave=1) == RowCounts(
        submitted=2, succeeded=1, failed=1, pending=0
    )
    assert counters_from_rows(session, batch.id, wave=3) == RowCounts(0, 0, 0, 0)
