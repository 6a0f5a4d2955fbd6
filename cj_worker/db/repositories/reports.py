"""Read models for producers and operators: a batch's status and its results.

Plain frozen dataclasses, so the client, the CLI and tests share one shape; counts are
the actual rows (through the batch's counters, which cache them), not estimates. Each
essay's result is the :class:`~cj_worker.db.results.EssayResult` the result event carries.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Batch, BatchResultRow, DecisionRow, Essay, EssayResultRow
from cj_worker.db.repositories.comparisons import RowCounts
from cj_worker.db.repositories.results import essay_result_of
from cj_worker.db.repositories.usage import BatchUsage, batch_usage
from cj_worker.db.results import Z_95, EssayResult

__all__ = [
    "Z_95",
    "BatchResults",
    "BatchStatus",
    "BatchUsage",
    "DecisionView",
    "EssayResult",
    "batch_results",
    "batch_status",
]


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
    tenant: str | None = None
    external_ref: str | None = None
    judge_kind: str | None = None
    assignment: str | None = None
    """The task the essays answer, as the LLM judge is shown it (its stored spec)."""
    rubric: str | None = None
    usage: BatchUsage | None = None
    """Tokens, time, attempts and cost, if the judge reported them (LLM judges)."""
    essays_expected: int | None = None
    """The declared ``essay_count`` of a batch sent in chunks; ``essays`` is how many of
    them arrived. None for a batch sent whole."""

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": str(self.batch_id),
            "tenant": self.tenant,
            "external_ref": self.external_ref,
            "state": self.state,
            "final_reason": self.final_reason,
            "essays": self.essays,
            "essays_expected": self.essays_expected,
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
            "judge_kind": self.judge_kind,
            "assignment": self.assignment,
            "rubric": self.rubric,
            "usage": None if self.usage is None else self.usage.as_dict(),
        }


@dataclass(frozen=True)
class BatchResults:
    status: BatchStatus
    stop_reason: str | None
    ssr: float | None
    split_half: float | None
    separation: float | None
    duration_seconds: float | None
    grade_scale: dict[str, Any]
    """The batch's resolved scale: name, grades (lowest first), priors."""
    grading: dict[str, Any] | None
    """Projection status, its explanation and the calibration (centres, boundaries)."""
    judges: list[dict[str, Any]]
    """Per judge: comparisons, infit, outfit, infit_z, misfit, slot_a_share."""
    essays: list[EssayResult]
    reliability: float | None = None
    """The headline reliability (the hierarchical fit's estimate of the squared correlation
    with the true order); None below the minimum number of essays or for older results.
    SSR and split-half are secondary figures beside it."""
    prior_sd: float | None = None
    """tau, the estimated SD of true quality in logits."""
    shows_signal: bool | None = None
    """Whether the outcomes rule out coin flipping (else ``reliability`` is 0)."""
    slot_effect: float | None = None
    """delta: the logit advantage judges gave the essay shown in slot A."""
    slot_effect_se: float | None = None

    @property
    def grades(self) -> list[str]:
        """The scale's grades, lowest first."""
        return [str(grade) for grade in self.grade_scale["grades"]]

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
            "reliability": self.reliability,
            "prior_sd": self.prior_sd,
            "shows_signal": self.shows_signal,
            "ssr": self.ssr,
            "split_half": self.split_half,
            "separation": self.separation,
            "slot_effect": self.slot_effect,
            "slot_effect_se": self.slot_effect_se,
            "duration_seconds": self.duration_seconds,
            "comparisons_made": self.status.submitted,
            "waves": self.status.current_wave,
            "grade_scale": self.grade_scale,
            "grading": self.grading,
            "judges": self.judges,
            "usage": None if self.status.usage is None else self.status.usage.as_dict(),
            "essays": [essay.as_dict() for essay in self.essays],
        }

    def to_csv(self) -> str:
        """One row per essay; a ``p_<grade>`` column per grade when grades were projected."""
        projected = any(essay.grade_probabilities is not None for essay in self.essays)
        grades = self.grades if projected else []
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(EssayResult.csv_header(grades))
        writer.writerows(essay.csv_row(grades) for essay in self.essays)
        return buffer.getvalue()


def batch_status(session: Session, batch_id: uuid.UUID) -> BatchStatus | None:
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    counts = RowCounts.of_batch(batch)  # a status poll reads one row, not every comparison
    essays = session.scalar(
        sa.select(sa.func.count()).select_from(Essay).where(Essay.batch_id == batch_id)
    )
    judge: dict[str, Any] = dict(batch.judge or {})
    decisions = session.scalars(
        sa.select(DecisionRow).where(DecisionRow.batch_id == batch_id).order_by(DecisionRow.wave)
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
        tenant=batch.tenant,
        external_ref=batch.external_ref,
        judge_kind=_text(judge.get("kind")),
        assignment=_text(judge.get("assignment")),
        rubric=_text(judge.get("rubric")),
        usage=batch_usage(session, batch_id),
        essays_expected=batch.essays_expected,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def batch_results(session: Session, batch_id: uuid.UUID) -> BatchResults | None:
    status = batch_status(session, batch_id)
    batch = session.get(Batch, batch_id)  # batch_status loaded it: no second query
    if status is None or batch is None:
        return None
    grades = [str(grade) for grade in batch.grade_scale["grades"]]
    summary = session.get(BatchResultRow, batch_id)
    rows = session.execute(
        sa.select(EssayResultRow, Essay)
        .join(Essay, Essay.id == EssayResultRow.essay_id)
        .where(EssayResultRow.batch_id == batch_id)
        .order_by(EssayResultRow.rank)
    )
    stored = {} if summary is None else summary.summary
    return BatchResults(
        status=status,
        stop_reason=None if summary is None else summary.stop_reason,
        ssr=None if summary is None else summary.ssr,
        split_half=None if summary is None else summary.split_half,
        separation=None if summary is None else summary.separation,
        duration_seconds=None if summary is None else summary.duration_seconds,
        grade_scale=dict(batch.grade_scale),
        grading=stored.get("grading"),
        judges=list(stored.get("judges", [])),
        essays=[essay_result_of(result, essay, grades) for result, essay in rows],
        # Figures added with the hierarchical fit live in the summary JSON (no migration).
        reliability=stored.get("reliability"),
        prior_sd=stored.get("prior_sd"),
        shows_signal=stored.get("shows_signal"),
        slot_effect=stored.get("slot_effect"),
        slot_effect_se=stored.get("slot_effect_se"),
    )
