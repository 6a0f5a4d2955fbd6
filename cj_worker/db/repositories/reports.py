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


Z_95 = 1.959964
"""Normal quantile of a two-sided 95 % interval."""


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
    """An anchor's known grade, else the projected one (None without a projection)."""
    confidence: float | None
    """Probability of ``grade`` (1 for anchors)."""
    grade_probabilities: dict[str, float] | None
    """Per grade label, lowest grade first; None when grades were not projected."""
    projected_grade: str | None
    """What the calibration gives this essay; differs from ``grade`` for an anchor the
    net placed in another grade."""
    infit: float | None
    outfit: float | None
    misfit: bool

    @property
    def interval_95(self) -> tuple[float, float]:
        """score -+ 1.96 SE (the SE as reported; see the README on adaptive pairing)."""
        half = Z_95 * self.standard_error
        return self.score - half, self.score + half

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
            "confidence": self.confidence,
            "grade_probabilities": self.grade_probabilities,
            "projected_grade": self.projected_grade,
            "infit": self.infit,
            "outfit": self.outfit,
            "misfit": self.misfit,
        }


@dataclass(frozen=True)
class BatchResults:
    status: BatchStatus
    stop_reason: str | None
    ssr: float | None
    split_half: float | None
    separation: float | None
    ssr_inflated: bool | None
    duration_seconds: float | None
    grade_scale: dict[str, Any]
    """The batch's resolved scale: name, grades (lowest first), priors."""
    grading: dict[str, Any] | None
    """Projection status, its explanation and the calibration (centres, boundaries)."""
    judges: list[dict[str, Any]]
    """Per judge: comparisons, infit, outfit, infit_z, misfit, slot_a_share."""
    essays: list[EssayResultView]

    @property
    def boundaries(self) -> list[float]:
        """Score boundaries between adjacent grades; empty without a calibration."""
        calibration = (self.grading or {}).get("calibration") or {}
        return [float(b) for b in calibration.get("boundaries", [])]

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": str(self.status.batch_id),
            "state": self.status.state,
            "stop_reason": self.stop_reason,
            "ssr": self.ssr,
            "split_half": self.split_half,
            "separation": self.separation,
            "ssr_inflated": self.ssr_inflated,
            "duration_seconds": self.duration_seconds,
            "comparisons_made": self.status.submitted,
            "waves": self.status.current_wave,
            "grade_scale": self.grade_scale,
            "grading": self.grading,
            "judges": self.judges,
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
    batch = session.get(Batch, batch_id)  # batch_status loaded it: no second query
    if status is None or batch is None:
        return None
    grades = [str(grade) for grade in batch.grade_scale["grades"]]
    summary = session.get(BatchResult, batch_id)
    rows = session.execute(
        sa.select(EssayResult, Essay)
        .join(Essay, Essay.id == EssayResult.essay_id)
        .where(EssayResult.batch_id == batch_id)
        .order_by(EssayResult.rank)
    )
    stored = {} if summary is None else summary.summary
    return BatchResults(
        status=status,
        stop_reason=None if summary is None else summary.stop_reason,
        ssr=None if summary is None else summary.ssr,
        split_half=None if summary is None else summary.split_half,
        separation=None if summary is None else summary.separation,
        ssr_inflated=None if summary is None else summary.ssr_inflated,
        duration_seconds=None if summary is None else summary.duration_seconds,
        grade_scale=dict(batch.grade_scale),
        grading=stored.get("grading"),
        judges=list(stored.get("judges", [])),
        essays=[_essay_view(result, essay, grades) for result, essay in rows],
    )


def _essay_view(result: EssayResult, essay: Essay, grades: list[str]) -> EssayResultView:
    probabilities = result.grade_probabilities
    return EssayResultView(
        rank=result.rank,
        essay_id=essay.external_id,
        score=result.score,
        standard_error=result.standard_error,
        comparisons=result.comparisons,
        wins=result.wins,
        is_anchor=essay.is_anchor,
        grade=result.grade,
        confidence=result.confidence,
        # JSONB does not keep key order: restore the scale's.
        grade_probabilities=(
            None
            if probabilities is None
            else {grade: probabilities[grade] for grade in grades if grade in probabilities}
        ),
        projected_grade=result.details.get("projected_grade"),
        infit=result.infit,
        outfit=result.outfit,
        misfit=result.misfit,
    )
