"""Read models for producers and operators: a batch's status and its results.

Plain frozen dataclasses, so the client, the CLI and tests share one shape; counts are
the actual rows, not estimates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Batch, BatchResult, Decision, Essay, EssayResult
from cj_worker.db.repositories.comparisons import counters_from_rows


@dataclass(frozen=True)
class DecisionView:
    wave: int
    action: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class BatchStatus:
    batch_id: uuid.UUID
    state: str
    final_reason: str | None
    essays: int
    total_budget: int
    current_wave: int
    submitted: int
    succeeded: int
    failed: int
    pending: int
    processing_metadata: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
    decisions: list[DecisionView] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": str(self.batch_id),
            "state": self.state,
            "final_reason": self.final_reason,
            "essays": self.essays,
            "total_budget": self.total_budget,
            "current_wave": self.current_wave,
            "comparisons": {
                "submitted": self.submitted,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "pending": self.pending,
                "success_rate": self.success_rate,
            },
            "processing_metadata": self.processing_metadata,
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "waves": [
                {"wave": d.wave, "action": d.action, "reason": d.reason} for d in self.decisions
            ],
        }


@dataclass(frozen=True)
class EssayResultView:
    rank: int
    essay_id: str
    score: float
    standard_error: float
    comparisons: int
    wins: int
    is_anchor: bool
    grade: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "id": self.essay_id,
            "score": self.score,
            "se": self.standard_error,
            "comparisons": self.comparisons,
            "wins": self.wins,
            "is_anchor": self.is_anchor,
            "grade": self.grade,
        }


@dataclass(frozen=True)
class BatchResults:
    status: BatchStatus
    stop_reason: str | None
    ssr: float | None
    duration_seconds: float | None
    essays: list[EssayResultView]

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": str(self.status.batch_id),
            "state": self.status.state,
            "stop_reason": self.stop_reason,
            "ssr": self.ssr,
            "duration_seconds": self.duration_seconds,
            "comparisons_made": self.status.submitted,
            "essays": [essay.as_dict() for essay in self.essays],
        }


def batch_status(session: Session, batch_id: uuid.UUID) -> BatchStatus | None:
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    counts = counters_from_rows(session, batch_id)
    essays = session.scalar(
        sa.select(sa.func.count()).select_from(Essay).where(Essay.batch_id == batch_id)
    )
    decisions = session.scalars(
        sa.select(Decision).where(Decision.batch_id == batch_id).order_by(Decision.wave)
    )
    return BatchStatus(
        batch_id=batch.id,
        state=str(batch.state),
        final_reason=batch.final_reason,
        essays=int(essays or 0),
        total_budget=batch.total_budget,
        current_wave=batch.current_wave,
        submitted=counts.submitted,
        succeeded=counts.succeeded,
        failed=counts.failed,
        pending=counts.pending,
        processing_metadata=dict(batch.processing_metadata or {}),
        created_at=batch.created_at,
        completed_at=batch.completed_at,
        decisions=[DecisionView(d.wave, d.action, d.reason, d.created_at) for d in decisions],
    )


def batch_results(session: Session, batch_id: uuid.UUID) -> BatchResults | None:
    status = batch_status(session, batch_id)
    if status is None:
        return None
    summary = session.get(BatchResult, batch_id)
    rows = session.execute(
        sa.select(EssayResult, Essay)
        .join(Essay, Essay.id == EssayResult.essay_id)
        .where(EssayResult.batch_id == batch_id)
        .order_by(EssayResult.rank)
    )
    return BatchResults(
        status=status,
        stop_reason=None if summary is None else summary.stop_reason,
        ssr=None if summary is None else summary.ssr,
        duration_seconds=None if summary is None else summary.duration_seconds,
        essays=[
            EssayResultView(
                rank=result.rank,
                essay_id=essay.external_id,
                score=result.score,
                standard_error=result.standard_error,
                comparisons=result.comparisons,
                wins=result.wins,
                is_anchor=essay.is_anchor,
                grade=essay.grade,
            )
            for result, essay in rows
        ],
    )
