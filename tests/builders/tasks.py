"""Builders and readers for the task tests: batches in a known state, rows read back.

Every builder opens and commits its own transaction, as a task would see the database;
the readers return detached rows (sessions do not expire on commit), so a test can look
at what a task left behind without holding the SQLite write lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.core.settings import AlgorithmSettings
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import (
    Base,
    Batch,
    BatchResultRow,
    Comparison,
    DecisionRow,
    Essay,
    EssayResultRow,
    EssayScore,
    OutboxEvent,
)
from cj_worker.db.states import BatchState, ComparisonRowStatus, GenerationMode, Slot
from tests.builders.db import add_comparison, make_batch

SUCCEEDED = ComparisonRowStatus.SUCCEEDED
FAILED = ComparisonRowStatus.FAILED
PENDING = ComparisonRowStatus.PENDING
TIMED_OUT = ComparisonRowStatus.TIMED_OUT


# --------------------------------------------------------------------------- payloads


def essay_payloads(n: int, spacing: float = 1.0) -> list[dict[str, Any]]:
    """``n`` essays with evenly spaced true scores (centred), as producers send them."""
    return [
        {"id": f"e{i:02d}", "text": f"essay {i}", "true_score": spacing * (i - (n - 1) / 2)}
        for i in range(n)
    ]


def batch_request(n: int = 6, **fields: Any) -> dict[str, Any]:
    """A valid ``BatchRequest`` JSON payload; ``fields`` replace or add top-level keys."""
    request: dict[str, Any] = {
        "batch_id": str(uuid.uuid4()),
        "essays": essay_payloads(n),
        "budget": 40,
        "judge": {"kind": "simulated", "discrimination": 2.0, "seed": 3},
    }
    request.update(fields)
    return request


# ---------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Row:
    """A comparison to seed: essays at slots A and B, its status and (default) wave."""

    a: int
    b: int
    status: ComparisonRowStatus = SUCCEEDED
    wave: int | None = None
    winner: Slot | None = None
    mode: GenerationMode = GenerationMode.COVERAGE


@dataclass(frozen=True)
class SeededBatch:
    id: uuid.UUID
    comparison_ids: list[uuid.UUID]


def seed_batch(
    url: str,
    n_essays: int,
    rows: Sequence[Row] = (),
    *,
    wave: int = 1,
    state: BatchState = BatchState.COLLECTING,
    budget: int = 100,
    settings: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    resampling_pass_count: int = 0,
    result_task: str | None = None,
    final_reason: str | None = None,
    decided_waves: Sequence[int] | None = None,
    quiet_for: timedelta = timedelta(0),
) -> SeededBatch:
    """A batch at ``wave`` whose counters agree with ``rows`` (rows default to that wave).

    ``decided_waves`` (default: every wave before ``wave``) get a decision row, as the
    continuation would have left them, and a ``scoring`` batch the finalizing decision
    after ``wave`` that ``final_reason`` implies; ``quiet_for`` backdates the last activity.
    """
    with session_scope(url) as session:
        batch = make_batch(session, n_essays, total_budget=budget, state=state)
        batch.settings = AlgorithmSettings().override(settings or {}).model_dump(mode="json")
        batch.current_wave = wave
        batch.processing_metadata = dict(metadata or {})
        batch.resampling_pass_count = resampling_pass_count
        batch.result_task = result_task
        batch.final_reason = final_reason
        batch.last_activity_at = utc_now() - quiet_for
        comparisons = [
            add_comparison(
                session,
                batch,
                row.a,
                row.b,
                wave=wave if row.wave is None else row.wave,
                status=row.status,
                winner=row.winner,
                mode=row.mode,
            )
            for row in rows
        ]
        batch.comparisons_submitted = len(rows)
        batch.comparisons_succeeded = sum(row.status is SUCCEEDED for row in rows)
        batch.comparisons_failed = sum(row.status in (FAILED, TIMED_OUT) for row in rows)
        for decided in range(wave) if decided_waves is None else decided_waves:
            if state is BatchState.SCORING and decided == wave:
                continue  # written below, as the continuation would have
            session.add(
                DecisionRow(
                    batch_id=batch.id,
                    wave=decided,
                    action="request_coverage_wave",
                    reason="coverage_incomplete",
                )
            )
        if state is BatchState.SCORING:
            # A batch is scoring because the decision after its wave said to finalize.
            failing = final_reason in ("low_success_rate", "judge_failed_wave", "stalled")
            session.add(
                DecisionRow(
                    batch_id=batch.id,
                    wave=wave,
                    action="finalize_failure" if failing else "finalize_scoring",
                    reason=final_reason or "stable",
                )
            )
        return SeededBatch(batch.id, [comparison.id for comparison in comparisons])


def all_pairs(n: int, wave: int | None = None) -> list[Row]:
    """Every unordered pair once, succeeded, the lower position winning from slot A."""
    return [Row(a, b, wave=wave) for a in range(n) for b in range(a + 1, n)]


def update_batch(url: str, batch_id: uuid.UUID, **values: Any) -> None:
    with session_scope(url) as session:
        session.execute(sa.update(Batch).where(Batch.id == batch_id).values(**values))


def backdate_comparisons(url: str, batch_id: uuid.UUID, age: timedelta) -> None:
    """Make every comparison of the batch look ``age`` old."""
    with session_scope(url) as session:
        session.execute(
            sa.update(Comparison)
            .where(Comparison.batch_id == batch_id)
            .values(created_at=utc_now() - age)
        )


def sent_ago(url: str, batch_id: uuid.UUID, age: timedelta, sends: int = 1) -> None:
    """Make the batch's pending comparisons look sent ``sends`` times, last ``age`` ago."""
    with session_scope(url) as session:
        session.execute(
            sa.update(Comparison)
            .where(Comparison.batch_id == batch_id, Comparison.status == PENDING)
            .values(sends=sends, sent_at=utc_now() - age, created_at=utc_now() - age)
        )


