"""Batch results built in memory, for the report and plot tests (no database, no fit).

The figures are plausible rather than fitted: scores evenly spread with noise, SEs that
grow at the extremes, grade bands from evenly spaced boundaries and grade probabilities
from a normal around each score. What the tests need is control: which anchor sits outside
its band, which judge and essay misfit, and ids a browser must not execute.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from cj_worker.db.repositories.reports import BatchResults, BatchStatus
from cj_worker.db.results import EssayResult

SWEDISH = ("F", "E", "D", "D+", "C", "C+", "B", "A")
BATCH_ID = uuid.UUID("7a1c0b52-91d4-4e0e-8a55-3f2b6f0c9d11")


def batch_results(
    n: int = 24,
    *,
    ids: Sequence[str] | None = None,
    grades: Sequence[str] | None = SWEDISH,
    anchor_ranks: dict[int, str] | None = None,
    misfit_ranks: Sequence[int] = (),
    outfit: dict[int, float] | None = None,
    judges: Sequence[dict[str, Any]] | None = None,
    stop_reason: str | None = "budget_exhausted",
    comparisons_per_essay: float = 12.0,
    reliability: float | None = 0.85,
    split_half: float | None = 0.88,
    ssr: float | None = 0.93,
    slot_effect: float | None = None,
    slot_effect_se: float | None = None,
    seed: int = 0,
) -> BatchResults:
    """``n`` essays in rank order; ``anchor_ranks`` maps a rank to its known grade.

    With ``grades`` None the batch has no calibration (no bands, no grades). The default
    anchors give most grades one anchor in its own band, leave D+ and B without one
    (interpolated), and put one C anchor in a lower band.
    """
    rng = np.random.default_rng(seed)
    ids = list(ids) if ids is not None else [f"essay-{k:03d}" for k in range(1, n + 1)]
    n = len(ids)
    scores = np.sort(np.linspace(-3.0, 3.0, n) + rng.normal(0.0, 0.15, n))[::-1]
    scores -= scores.mean()
    ses = 0.45 + 0.08 * np.abs(scores) + rng.uniform(0.0, 0.1, n)
    scale = list(grades or SWEDISH)
    boundaries = list(np.linspace(-2.4, 2.4, len(scale) - 1)) if grades is not None else []
    anchors = anchor_ranks if anchor_ranks is not None else _default_anchors(scores, boundaries)
    anchors = anchors if grades is not None else {}
    outfit = outfit or {}
    essays = []
    for index in range(n):
        rank = index + 1
        score, se = float(scores[index]), float(ses[index])
        known = anchors.get(rank)
        probabilities = _probabilities(score, se, boundaries, scale) if boundaries else None
        projected = max(probabilities, key=lambda g: probabilities[g]) if probabilities else None
        grade = known or projected
        if known is not None:
            confidence: float | None = 1.0
            shown = {g: float(g == known) for g in scale}
        else:
            confidence = probabilities[projected] if probabilities and projected else None
            shown = probabilities or {}
        comparisons = round(comparisons_per_essay)
        essays.append(
            EssayResult(
                rank=rank,
                essay_id=ids[index],
                score=score,
                standard_error=se,
                comparisons=comparisons,
                wins=round(comparisons * (1.0 - index / max(n - 1, 1))),
                is_anchor=known is not None,
                grade=grade,
                confidence=confidence,
                grade_probabilities=shown if boundaries else None,
                projected_grade=projected,
                infit=1.6 if rank in misfit_ranks else 0.9 + 0.02 * (index % 5),
                outfit=outfit.get(rank, 0.95),
                misfit=rank in misfit_ranks,
            )
        )
    succeeded = round(comparisons_per_essay * n / 2)
    created = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    status = BatchStatus(
        batch_id=BATCH_ID,
        state="completed" if stop_reason not in ("low_success_rate", "stalled") else "failed",
        final_reason=stop_reason,
        essays=n,
        total_budget=succeeded + 2 if stop_reason == "budget_exhausted" else 3 * succeeded,
        current_wave=7,
        submitted=succeeded + 2,
        succeeded=succeeded,
        failed=2,
        pending=0,
        processing_metadata={},
        created_at=created,
        completed_at=created + timedelta(minutes=4),
    )
    calibration = {"boundaries": boundaries} if boundaries else None
    status_word = "projected" if boundaries else "no_anchors"
    return BatchResults(
        status=status,
        stop_reason=stop_reason,
        ssr=ssr,
        split_half=split_half,
        separation=2.4 if ssr is not None else None,
        duration_seconds=240.0,
        grade_scale={"name": "test", "grades": scale, "priors": None},
        grading={
            "status": status_word,
            "explanation": (
                "grades projected from the anchors"
                if boundaries
                else "no anchors: grades cannot be projected"
            ),
            "calibration": calibration,
        },
        judges=list(judges) if judges is not None else _default_judges(succeeded),
        essays=essays,
        reliability=reliability,
        prior_sd=None if reliability is None else 1.5,
        shows_signal=None if reliability is None else reliability > 0.0,
        slot_effect=slot_effect,
        slot_effect_se=slot_effect_se,
    )


def _default_anchors(scores: np.ndarray[Any, Any], boundaries: list[float]) -> dict[int, str]:
    """One anchor per grade band the scores reach, in its own band, except: D+ and B get
    none, and the C anchor is the best essay of the D band (so it sits below its band)."""
    if not boundaries:
        return {}
    bands = np.searchsorted(boundaries, scores, side="right")
    anchors = {}
    for band, grade in enumerate(SWEDISH):
        members = np.flatnonzero(bands == band)
        if grade in ("D+", "B", "C") or members.size == 0:
            continue
        anchors[int(members[members.size // 2]) + 1] = grade
    in_d = np.flatnonzero(bands == SWEDISH.index("D"))
    if in_d.size > 1:
        anchors[int(in_d[0]) + 1] = "C"
    return anchors


def _probabilities(
    score: float, se: float, boundaries: list[float], grades: list[str]
) -> dict[str, float]:
    edges = [-math.inf, *boundaries, math.inf]
    cdf = [0.5 * (1.0 + math.erf((edge - score) / (se * math.sqrt(2.0)))) for edge in edges]
    return {grade: cdf[k + 1] - cdf[k] for k, grade in enumerate(grades)}


def _default_judges(succeeded: int) -> list[dict[str, Any]]:
    share = succeeded // 4
    return [
        {
            "judge_id": "judge-ann",
            "comparisons": share,
            "infit": 0.97,
            "outfit": 1.0,
            "infit_z": -0.2,
            "misfit": False,
            "slot_a_share": 0.5,
        },
        {
            "judge_id": "judge-bo",
            "comparisons": share,
            "infit": 1.05,
            "outfit": 1.1,
            "infit_z": 0.4,
            "misfit": False,
            "slot_a_share": 0.52,
        },
        {
            "judge_id": "judge-coin",
            "comparisons": share,
            "infit": 1.62,
            "outfit": 1.9,
            "infit_z": 2.7,
            "misfit": True,
            "slot_a_share": 0.49,
        },
        {
            "judge_id": "judge-new",
            "comparisons": 6,
            "infit": 1.1,
            "outfit": 1.0,
            "infit_z": 0.3,
            "misfit": False,
            "slot_a_share": 0.5,
        },
    ]
