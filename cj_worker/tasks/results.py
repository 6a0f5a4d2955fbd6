"""A finished batch's results: the core's report shaped into what is stored and sent.

Finalization calls :func:`final_results` under the batch lock and stores and sends what
it returns; this module decides the shape (per essay an
:class:`~cj_worker.db.results.EssayResult`, the batch-level summary, the judges), the
finalization decides when. Counts are the actual rows, never n-choose-2 estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from cj_worker import metrics
from cj_worker.config import AlgorithmSettings
from cj_worker.core.batch_report import BatchReport, Reliability, report_batch
from cj_worker.core.bt import fit_bradley_terry
from cj_worker.core.decision import Reason
from cj_worker.core.grade_scales import GradeScale
from cj_worker.core.grading import NO_GRADE, ProjectionStatus
from cj_worker.db import repositories
from cj_worker.db.models import Batch, Essay
from cj_worker.db.repositories import RowCounts, ScoredEssay
from cj_worker.db.results import EssayResult
from cj_worker.db.states import BatchState

SPLIT_HALF_STREAM = 1
"""Mixed into the batch seed for the split-half splits, so a re-run of the same
finalization reports the same figure and pairing draws (``[seed, wave]``) stay apart."""


@dataclass(frozen=True)
class FinalResults:
    """Everything a finalization stores and sends, in rank order."""

    state: BatchState
    reason: str
    counts: RowCounts
    duration_seconds: float
    report: BatchReport | None
    """None for a failed batch, which is not scored."""
    essays: list[ScoredEssay]
    summary: dict[str, Any]
    """The batch-level figures: stored as the batch result's summary and sent in the event."""

    @property
    def reliability(self) -> Reliability | None:
        return None if self.report is None else self.report.reliability

    @property
    def grade_projection(self) -> ProjectionStatus | None:
        return None if self.report is None else self.report.grades.status

    def event_payload(self) -> dict[str, Any]:
        """The result event: the summary and one entry per essay, in rank order."""
        return {**self.summary, "results": [item.result.as_dict() for item in self.essays]}


def final_results(session: Session, batch: Batch, state: BatchState, now: datetime) -> FinalResults:
    """Score a batch ending ``completed`` (a ``failed`` one gets counts only) at ``now``."""
    essays = repositories.load_essays(session, batch.id)
    counts = repositories.counters_from_rows(session, batch.id)
    scale = GradeScale.from_json(batch.grade_scale)
    reason = str(
        batch.final_reason
        or (Reason.LOW_SUCCESS_RATE if state is BatchState.FAILED else Reason.STABLE)
    )
    duration = (now - batch.created_at).total_seconds()
    report: BatchReport | None = None
    scored: list[ScoredEssay] = []
    judges: list[dict[str, Any]] = []
    if state is BatchState.COMPLETED:
        report, judge_ids = _score(session, batch, essays, scale)
        scored = sorted(
            (_scored(essay, report, scale) for essay in essays), key=lambda s: s.result.rank
        )
        judges = _judges(report, judge_ids)
    summary = _summary(batch, state, reason, len(essays), counts, duration, scale, report)
    summary["judges"] = judges
    return FinalResults(state, reason, counts, duration, report, scored, summary)


def _score(
    session: Session, batch: Batch, essays: list[Essay], scale: GradeScale
) -> tuple[BatchReport, list[str | None]]:
    """Fit every succeeded comparison and build the report; also the judge id per index."""
    settings = AlgorithmSettings.model_validate(batch.settings)
    judgements, judge_ids = repositories.load_judgements(session, batch.id, len(essays))
    with metrics.bt_fit_timer():
        fit = fit_bradley_terry(len(essays), *judgements.outcomes(), settings.bt_prior_precision)
    report = report_batch(
        fit,
        judgements,
        _anchor_grades(essays, scale),
        scale,
        np.random.default_rng([batch.seed, SPLIT_HALF_STREAM]),
    )
    return report, judge_ids