class CommitRefusedError(RuntimeError):
    """Raised by :func:`refused_commits` in place of a commit."""


@contextmanager
def refused_commits() -> Iterator[None]:
    """Every commit in the block fails after its rows reached the database.

    The transaction has written everything (the flush runs first) when the commit is
    refused, so whatever survives was written by another transaction.
    """

    def refuse(session: Session) -> None:
        session.flush()
        raise CommitRefusedError("commit refused by the test")

    sa.event.listen(Session, "before_commit", refuse)
    try:
        yield
    finally:
        sa.event.remove(Session, "before_commit", refuse)


# ---------------------------------------------------------------------------- readers


def read_batch(url: str, batch_id: uuid.UUID) -> Batch:
    with session_scope(url) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None, f"no batch {batch_id}"
        return batch


def count(url: str, model: type[Base], batch_id: uuid.UUID | None = None) -> int:
    """Rows of ``model``, of one batch if ``batch_id`` is given."""
    statement = sa.select(sa.func.count()).select_from(model)
    if batch_id is not None:
        statement = statement.where(sa.inspect(model).columns["batch_id"] == batch_id)
    with session_scope(url) as session:
        return int(session.scalar(statement) or 0)


def row_counts(url: str) -> dict[str, int]:
    """Rows of every table: a snapshot to compare before and after a no-op."""
    models: list[type[Base]] = [
        Batch,
        Essay,
        EssayScore,
        Comparison,
        DecisionRow,
        EssayResultRow,
        BatchResultRow,
        OutboxEvent,
    ]
    return {model.__tablename__: count(url, model) for model in models}


def decisions(url: str, batch_id: uuid.UUID) -> list[DecisionRow]:
    with session_scope(url) as session:
        return list(
            session.scalars(
                sa.select(DecisionRow)
                .where(DecisionRow.batch_id == batch_id)
                .order_by(DecisionRow.wave)
            )
        )


def comparisons(url: str, batch_id: uuid.UUID, wave: int | None = None) -> list[Comparison]:
    statement = sa.select(Comparison).where(Comparison.batch_id == batch_id)
    if wave is not None:
        statement = statement.where(Comparison.wave == wave)
    with session_scope(url) as session:
        return list(session.scalars(statement.order_by(Comparison.wave, Comparison.essay_a)))


def essay_results(url: str, batch_id: uuid.UUID) -> list[tuple[EssayResultRow, Essay]]:
    with session_scope(url) as session:
        rows = session.execute(
            sa.select(EssayResultRow, Essay)
            .join(Essay, Essay.id == EssayResultRow.essay_id)
            .where(EssayResultRow.batch_id == batch_id)
            .order_by(EssayResultRow.rank)
        )
        return [(result, essay) for result, essay in rows]


def outbox(url: str, batch_id: uuid.UUID) -> list[OutboxEvent]:
    with session_scope(url) as session:
        return list(session.scalars(sa.select(OutboxEvent).where(OutboxEvent.batch_id == batch_id)))


def batch_results(url: str, batch_id: uuid.UUID) -> list[BatchResultRow]:
    with session_scope(url) as session:
        return list(
            session.scalars(sa.select(BatchResultRow).where(BatchResultRow.batch_id == batch_id))
        )
