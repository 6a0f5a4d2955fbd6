"""The schema's constraints hold on both databases, and values read back as written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.core.grading import ProjectionStatus
from cj_worker.db.models import (
    Batch,
    BatchResultRow,
    Comparison,
    DecisionRow,
    Essay,
    EssayResultRow,
)
from cj_worker.db.states import BatchState, ComparisonRowStatus, GenerationMode, Slot
from tests.builders.db import add_comparison, make_batch


def _rejected(session: Session, write: Callable[[], object]) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        _write_in_savepoint(session, write)


def _write_in_savepoint(session: Session, write: Callable[[], object]) -> None:
    with session.begin_nested():
        write()
        session.flush()


def test_comparisons_need_two_distinct_essays_of_their_batch(session: Session) -> None:
    batch = make_batch(session, 3)
    _rejected(session, lambda: add_comparison(session, batch, 1, 1))
    _rejected(session, lambda: add_comparison(session, batch, 0, 3))
    _rejected(session, lambda: add_comparison(session, make_batch(session, 2), 0, 2))


def test_a_winner_exactly_when_succeeded(session: Session) -> None:
    batch = make_batch(session, 3)
    succeeded_without_winner = Comparison(
        batch_id=batch.id,
        wave=1,
        essay_a=0,
        essay_b=1,
        mode=GenerationMode.COVERAGE,
        attempt=1,
        status=ComparisonRowStatus.SUCCEEDED,
    )
    _rejected(session, lambda: session.add(succeeded_without_winner))
    _rejected(
        session,
        lambda: add_comparison(
            session, batch, 0, 1, status=ComparisonRowStatus.FAILED, winner=Slot.B
        ),
    )
    comparison_id = add_comparison(session, batch, 0, 1).id
    # Raw SQL: the enum columns would refuse these values before the database could.
    for assignment in ("winner = 'C'", "winner = NULL", "status = 'failed'"):
        update = sa.text(f"UPDATE comparisons SET {assignment} WHERE id = :id").bindparams(
            sa.bindparam("id", comparison_id, type_=sa.Uuid())
        )
        _rejected(session, partial(session.execute, update))


def test_a_wave_cannot_hold_the_same_comparison_twice(session: Session) -> None:
    batch = make_batch(session, 3)
    add_comparison(session, batch, 0, 1, wave=1)
    _rejected(session, lambda: add_comparison(session, batch, 0, 1, wave=1, attempt=2))
    add_comparison(session, batch, 0, 1, wave=2, attempt=2)


def test_essay_ids_and_positions_are_unique_per_batch_only(session: Session) -> None:
    batch = make_batch(session, 2)
    make_batch(session, 2)  # the same external ids and positions in another batch
    same_id = Essay(batch_id=batch.id, external_id="essay-0", position=5, text="")
    _rejected(session, partial(session.add, same_id))
    same_position = Essay(batch_id=batch.id, external_id="new", position=1, text="")
    _rejected(session, partial(session.add, same_position))


def test_budget_and_counters_are_checked(session: Session) -> None:
    _rejected(session, partial(make_batch, session, 2, total_budget=0))
    batch = make_batch(session, 2)
    _rejected(session, partial(setattr, batch, "comparisons_failed", -1))


def _batch_result(batch: Batch, grade_projection: object) -> sa.Insert:
    return sa.insert(BatchResultRow).values(
        batch_id=batch.id,
        stop_reason="stable",
        state=BatchState.COMPLETED,
        comparisons_made=0,
        comparisons_succeeded=0,
        comparisons_failed=0,
        waves=0,
        duration_seconds=1.0,
        summary={},
        grade_projection=grade_projection,
    )


@pytest.mark.parametrize("status", list(ProjectionStatus))
def test_every_projection_status_is_a_valid_grade_projection(
    session: Session, status: ProjectionStatus
) -> None:
    batch = make_batch(session, 1)
    session.execute(_batch_result(batch, status))
    stored = session.get(BatchResultRow, batch.id)
    assert stored is not None
    assert stored.grade_projection is status


def test_result_rows_are_checked(session: Session) -> None:
    batch = make_batch(session, 1)
    # A literal bypasses the enum type, as a hand-written INSERT would.
    _rejected(session, partial(session.execute, _batch_result(batch, sa.literal("guessed"))))
    [essay] = batch_essays(session, batch)
    result = EssayResultRow(
        batch_id=batch.id,
        essay_id=essay.id,
        rank=1,
        score=0.0,
        standard_error=10.0,
        comparisons=0,
        wins=0,
        confidence=1.5,
    )
    _rejected(session, partial(session.add, result))


def batch_essays(session: Session, batch: Batch) -> list[Essay]:
    return list(session.scalars(sa.select(Essay).where(Essay.batch_id == batch.id)))


def test_deleting_a_batch_deletes_its_rows(session: Session) -> None:
    batch = make_batch(session, 3)
    add_comparison(session, batch, 0, 1)
    session.add(DecisionRow(batch_id=batch.id, wave=0, action="request_coverage", reason="intake"))
    session.flush()
    session.execute(sa.delete(Batch).where(Batch.id == batch.id))
    for model in (Essay, Comparison, DecisionRow):
        count = session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.batch_id == batch.id)
        )
        assert count == 0


def test_values_read_back_typed_and_timezone_aware(session: Session) -> None:
    batch = make_batch(session, 2)
    add_comparison(session, batch, 0, 1, winner=Slot.B)
    batch.completed_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    session.flush()
    session.expire_all()

    assert batch.state is BatchState.COLLECTING
    assert batch.processing_metadata == {}
    assert batch.settings["max_iterations"] == 30
    assert batch.created_at.tzinfo is not None
    assert batch.completed_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    comparison = session.scalars(sa.select(Comparison).where(Comparison.batch_id == batch.id)).one()
    assert (comparison.status, comparison.winner) == (ComparisonRowStatus.SUCCEEDED, Slot.B)


def test_naive_datetimes_are_refused(session: Session) -> None:
    batch = make_batch(session, 2)
    batch.completed_at = datetime(2026, 1, 1)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        session.flush()


def test_batch_states_know_which_are_terminal() -> None:
    terminal = {state for state in BatchState if state.is_terminal}
    assert terminal == {BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED}
