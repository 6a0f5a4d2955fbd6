"""What the tasks read of a batch's essays, column by column, and its interim scores.

An essay row holds its text; loading whole rows to learn a count, a true score or a
position would read every text of the batch at every decision (tens of megabytes at
20,000 essays). These functions read the columns asked for, and the interim scores live in
their own narrow table (:class:`~cj_worker.db.models.EssayScore`), written in bulk, so a
decision never rewrites an essay row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.db.models import Batch, Comparison, Essay, EssayScore
from cj_worker.db.states import ComparisonRowStatus

_IN_LIST_LIMIT = 5_000
"""Positions asked for by list beyond which the whole batch is read instead."""


def essay_count(session: Session, batch_id: uuid.UUID) -> int:
    """How many essays the batch has (positions are ``0 .. count - 1``)."""
    statement = sa.select(sa.func.count()).select_from(Essay).where(Essay.batch_id == batch_id)
    return int(session.scalar(statement) or 0)


def _by_position(
    session: Session, batch_id: uuid.UUID, column: Any, positions: Collection[int]
) -> dict[int, Any]:
    statement = sa.select(Essay.position, column).where(Essay.batch_id == batch_id)
    if len(positions) <= _IN_LIST_LIMIT:
        statement = statement.where(Essay.position.in_(sorted(positions)))
    return {int(position): value for position, value in session.execute(statement)}


def essay_texts(
    session: Session, batch_id: uuid.UUID, positions: Collection[int]
) -> dict[int, str]:
    """The texts of the essays at ``positions`` (at least those), by position."""
    return _by_position(session, batch_id, Essay.text, positions)


def true_scores(
    session: Session, batch_id: uuid.UUID, positions: Collection[int]
) -> dict[int, float]:
    """The simulated judge's true scores of the essays at ``positions``; missing ones 0."""
    found = _by_position(session, batch_id, Essay.true_score, positions)
    return {position: float(score or 0.0) for position, score in found.items()}


def store_scores(
    session: Session,
    batch_id: uuid.UUID,
    comparison_counts: IntArray,
    fit: tuple[FloatArray, FloatArray] | None,
) -> None:
    """Upsert every essay's successful-comparison count and, with ``fit``, score and SE.

    One statement for the whole batch on PostgreSQL (``INSERT ... SELECT FROM unnest(...)
    ON CONFLICT DO UPDATE`` with the columns sent as arrays: 20,000 essays in tens of
    milliseconds, where row-by-row parameters took seconds); SQLite, for embedded runs
    of a class or two, takes the rows as one executemany. Without a fit the scores
    already stored stay.
    """
    positions = list(range(len(comparison_counts)))
    if not positions:
        return
    counts = [int(count) for count in comparison_counts.tolist()]
    scores: list[float] | None = None
    errors: list[float] | None = None
    if fit is not None:
        scores, errors = fit[0].tolist(), fit[1].tolist()
    if session.get_bind().dialect.name == "postgresql":
        parameters: dict[str, Any] = {"batch": batch_id, "positions": positions, "counts": counts}
        if scores is None:
            session.execute(_UPSERT_COUNT_ARRAYS, parameters)
        else:
            session.execute(_UPSERT_ARRAYS, {**parameters, "scores": scores, "errors": errors})
        return
    rows: list[dict[str, Any]] = [
        {"batch_id": batch_id, "position": position, "comparison_count": count}
        for position, count in zip(positions, counts, strict=True)
    ]
    updated = ["comparison_count"]
    if scores is not None and errors is not None:
        for row, score, error in zip(rows, scores, errors, strict=True):
            row["score"], row["standard_error"] = score, error
        updated += ["score", "standard_error"]
    insert = sqlite.insert(EssayScore)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[EssayScore.batch_id, EssayScore.position],
            set_={column: insert.excluded[column] for column in updated},
        ),
        rows,
    )


_UPSERT_ARRAYS = sa.text(
    "INSERT INTO essay_scores (batch_id, position, score, standard_error, comparison_count)"
    " SELECT :batch, u.position, u.score, u.standard_error, u.comparison_count"
    " FROM unnest(CAST(:positions AS integer[]), CAST(:scores AS double precision[]),"
    " CAST(:errors AS double precision[]), CAST(:counts AS integer[]))"
    " AS u(position, score, standard_error, comparison_count)"
    " ON CONFLICT (batch_id, position) DO UPDATE SET score = excluded.score,"
    " standard_error = excluded.standard_error, comparison_count = excluded.comparison_count"
).bindparams(sa.bindparam("batch", type_=sa.Uuid()))
_UPSERT_COUNT_ARRAYS = sa.text(
    "INSERT INTO essay_scores (batch_id, position, comparison_count)"
    " SELECT :batch, u.position, u.comparison_count"
    " FROM unnest(CAST(:positions AS integer[]), CAST(:counts AS integer[]))"
    " AS u(position, comparison_count)"
    " ON CONFLICT (batch_id, position) DO UPDATE SET comparison_count = excluded.comparison_count"
).bindparams(sa.bindparam("batch", type_=sa.Uuid()))


def load_scores(session: Session, batch_id: uuid.UUID, n_essays: int) -> FloatArray | None:
    """The scores stored at the previous decision, if every essay has one."""
    statement = (
        sa.select(EssayScore.position, EssayScore.score)
        .where(EssayScore.batch_id == batch_id, EssayScore.score.is_not(None))
        .order_by(EssayScore.position)
    )
    rows = session.execute(statement).all()
    if n_essays == 0 or len(rows) != n_essays:
        return None
    return np.fromiter((score for _, score in rows), dtype=np.float64, count=n_essays)


@dataclass(frozen=True)
class JudgeMaterial:
    """What the built-in LLM judge reads for one comparison."""

    judge: dict[str, Any]
    """The batch's judge spec, as stored."""
    batch_ended: bool
    answered: bool
    """The comparison already has its answer (succeeded or failed)."""
    text_a: str
    text_b: str


def judge_material(
    session: Session, comparison_id: uuid.UUID, batch_id: uuid.UUID
) -> JudgeMaterial | None:
    """The texts of the comparison's two essays and its batch's judge, in one query.

    None if the comparison does not exist in ``batch_id`` (deleted, or a ticket naming
    another batch).
    """
    essay_a, essay_b = sa.orm.aliased(Essay), sa.orm.aliased(Essay)
    same_batch = Comparison.batch_id
    statement = (
        sa.select(Batch.judge, Batch.state, Comparison.status, essay_a.text, essay_b.text)
        .join(Batch, Batch.id == same_batch)
        .join(essay_a, (essay_a.batch_id == same_batch) & (essay_a.position == Comparison.essay_a))
        .join(essay_b, (essay_b.batch_id == same_batch) & (essay_b.position == Comparison.essay_b))
        .where(Comparison.id == comparison_id, Comparison.batch_id == batch_id)
    )
    row = session.execute(statement).one_or_none()
    if row is None:
        return None
    judge, state, status, text_a, text_b = row
    return JudgeMaterial(
        judge=dict(judge),
        batch_ended=state.is_terminal,
        answered=status in (ComparisonRowStatus.SUCCEEDED, ComparisonRowStatus.FAILED),
        text_a=text_a,
        text_b=text_b,
    )
