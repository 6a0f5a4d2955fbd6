"""Builders of database rows for tests: valid by default, overridable where a test cares."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cj_worker.core.settings import AlgorithmSettings
from cj_worker.db.models import Batch, Comparison, Essay
from cj_worker.db.states import BatchState, ComparisonRowStatus, GenerationMode, Slot


def make_batch(
    session: Session,
    n_essays: int,
    *,
    n_anchors: int = 0,
    total_budget: int = 100,
    state: BatchState = BatchState.COLLECTING,
    seed: int = 1,
) -> Batch:
    """A batch of ``n_essays`` essays at positions 0..n-1; the last ``n_anchors`` are anchors."""
    batch = Batch(
        state=state,
        total_budget=total_budget,
        settings=AlgorithmSettings().model_dump(mode="json"),
        judge={"kind": "simulated"},
        seed=seed,
    )
    session.add(batch)
    session.flush()
    first_anchor = n_essays - n_anchors
    session.add_all(
        Essay(
            batch_id=batch.id,
            external_id=f"essay-{position}",
            position=position,
            text=f"Essay number {position}.",
            is_anchor=position >= first_anchor,
            grade="B" if position >= first_anchor else None,
            true_score=float(position),
        )
        for position in range(n_essays)
    )
    session.flush()
    return batch


def add_comparison(
    session: Session,
    batch: Batch,
    essay_a: int,
    essay_b: int,
    *,
    wave: int = 1,
    status: ComparisonRowStatus = ComparisonRowStatus.SUCCEEDED,
    winner: Slot | None = None,
    attempt: int = 1,
    mode: GenerationMode = GenerationMode.COVERAGE,
) -> Comparison:
    """A comparison row; a succeeded one is won by slot A unless ``winner`` says otherwise."""
    if winner is None and status is ComparisonRowStatus.SUCCEEDED:
        winner = Slot.A
    comparison = Comparison(
        batch_id=batch.id,
        wave=wave,
        essay_a=essay_a,
        essay_b=essay_b,
        mode=mode,
        attempt=attempt,
        status=status,
        winner=winner,
    )
    session.add(comparison)
    session.flush()
    return comparison