def _anchor_grades(essays: list[Essay], scale: GradeScale) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Scale index of each anchor's known grade, NO_GRADE for the others.

    Intake refuses anchor grades outside the scale; should one be stored anyway it does
    not calibrate (the anchor still reports its known grade).
    """
    return np.array(
        [
            scale.grades.index(essay.grade)
            if essay.is_anchor and essay.grade in scale.grades
            else NO_GRADE
            for essay in essays
        ],
        dtype=np.intp,
    )


def _scored(essay: Essay, report: BatchReport, scale: GradeScale) -> ScoredEssay:
    """One essay's result as stored and sent."""
    i = essay.position
    fit, projection, fit_stats = report.fit, report.grades, report.essays
    grade, probabilities, confidence = _grade(essay, report, scale)
    projected = int(projection.projected[i])
    result = EssayResult(
        rank=int(report.ranks[i]),
        essay_id=essay.external_id,
        score=float(fit.scores[i]),
        standard_error=float(fit.standard_errors[i]),
        comparisons=int(report.comparisons[i]),
        wins=int(report.wins[i]),
        is_anchor=essay.is_anchor,
        grade=grade,
        grade_probabilities=probabilities,
        confidence=confidence,
        projected_grade=None if projected == NO_GRADE else scale.grades[projected],
        infit=_finite(fit_stats.infit[i]),
        outfit=_finite(fit_stats.outfit[i]),
        misfit=bool(fit_stats.misfit[i]),
    )
    return ScoredEssay(essay, result, _finite(fit_stats.infit_z[i]), _finite(fit_stats.outfit_z[i]))


def _grade(
    essay: Essay, report: BatchReport, scale: GradeScale
) -> tuple[str | None, dict[str, float] | None, float | None]:
    """(grade, probability per grade, confidence) of one essay as stored and sent."""
    if essay.is_anchor and essay.grade not in scale.grades:
        return essay.grade, None, None  # see _anchor_grades: kept as given, not graded
    projection = report.grades
    index = int(projection.grades[essay.position])
    if index == NO_GRADE:
        return None, None, None
    probabilities = (
        None
        if projection.probabilities is None
        else {
            grade: float(p)
            for grade, p in zip(scale.grades, projection.probabilities[essay.position], strict=True)
        }
    )
    return scale.grades[index], probabilities, _finite(projection.confidence[essay.position])


def _summary(
    batch: Batch,
    state: BatchState,
    reason: str,
    essays: int,
    counts: RowCounts,
    duration: float,
    scale: GradeScale,
    report: BatchReport | None,
) -> dict[str, Any]:
    """The batch-level figures: stored as the batch result's summary and sent in the event."""
    reliability = None if report is None else report.reliability
    grading: dict[str, Any] = {"scale": scale.as_json(), "status": None, "explanation": None}
    if report is not None:
        status = report.grades.status
        calibration = report.grades.calibration
        grading |= {
            "status": status.value,
            "explanation": status.explanation,
            "calibration": None if calibration is None else calibration.as_json(),
        }
    return {
        "batch_id": str(batch.id),
        "external_ref": batch.external_ref,
        "tenant": batch.tenant,
        "state": state.value,
        "stop_reason": reason,
        "essays": essays,
        "comparisons_made": counts.submitted,
        "comparisons_succeeded": counts.succeeded,
        "comparisons_failed": counts.failed,
        "waves": batch.current_wave,
        "duration_seconds": duration,
        "ssr": None if reliability is None else reliability.ssr,
        "split_half": None if reliability is None else reliability.split_half,
        "separation": None if reliability is None else reliability.separation,
        "ssr_inflated": None if reliability is None else reliability.ssr_inflated,
        "slot_a_share": None if reliability is None else reliability.slot_a_share,
        "misfitting_essays": 0 if report is None else int(report.essays.misfit.sum()),
        "grading": grading,
    }


def _judges(report: BatchReport, judge_ids: list[str | None]) -> list[dict[str, Any]]:
    stats = report.judges
    return [
        {
            "judge_id": judge_id,
            "comparisons": int(stats.comparisons[j]),
            "infit": _finite(stats.infit[j]),
            "outfit": _finite(stats.outfit[j]),
            "infit_z": _finite(stats.infit_z[j]),
            "misfit": bool(stats.misfit[j]),
            "slot_a_share": _finite(report.judge_slot_a_share[j]),
        }
        for j, judge_id in enumerate(judge_ids)
    ]


def _finite(value: float | np.floating[Any]) -> float | None:
    """A float for a JSON or SQL column; NaN (undefined) becomes None (JSONB refuses NaN)."""
    number = float(value)
    return number if math.isfinite(number) else None
