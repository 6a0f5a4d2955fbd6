"""Grade scales: the ordered grades anchors are labelled with and essays are projected onto.

A scale is a list of grade labels from lowest to highest, optionally with prior shares
(how common each grade is expected to be). Three scales are built in, those of the
earlier service (ORIGINAL.md section 6.3); a producer may define its own in the batch
request. The resolved scale is stored with the batch, so a batch is always read with the
scale it was graded on even if a built-in one changes later.

The earlier service's "below-lowest" grades (``F`` under the legacy English scale, ``0``
under the national one) are ordinary lowest grades here: without anchors of their own they
are reached by extrapolating one grade step below the lowest anchored grade, as any grade
without anchors is (see :mod:`cj_worker.core.grading`), instead of by a separate
mean-minus-two-SD rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cj_worker.core.errors import EXIT_USER_ERROR, CJWorkerError

MAX_GRADE_LABEL_LENGTH = 32
"""Matches the width of the grade columns."""
MAX_GRADES = 64


class GradeScaleError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """A scale definition is unusable (too few grades, duplicates, bad priors, unknown name)."""


@dataclass(frozen=True)
class GradeScale:
    """Ordered grades (lowest first) and, optionally, their prior shares (normalised to 1).

    ``priors`` of None means no prior knowledge: projection then weighs grades only by how
    the batch's own scores are spread. The earlier service's "uniform 1/G" priors were that
    placeholder, so the built-in scales that had them carry None.
    """

    name: str
    grades: tuple[str, ...]
    priors: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise GradeScaleError("a grade scale needs a name")
        if not 2 <= len(self.grades) <= MAX_GRADES:
            raise GradeScaleError(
                f"a grade scale needs 2 to {MAX_GRADES} grades, got {len(self.grades)}"
            )
        for grade in self.grades:
            if not grade or grade != grade.strip() or len(grade) > MAX_GRADE_LABEL_LENGTH:
                raise GradeScaleError(
                    f"grade labels must be 1-{MAX_GRADE_LABEL_LENGTH} characters without "
                    f"surrounding spaces, got {grade!r}"
                )
        if len(set(self.grades)) != len(self.grades):
            raise GradeScaleError(f"grade labels must be unique, got {list(self.grades)}")
        if self.priors is not None:
            priors = np.asarray(self.priors, dtype=np.float64)
            if priors.shape != (len(self.grades),):
                raise GradeScaleError(
                    f"priors must have one value per grade ({len(self.grades)}), "
                    f"got {len(self.priors)}"
                )
            if not np.all(np.isfinite(priors)) or np.any(priors <= 0.0):
                raise GradeScaleError("priors must be positive numbers")
            object.__setattr__(self, "priors", tuple(float(p) for p in priors / priors.sum()))

    def index(self, grade: str) -> int:
        """Position of ``grade`` in the scale (0 = lowest)."""
        try:
            return self.grades.index(grade)
        except ValueError:
            raise GradeScaleError(
                f"grade {grade!r} is not in scale {self.name!r} ({', '.join(self.grades)})"
            ) from None

    def as_json(self) -> dict[str, Any]:
        """The stored form (a batch's ``grade_scale`` column)."""
        return {
            "name": self.name,
            "grades": list(self.grades),
            "priors": None if self.priors is None else list(self.priors),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> GradeScale:
        priors = value.get("priors")
        return cls(
            name=str(value["name"]),
            grades=tuple(str(g) for g in value["grades"]),
            priors=None if priors is None else tuple(float(p) for p in priors),
        )


def _scale(name: str, grades: Sequence[str], priors: Sequence[float] | None) -> GradeScale:
    return GradeScale(name, tuple(grades), None if priors is None else tuple(priors))


BUILT_IN_SCALES: dict[str, GradeScale] = {
    scale.name: scale
    for scale in (
        _scale(
            "swedish_8_anchor",
            ("F", "E", "D", "D+", "C", "C+", "B", "A"),
            (0.02, 0.08, 0.15, 0.20, 0.25, 0.15, 0.10, 0.05),
        ),
        _scale(
            "eng5_np_legacy_9_step",
            ("F", "F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A"),
            None,
        ),
        _scale(
            "eng5_np_national_9_step",
            ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
            None,
        ),
    )
}
"""The earlier service's scales; see the module docstring for their below-lowest grades."""

DEFAULT_GRADE_SCALE = "swedish_8_anchor"
"""The scale of a batch whose request names none (the earlier service's default)."""


def built_in_scale(name: str) -> GradeScale:
    """The built-in scale called ``name``; unknown names raise, never fall back silently."""
    try:
        return BUILT_IN_SCALES[name]
    except KeyError:
        raise GradeScaleError(
            f"unknown grade scale {name!r}; built-in scales: {', '.join(BUILT_IN_SCALES)}"
        ) from None
