"""``cj.finalize_scoring`` and ``cj.finalize_failure``: end a batch exactly once.

Both lock the batch, return if it is already terminal, and write the results, the terminal
state and the result event (outbox) in one transaction; the outbox relay is nudged after
commit. Counts in results and events are the actual rows, never n-choose-2 estimates.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.config import AlgorithmSettings
from cj_worker.core.batch_report import BatchReport, report_batch
from cj_worker.core.bt import fit_bradley_terry
from cj_worker.core.decision import Reason
from cj_worker.core.grade_scales import GradeScale
from cj_worker.core.grading import NO_GRADE
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, BatchResult, Essay, EssayResult
from cj_worker.db.states import BatchState, OutboxEventType
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit

SPLIT_HALF_STREAM = 1
"""Mixed into the batch seed for the split-half splits, so a re-run of the same
finalization reports the same figure and pairing draws (``[seed, wave]``) stay apart."""


@cj_task(task_names.FINALIZE_SCORING)
def finalize_scoring(batch_id: str) -> str:
    with session_scope(database_url()) as session:
        outcome, messages = finish(session, uuid.UUID(batch_id), BatchState.COMPLETED)
    send_after_commit(messages)
    return outcome


@cj_task(task_names.FINALIZE_FAILURE)
def finalize_failure(batch_id: str) -> str:
    with session_scope(database_url()) as session:
        outcome, messages = finish(session, uuid.UUID(batch_id), BatchState.FAILED)
    send_after_commit(messages)
    return outcome


def finish(session: Session, batch_id: uuid.UUID, state: BatchState) -> tuple[str, list[Message]]:
    """Score (or fail) the batch inside the caller's transaction; a no-op once terminal."""
    batch = repositories.lock_batch(session, batch_id)
    if batch is None:
        return "unknown_batch", []
    if batch.state.is_terminal:
        return f"already_{batch.state}", []
    essays = repositories.load_essays(session, batch_id)
    counts = repositories.counters_from_rows(session, batch_id)
    scale = GradeScale.from_json(batch.grade_scale)
    reason = str(
        batch.final_reason
        or (Reason.LOW_SUCCESS_RATE if state is BatchState.FAILED else Reason.STABLE)
    )
    now = utc_now()
    duration = (now - batch.created_at).total_seconds()

    report: BatchReport | None = None
    judge_ids: list[str | None] = []
    results: list[dict[str, Any]] = []
    if state is BatchState.COMPLETED:
        report, judge_ids = _score(session, batch, essays, scale)
        results = _store_essay_results(session, batch, essays, report, scale)
    summary = _summary(batch, state, reason, len(essays), counts, duration, scale, report)
    summary["judges"] = [] if report is None else _judges(report, judge_ids)
    session.add(_batch_result(batch, state, reason, counts, duration, report, summary))
    batch.state = state
    batch.final_reason = reason
    batch.completed_at = now
    batch.last_activity_at = now
    messages: list[Message] = []
    if batch.result_task:
        event = (
            OutboxEventType.BATCH_COMPLETED
            if state is BatchState.COMPLETED
            else OutboxEventType.BATCH_FAILED
        )
        repositories.add_outbox_event(
            session,
            batch_id,
            event,
            batch.result_task,
            batch.result_queue or task_names.RESULTS_QUEUE,
            {**summary, "results": results},
        )
        messages.append(Message(task_names.RELAY_OUTBOX, {}))
    ssr = summary["ssr"]
    metrics.on_commit(session, lambda: metrics.observe_finalized(state.value, duration, ssr))
    log.info(
        "batch finalized", extra={"batch_id": str(batch_id), "state": state.value, "reason": reason}
    )
    return state.value, messages


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


def _batch_result(
    batch: Batch,
    state: BatchState,
    reason: str,
    counts: repositories.RowCounts,
    duration: float,
    report: BatchReport | None,
    summary: dict[str, Any],
) -> BatchResult:
    reliability = None if report is None else report.reliability
    return BatchResult(
        batch_id=batch.id,
        stop_reason=reason,
        state=state,
        comparisons_made=counts.submitted,
        comparisons_succeeded=counts.succeeded,
        comparisons_failed=counts.failed,
        waves=batch.current_wave,
        ssr=None if reliability is None else reliability.ssr,
        split_half=None if reliability is None else reliability.split_half,
        separation=None if reliability is None else reliability.separation,
        ssr_inflated=None if reliability is None else reliability.ssr_inflated,
        grade_projection=None if report is None else report.grades.status,
        duration_seconds=duration,
        summary=summary,
    )


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


def _store_essay_results(
    session: Session, batch: Batch, essays: list[Essay], report: BatchReport, scale: GradeScale
) -> list[dict[str, Any]]:
    """Write one result row per essay; returns the rows as the result event carries them."""
    fit, projection, fit_stats = report.fit, report.grades, report.essays
    event_rows: list[dict[str, Any]] = []
    for essay in essays:
        i = essay.position
        essay.score = float(fit.scores[i])
        essay.standard_error = float(fit.standard_errors[i])
        essay.comparison_count = int(report.comparisons[i])
        grade, probabilities, confidence = _grade(essay, report, scale)
        details: dict[str, Any] = {
            "infit_z": _finite(fit_stats.infit_z[i]),
            "outfit_z": _finite(fit_stats.outfit_z[i]),
        }
        if projection.projected[i] != NO_GRADE:
            details["projected_grade"] = scale.grades[projection.projected[i]]
        row = EssayResult(
            batch_id=batch.id,
            essay_id=essay.id,
            rank=int(report.ranks[i]),
            score=essay.score,
            standard_error=essay.standard_error,
            comparisons=essay.comparison_count,
            wins=int(report.wins[i]),
            infit=_finite(fit_stats.infit[i]),
            outfit=_finite(fit_stats.outfit[i]),
            misfit=bool(fit_stats.misfit[i]),
            grade=grade,
            grade_probabilities=probabilities,
            confidence=confidence,
            details=details,
        )
        session.add(row)
        event_rows.append(
            {
                "id": essay.external_id,
                "rank": row.rank,
                "score": row.score,
                "se": row.standard_error,
                "comparisons": row.comparisons,
                "wins": row.wins,
                "is_anchor": essay.is_anchor,
                "grade": row.grade,
                "grade_probabilities": row.grade_probabilities,
                "confidence": row.confidence,
                "infit": row.infit,
                "outfit": row.outfit,
                "misfit": row.misfit,
            }
        )
    event_rows.sort(key=lambda row: int(row["rank"]))
    return event_rows


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
    counts: repositories.RowCounts,
    duration: float,
    scale: GradeScale,
    report: BatchReport | None,
) -> dict[str, Any]:
    """The batch-level figures: stored as ``BatchResult.summary`` and sent in the event."""
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
