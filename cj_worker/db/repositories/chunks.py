"""The essays of a batch that arrives in chunks: what is stored, where, and its digest.

Called under the batch row lock (:func:`~cj_worker.db.repositories.batches.lock_batch`),
so the count a chunk reads cannot change before its transaction ends: exactly one chunk
sees the batch complete.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Batch, Essay
from cj_worker.db.states import BatchState
from cj_worker.payloads import essays_sha256

IN_LIST_SIZE = 500
"""Ids per ``IN (...)`` list: within every SQLite build's limit on bound parameters."""


def stored_essay_count(session: Session, batch_id: uuid.UUID) -> int:
    statement = sa.select(sa.func.count()).select_from(Essay).where(Essay.batch_id == batch_id)
    return int(session.scalar(statement) or 0)


def awaits_essays(session: Session, batch: Batch) -> bool:
    """Whether a batch created with ``essay_count`` still waits for some of its essays.

    Only a ``created`` batch can: the chunk that completes it is the one that starts it.
    """
    if batch.essays_expected is None or batch.state is not BatchState.CREATED:
        return False
    return stored_essay_count(session, batch.id) < batch.essays_expected


def essays_between(session: Session, batch_id: uuid.UUID, start: int, stop: int) -> list[Essay]:
    """The stored essays at positions ``start`` to ``stop - 1``, in position order."""
    statement = (
        sa.select(Essay)
        .where(Essay.batch_id == batch_id, Essay.position >= start, Essay.position < stop)
        .order_by(Essay.position)
    )
    return list(session.scalars(statement))


def positions_of(session: Session, batch_id: uuid.UUID, ids: Iterable[str]) -> dict[str, int]:
    """The stored position of each of ``ids`` that the batch already holds."""
    wanted = list(ids)
    found: dict[str, int] = {}
    for start in range(0, len(wanted), IN_LIST_SIZE):
        statement = sa.select(Essay.external_id, Essay.position).where(
            Essay.batch_id == batch_id,
            Essay.external_id.in_(wanted[start : start + IN_LIST_SIZE]),
        )
        found.update(
            (str(external_id), int(position))
            for external_id, position in session.execute(statement)
        )
    return found


def stored_essays_sha256(session: Session, batch_id: uuid.UUID) -> str:
    """:func:`cj_worker.payloads.essays_sha256` of the batch's stored essays, in position order."""
    statement = (
        sa.select(Essay.external_id, Essay.text, Essay.is_anchor, Essay.grade, Essay.true_score)
        .where(Essay.batch_id == batch_id)
        .order_by(Essay.position)
        .execution_options(yield_per=1_000)
    )
    return essays_sha256(
        (external_id, text, is_anchor, grade, true_score)
        for external_id, text, is_anchor, grade, true_score in session.execute(statement)
    )
