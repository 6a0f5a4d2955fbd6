"""``get_coverage_metrics_for_batch`` counts what SPEC section 5 says, in SQL."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cj_worker.db.repositories import get_coverage_metrics_for_batch
from cj_worker.db.states import ComparisonRowStatus, Slot
from tests.builders.db import add_comparison, make_batch

FAILED = ComparisonRowStatus.FAILED


def test_three_essays_have_three_possible_pairs(session: Session) -> None:
    batch = make_batch(session, 3)
    assert get_coverage_metrics_for_batch(session, batch.id) == (3, 0)


def test_fewer_than_two_essays_have_no_pairs(session: Session) -> None:
    assert get_coverage_metrics_for_batch(session, make_batch(session, 0).id) == (0, 0)
    assert get_coverage_metrics_for_batch(session, make_batch(session, 1).id) == (0, 0)


def test_failed_pending_and_timed_out_pairs_are_not_covered(session: Session) -> None:
    batch = make_batch(session, 4)
    add_comparison(session, batch, 0, 1, status=FAILED)
    add_comparison(session, batch, 0, 2, status=ComparisonRowStatus.PENDING)
    add_comparison(session, batch, 0, 3, status=ComparisonRowStatus.TIMED_OUT)
    assert get_coverage_metrics_for_batch(session, batch.id) == (6, 0)


def test_a_later_success_on_a_failed_pair_counts_once(session: Session) -> None:
    batch = make_batch(session, 3)
    add_comparison(session, batch, 0, 1, wave=1, status=FAILED)
    add_comparison(session, batch, 0, 1, wave=2, attempt=2)
    add_comparison(session, batch, 0, 1, wave=3, attempt=3)
    assert get_coverage_metrics_for_batch(session, batch.id) == (3, 1)


def test_both_orientations_of_a_pair_count_once(session: Session) -> None:
    batch = make_batch(session, 3)
    add_comparison(session, batch, 0, 2, wave=1)
    add_comparison(session, batch, 2, 0, wave=2, winner=Slot.B)
    add_comparison(session, batch, 1, 2, wave=2)
    assert get_coverage_metrics_for_batch(session, batch.id) == (3, 2)


def test_anchors_count_in_max_possible_pairs(session: Session) -> None:
    batch = make_batch(session, 5, n_anchors=2)
    assert get_coverage_metrics_for_batch(session, batch.id) == (10, 0)


def test_full_coverage(session: Session) -> None:
    batch = make_batch(session, 4)
    for wave, (a, b) in enumerate([(0, 1), (2, 3), (0, 2), (1, 3), (0, 3), (1, 2)], start=1):
        add_comparison(session, batch, a, b, wave=wave)
    assert get_coverage_metrics_for_batch(session, batch.id) == (6, 6)


def test_other_batches_do_not_count(session: Session) -> None:
    batch = make_batch(session, 3)
    other = make_batch(session, 6)
    add_comparison(session, other, 0, 1)
    add_comparison(session, other, 1, 2)
    add_comparison(session, batch, 1, 2)
    assert get_coverage_metrics_for_batch(session, batch.id) == (3, 1)
