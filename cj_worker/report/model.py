"""The report's view of a batch's results, and the one adapter that builds it.

The page, its wording and the plot read only these dataclasses. :func:`report_data` is the
single place that knows the shape the repositories return (today
:class:`~cj_worker.db.repositories.reports.BatchResults`), so when that shape changes only
this function follows it.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from cj_worker.db.repositories.reports import Z_95, BatchResults


@dataclass(frozen=True)
class ReportEssay:
    rank: int
    """1 = best."""
    essay_id: str
    """The producer's id: user input, escaped wherever it is shown."""
    score: float
    """Mean-centred logits: higher is better."""
    standard_error: float
    comparisons: int
    wins: int
    is_anchor: bool
    grade: str | None
    """An anchor's known grade, else the projected one; None without grades."""
    confidence: float | None
    """Probability of ``grade`` (1 for an anchor)."""
    projected_grade: str | None
    """The calibration's most probable grade, anchors included."""
    infit: float | None
    outfit: float | None
    misfit: bool

    @property
    def interval_95(self) -> tuple[float, float]:
        half = Z_95 * self.standard_error
        return self.score - half, self.score + half


@dataclass(frozen=True)
class ReportJudge:
    judge_id: str | None
    """None for comparisons recorded without a judge id."""
    comparisons: int
    infit: float | None
    outfit: float | None
    misfit: bool


@dataclass(frozen=True)
class ReportData:
    """Everything the page and the plot show, essays in rank order (best first)."""

    batch_id: str
    state: str
    stop_reason: str | None
    created_at: datetime
    completed_at: datetime | None
    total_budget: int
    comparisons_made: int
    """Every comparison sent, failed ones included: what the budget counts."""
    comparisons_succeeded: int
    comparisons_failed: int
    waves: int
    reliability: float | None
    """The headline: the hierarchical fit's estimate of the squared correlation of the
    scores with the true order; None below the minimum number of essays."""
    shows_signal: bool | None
    """False when the decisions cannot be told from coin flips (reliability is then 0)."""
    prior_sd: float | None
    """tau: the estimated SD of true quality, in logits."""
    split_half: float | None
    """Secondary, as other CJ tools report it: inflated by adaptive pairing."""
    ssr: float | None
    """Secondary, as other CJ tools report it: inflated by adaptive pairing."""
    separation: float | None
    slot_effect: float | None
    """delta: the logit advantage judges gave the essay shown first (slot A)."""
    slot_effect_se: float | None
    grades: tuple[str, ...]
    """The batch's scale, lowest grade first."""
    grading_status: str | None
    grading_explanation: str | None
    boundaries: tuple[float, ...]
    """``boundaries[k]`` separates ``grades[k]`` from ``grades[k + 1]``; empty without a
    calibration."""
    essays: tuple[ReportEssay, ...]
    judges: tuple[ReportJudge, ...]

    @property
    def graded(self) -> bool:
        """Whether the batch has a calibration, so its essays have grades and bands."""
        return bool(self.boundaries)

    @property
    def comparisons_per_essay(self) -> float:
        """Succeeded comparisons each essay took part in, on average (each has two)."""
        return 2.0 * self.comparisons_succeeded / len(self.essays) if self.essays else 0.0

    @property
    def anchor_counts(self) -> dict[str, int]:
        """Anchors per grade of the scale (0 for a grade whose band is interpolated)."""
        counts = Counter(e.grade for e in self.essays if e.is_anchor and e.grade is not None)
        return {grade: counts.get(grade, 0) for grade in self.grades}

    def band_of(self, score: float) -> str | None:
        """The grade whose band holds ``score``; None without a calibration.

        A score on a boundary belongs to the band above it, as in the plot.
        """
        if not self.graded:
            return None
        return self.grades[bisect.bisect_right(self.boundaries, score)]


def report_data(results: BatchResults) -> ReportData:
    """The adapter: the repositories' results as the report's model."""
    status = results.status
    return ReportData(
        batch_id=str(status.batch_id),
        state=status.state,
        stop_reason=results.stop_reason or status.final_reason,
        created_at=status.created_at,
        completed_at=status.completed_at,
        total_budget=status.total_budget,
        comparisons_made=status.submitted,
        comparisons_succeeded=status.succeeded,
        comparisons_failed=status.failed,
        waves=status.current_wave,
        reliability=results.reliability,
        shows_signal=results.shows_signal,
        prior_sd=results.prior_sd,
        split_half=results.split_half,
        ssr=results.ssr,
        separation=results.separation,
        slot_effect=results.slot_effect,
        slot_effect_se=results.slot_effect_se,
        grades=tuple(str(grade) for grade in results.grade_scale["grades"]),
        grading_status=(results.grading or {}).get("status"),
        grading_explanation=(results.grading or {}).get("explanation"),
        boundaries=tuple(results.boundaries),
        essays=tuple(
            ReportEssay(
                rank=essay.rank,
                essay_id=essay.essay_id,
                score=essay.score,
                standard_error=essay.standard_error,
                comparisons=essay.comparisons,
                wins=essay.wins,
                is_anchor=essay.is_anchor,
                grade=essay.grade,
                confidence=essay.confidence,
                projected_grade=essay.projected_grade,
                infit=essay.infit,
                outfit=essay.outfit,
                misfit=essay.misfit,
            )
            for essay in sorted(results.essays, key=lambda essay: essay.rank)
        ),
        judges=tuple(
            ReportJudge(
                judge_id=None if judge.get("judge_id") is None else str(judge["judge_id"]),
                comparisons=int(judge.get("comparisons", 0)),
                infit=judge.get("infit"),
                outfit=judge.get("outfit"),
                misfit=bool(judge.get("misfit", False)),
            )
            for judge in results.judges
        ),
    )
