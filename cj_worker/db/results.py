"""One essay's result, in the one shape the result event, the read model and the CSV share.

The event (``cj.finalize_scoring``), ``BatchResults.as_dict`` and ``cj-worker export
--csv`` used to spell the per-essay fields three times, and had drifted (the event lacked
``projected_grade``). :class:`EssayResult` is that shape, once: its JSON form (the keys of
the event and of ``export --json``), its CSV row, and what a producer can validate an
event's ``results`` entries with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cj_worker.core.batch_report import BatchReport
from cj_worker.core.grade_scales import GradeScale
from cj_worker.core.grading import NO_GRADE

Z_95 = 1.959964
"""Normal quantile of a two-sided 95 % interval."""

CSV_COLUMNS = (
    "rank",
    "id",
    "score",
    "se",
    "ci95_low",
    "ci95_high",
    "comparisons",
    "wins",
    "is_anchor",
    "grade",
    "confidence",
    "projected_grade",
    "infit",
    "outfit",
    "misfit",
)
"""The CSV export's fixed columns; a ``p_<grade>`` column per grade follows when grades
were projected."""


class EssayResult(BaseModel):
    """Final rank, score, SE, fit and grade of one essay.

    Attributes keep their descriptive names (``essay_id``, ``standard_error``); the JSON
    keys are the short ones producers already read (``id``, ``se``).
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    rank: int
    essay_id: str = Field(alias="id")
    """The producer's essay id."""
    score: float
    standard_error: float = Field(alias="se")
    comparisons: int
    """Successful comparisons only."""
    wins: int
    is_anchor: bool
    grade: str | None
    """An anchor's known grade, else the projected one (None without a projection)."""
    grade_probabilities: dict[str, float] | None
    """Per grade label, lowest grade first; None when grades were not projected."""
    confidence: float | None
    """Probability of ``grade`` (1 for anchors)."""
    projected_grade: str | None
    """What the calibration gives this essay; differs from ``grade`` for an anchor the
    net placed in another grade."""
    infit: float | None
    """Information-weighted mean square; None without comparisons."""
    outfit: float | None
    misfit: bool

    @property
    def interval_95(self) -> tuple[float, float]:
        """score -+ 1.96 SE (the SE as reported; see the README on adaptive pairing)."""
        half = Z_95 * self.standard_error
        return self.score - half, self.score + half

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the result event's ``results`` entries and ``export --json``."""
        return self.model_dump(mode="json", by_alias=True)

    @staticmethod
    def csv_header(grades: Sequence[str] = ()) -> list[str]:
        """The CSV header; pass the scale's grades only when grades were projected."""
        return [*CSV_COLUMNS, *(f"p_{grade}" for grade in grades)]

    def csv_row(self, grades: Sequence[str] = ()) -> list[str | int | bool]:
        """One CSV row under :meth:`csv_header` called with the same ``grades``.

        Floats have six decimals and a missing value is an empty cell, so a spreadsheet
        reads the file as numbers.
        """
        low, high = self.interval_95
        row: list[str | int | bool] = [
            self.rank,
            self.essay_id,
            _fixed(self.score),
            _fixed(self.standard_error),
            _fixed(low),
            _fixed(high),
            self.comparisons,
            self.wins,
            self.is_anchor,
            self.grade or "",
            _fixed(self.confidence),
            self.projected_grade or "",
            _fixed(self.infit),
            _fixed(self.outfit),
            self.misfit,
        ]
        probabilities = self.grade_probabilities or {}
        return row + [_fixed(probabilities.get(grade)) for grade in grades]


def _fixed(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def finite(value: float | np.floating[Any] | None) -> float | None:
    """A float for a JSON or SQL column; NaN (undefined) becomes None (JSONB refuses NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def essay_result(
    position: int,
    essay_id: str,
    report: BatchReport,
    scale: GradeScale,
    *,
    is_anchor: bool,
    given_grade: str | None = None,
) -> EssayResult:
    """One essay's result from the batch report: the one place it is shaped, for a batch's
    finalization and for ``cj-worker score`` alike.

    An anchor whose ``given_grade`` is not on the scale keeps it as given and is not graded.
    """
    fit, projection, stats = report.fit, report.grades, report.essays
    index = int(projection.grades[position])
    off_scale = is_anchor and given_grade is not None and given_grade not in scale.grades
    graded = index != NO_GRADE and not off_scale
    probabilities = (
        {
            grade: float(p)
            for grade, p in zip(scale.grades, projection.probabilities[position], strict=True)
        }
        if graded and projection.probabilities is not None
        else None
    )
    projected = int(projection.projected[position])
    return EssayResult(
        rank=int(report.ranks[position]),
        essay_id=essay_id,
        score=float(fit.scores[position]),
        standard_error=float(fit.standard_errors[position]),
        comparisons=int(report.comparisons[position]),
        wins=int(report.wins[position]),
        is_anchor=is_anchor,
        grade=given_grade if off_scale else (scale.grades[index] if graded else None),
        grade_probabilities=probabilities,
        confidence=finite(projection.confidence[position]) if graded else None,
        projected_grade=None if projected == NO_GRADE else scale.grades[projected],
        infit=finite(stats.infit[position]),
        outfit=finite(stats.outfit[position]),
        misfit=bool(stats.misfit[position]),
    )
