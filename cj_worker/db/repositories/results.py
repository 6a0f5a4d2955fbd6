"""Writing a finished batch's results, and mapping a result row back to its contract.

Finalization stores what :mod:`cj_worker.tasks.results` shaped; the read model
(:mod:`~cj_worker.db.repositories.reports`) turns the rows back into the same
:class:`~cj_worker.db.results.EssayResult`. Both directions live here, so a field added to
the contract has one place to be stored and read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.core.batch_report import Reliability
from cj_worker.core.grading import ProjectionStatus
from cj_worker.db.models import BatchResultRow, Essay, EssayResultRow
from cj_worker.db.repositories.batches import EssayRef
from cj_worker.db.repositories.comparisons import RowCounts
from cj_worker.db.results import EssayResult
from cj_worker.db.states import BatchState


@dataclass(frozen=True)
class ScoredEssay:
    """One essay's result with what only the stored row keeps (standardised fit)."""

    essay: EssayRef
    result: EssayResult
    infit_z: float | None
    outfit_z: float | None


def store_essay_results(
    session: Session, batch_id: uuid.UUID, scored: Sequence[ScoredEssay]
) -> None:
    """One result row per essay, in one statement on PostgreSQL.

    The columns go as arrays through ``unnest`` (20,000 rows took 2.6 s as multi-row
    ``INSERT`` s through the ORM); SQLite, for embedded runs, takes one executemany.
    """
    rows = [_result_row(batch_id, item) for item in scored]
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(sa.insert(_RESULTS), rows)
        return
    arrays: dict[str, Any] = {column: [row[column] for row in rows] for column in _COLUMNS}
    for column in _JSON_COLUMNS:
        arrays[column] = [None if v is None else json.dumps(v) for v in arrays[column]]
    session.execute(_INSERT_ARRAYS, {"batch": batch_id, **arrays})


def _result_row(batch_id: uuid.UUID, item: ScoredEssay) -> dict[str, Any]:
    result = item.result
    details: dict[str, Any] = {"infit_z": item.infit_z, "outfit_z": item.outfit_z}
    if result.projected_grade is not None:
        details["projected_grade"] = result.projected_grade
    return {
        "batch_id": batch_id,
        "essay_id": item.essay.id,
        "rank": result.rank,
        "score": result.score,
        "standard_error": result.standard_error,
        "comparisons": result.comparisons,
        "wins": result.wins,
        "infit": result.infit,
        "outfit": result.outfit,
        "misfit": result.misfit,
        "grade": result.grade,
        "grade_probabilities": result.grade_probabilities,
        "confidence": result.confidence,
        "details": details,
    }


_RESULTS = cast(sa.Table, EssayResultRow.__table__)
_ARRAY_TYPES = {
    "essay_id": "integer",
    "rank": "integer",
    "score": "double precision",
    "standard_error": "double precision",
    "comparisons": "integer",
    "wins": "integer",
    "infit": "double precision",
    "outfit": "double precision",
    "misfit": "boolean",
    "grade": "text",
    "grade_probabilities": "text",
    "confidence": "double precision",
    "details": "text",
}
"""Each column's SQL element type as an ``unnest`` array (JSON columns travel as text)."""
_COLUMNS = tuple(_ARRAY_TYPES)
_JSON_COLUMNS = ("grade_probabilities", "details")
_SELECTED = ", ".join(f"CAST(u.{c} AS jsonb)" if c in _JSON_COLUMNS else f"u.{c}" for c in _COLUMNS)
_ARRAYS = ", ".join(f"CAST(:{column} AS {kind}[])" for column, kind in _ARRAY_TYPES.items())
_INSERT_ARRAYS = sa.text(
    f"INSERT INTO essay_results (batch_id, {', '.join(_COLUMNS)})"
    f" SELECT :batch, {_SELECTED} FROM unnest({_ARRAYS}) AS u({', '.join(_COLUMNS)})"
).bindparams(sa.bindparam("batch", type_=sa.Uuid()))


def store_batch_result(
    session: Session,
    batch_id: uuid.UUID,
    *,
    state: BatchState,
    stop_reason: str,
    counts: RowCounts,
    waves: int,
    reliability: Reliability | None,
    grade_projection: ProjectionStatus | None,
    duration_seconds: float,
    summary: dict[str, Any],
) -> None:
    """The batch-level outcome row; ``summary`` is the result event's batch-level part."""
    session.add(
        BatchResultRow(
            batch_id=batch_id,
            stop_reason=stop_reason,
            state=state,
            comparisons_made=counts.submitted,
            comparisons_succeeded=counts.succeeded,
            comparisons_failed=counts.failed,
            waves=waves,
            ssr=None if reliability is None else reliability.ssr,
            split_half=None if reliability is None else reliability.split_half,
            separation=None if reliability is None else reliability.separation,
            grade_projection=grade_projection,
            duration_seconds=duration_seconds,
            summary=summary,
        )
    )


def essay_result_of(row: EssayResultRow, essay: Essay, grades: Sequence[str]) -> EssayResult:
    """The contract of a stored result row; ``grades`` is the batch's scale, lowest first."""
    probabilities = row.grade_probabilities
    return EssayResult(
        rank=row.rank,
        essay_id=essay.external_id,
        score=row.score,
        standard_error=row.standard_error,
        comparisons=row.comparisons,
        wins=row.wins,
        is_anchor=essay.is_anchor,
        grade=row.grade,
        # JSONB does not keep key order: restore the scale's.
        grade_probabilities=(
            None
            if probabilities is None
            else {grade: probabilities[grade] for grade in grades if grade in probabilities}
        ),
        confidence=row.confidence,
        projected_grade=row.details.get("projected_grade"),
        infit=row.infit,
        outfit=row.outfit,
        misfit=row.misfit,
    )
