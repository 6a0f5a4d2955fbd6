"""The batch row lock and the essays of a batch."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Batch, Essay


def lock_batch(session: Session, batch_id: uuid.UUID) -> Batch | None:
    """The batch, locked until the transaction ends (``SELECT ... FOR UPDATE``).

    Every state change takes this lock first, so continuation, callbacks and the sweep
    cannot act on the same batch at once. The row is re-read even if the session already
    holds it: what was loaded before the lock may be stale. On SQLite the engine's
    ``BEGIN IMMEDIATE`` gives the same guarantee.
    """
    statement = (
        sa.select(Batch)
        .where(Batch.id == batch_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).one_or_none()


def load_essays(session: Session, batch_id: uuid.UUID) -> list[Essay]:
    """The batch's essays in position order, i.e. indexed as the core indexes them."""
    statement = sa.select(Essay).where(Essay.batch_id == batch_id).order_by(Essay.position)
    return list(session.scalars(statement))
