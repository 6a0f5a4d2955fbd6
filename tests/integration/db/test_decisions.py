"""One decision per wave: a duplicate continuation cannot log a second one."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import DecisionRow
from cj_worker.db.repositories import record_decision
from tests.builders.db import make_batch


def _decisions(session: Session, batch_id: object) -> list[tuple[int, str, str]]:
    rows = session.execute(
        sa.select(DecisionRow.wave, DecisionRow.action, DecisionRow.reason)
        .where(DecisionRow.batch_id == batch_id)
        .order_by(DecisionRow.wave)
    )
    return [(wave, action, reason) for wave, action, reason in rows]


def test_record_decision_is_idempotent_per_wave(session: Session) -> None:
    batch = make_batch(session, 3)
    assert record_decision(session, batch.id, 1, "request_coverage", "coverage_incomplete", {})
    assert not record_decision(session, batch.id, 1, "finalize_scoring", "stable", {"x": 1})
    # The transaction is still usable after the refused insert (PostgreSQL would abort it
    # after an IntegrityError).
    assert record_decision(session, batch.id, 2, "finalize_scoring", "stable", {"max_change": 0.01})
    assert _decisions(session, batch.id) == [
        (1, "request_coverage", "coverage_incomplete"),
        (2, "finalize_scoring", "stable"),
    ]


def test_record_decision_keeps_details_and_timestamps(session: Session) -> None:
    batch = make_batch(session, 3)
    assert record_decision(session, batch.id, 0, "request_coverage", "intake", {"budget_left": 100})
    decision = session.scalars(sa.select(DecisionRow).where(DecisionRow.batch_id == batch.id)).one()
    assert decision.details == {"budget_left": 100}
    assert decision.created_at.tzinfo is not None


def test_batches_have_separate_decision_logs(session: Session) -> None:
    first, second = make_batch(session, 2), make_batch(session, 2)
    assert record_decision(session, first.id, 1, "finalize_scoring", "stable", {})
    assert record_decision(session, second.id, 1, "finalize_scoring", "stable", {})
