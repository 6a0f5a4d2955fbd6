"""A finished batch's results: the core's report shaped into what is stored and sent.

Finalization calls :func:`final_results` under the batch lock and stores and sends what
it returns; this module decides the shape (per essay an
:class:`~cj_worker.db.results.EssayResult`, the batch-level summary, the judges), the
finalization decides when. Counts are the actual rows, never n-choose-2 estimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from cj_worker import metrics
from cj_worker.core.batch_report import BatchReport, Reliability, report_batch
from cj_worker.core.bt import BTFit, fit_bradley_terry
from cj_worker.core.decision import Reason
from cj_worker.core.grade_scales import GradeScale
from cj_worker.core.grading import NO_GRADE, ProjectionStatus
from cj_worker.core.judge_screen import fit_setting_aside_noise
from cj_worker.core.judgements import Judgements
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.db import repositories
from cj_worker.db.models import Batch
from cj_worker.db.repositories import EssayRef, RowCounts, ScoredEssay
from cj_worker.db.repositories.usage import batch_usage
from cj_worker.db.results import essay_result, finite
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
    # Failed batches too: what a batch spent before it failed is what its producer pays.
    usage = batch_usage(session, batch.id)
    summary["usage"] = None if usage is None else usage.as_dict()
    return FinalResults(state, reason, counts, duration, report, scored, summary)


def _score(
    session: Session, batch: Batch, essays: list[EssayRef], scale: GradeScale
) -> tuple[BatchReport, list[str | None]]:
    """Fit every succeeded comparison and build the report; also the judge id per index."""
    settings = AlgorithmSettings.model_validate(batch.settings)
    judgements, judge_ids = repositories.load_judgements(session, batch.id, len(essays))

    def fit(decisions: Judgements) -> BTFit:
        # The slot each winner was shown in models the order effect (delta), so judges'
        # preference for the first essay does not bias the scores and is reported.
        return fit_bradley_terry(
            len(essays),
            *decisions.outcomes(),
            settings.bt_prior_precision,
            prior_mode=settings.bt_prior_mode,
            winner_in_slot_a=decisions.a_won,
        )

    with metrics.bt_fit_timer():
        # Judges whose decisions are noise are set aside (core.judge_screen) and reported.
        screened = fit_setting_aside_noise(judgements, fit)
    report = report_batch(
        screened.fit,
        judgements,
        _anchor_grades(essays, scale),
        scale,
        np.random.default_rng([batch.seed, SPLIT_HALF_STREAM]),
        screened=screened,
    )
    return report, judge_ids


def _anchor_grades(essays: list[EssayRef], scale: GradeScale) -> np.ndarray[Any, np.dtype[np.intp]]:
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


def _scored(essay: EssayRef, report: BatchReport, scale: GradeScale) -> ScoredEssay:
    """One essay's result as stored and sent."""
    i, stats = essay.position, report.essays
    result = essay_result(
        i, essay.external_id, report, scale, is_anchor=essay.is_anchor, given_grade=essay.grade
    )
    return ScoredEssay(essay, result, finite(stats.infit_z[i]), finite(stats.outfit_z[i]))


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
        "reliability": None if reliability is None else reliability.reliability,
        "prior_sd": None if reliability is None else reliability.prior_sd,
        "shows_signal": None if reliability is None else reliability.shows_signal,
        "ssr": None if reliability is None else reliability.ssr,
        "split_half": None if reliability is None else reliability.split_half,
        "separation": None if reliability is None else reliability.separation,
        "slot_a_share": None if reliability is None else reliability.slot_a_share,
        "slot_effect": None if reliability is None else reliability.slot_effect,
        "slot_effect_se": None if reliability is None else reliability.slot_effect_se,
        "misfitting_essays": 0 if report is None else int(report.essays.misfit.sum()),
        "grading": grading,
    }


def _judges(report: BatchReport, judge_ids: list[str | None]) -> list[dict[str, Any]]:
    stats = report.judges
    return [
        {
            "judge_id": judge_id,
            "comparisons": int(stats.comparisons[j]),
            "infit": finite(stats.infit[j]),
            "outfit": finite(stats.outfit[j]),
            "infit_z": finite(stats.infit_z[j]),
            "misfit": bool(stats.misfit[j]),
            "slot_a_share": finite(report.judge_slot_a_share[j]),
            "reversed_pairs": int(report.judge_reversal_pairs[j]),
            "reversal_consistency": finite(report.judge_reversal_consistency[j]),
            "set_aside": bool(np.isin(j, report.judges_set_aside)),
        }
        for j, judge_id in enumerate(judge_ids)
    ]
