"""The comparison rows of a batch: coverage, history, counts, and their judge requests'
sends, re-sends and timeouts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from cj_worker.core.coverage import max_possible_pairs
from cj_worker.core.history import ComparisonHistory, ComparisonStatus
from cj_worker.core.judgements import Judgements
from cj_worker.db.column_types import UTCDateTime, utc_now
from cj_worker.db.models import Batch, Comparison, Essay
from cj_worker.db.states import ComparisonRowStatus, GenerationMode, Slot

_CORE_STATUS = {
    ComparisonRowStatus.PENDING: ComparisonStatus.PENDING,
    ComparisonRowStatus.SUCCEEDED: ComparisonStatus.SUCCEEDED,
    ComparisonRowStatus.FAILED: ComparisonStatus.FAILED,
    ComparisonRowStatus.TIMED_OUT: ComparisonStatus.TIMED_OUT,
}


def get_coverage_metrics_for_batch(session: Session, batch_id: uuid.UUID) -> tuple[int, int]:
    """``(max_possible_pairs, successful_pairs_count)`` of the batch (SPEC section 5).

    Counted in SQL so that continuation does not load every row to refresh the metrics.
    ``CASE`` rather than ``LEAST``/``GREATEST``, which SQLite lacks, orders each pair.
    """
    a_first = Comparison.essay_a < Comparison.essay_b
    covered_pairs = (
        sa.select(
            sa.case((a_first, Comparison.essay_a), else_=Comparison.essay_b).label("low"),
            sa.case((a_first, Comparison.essay_b), else_=Comparison.essay_a).label("high"),
        )
        .where(
            Comparison.batch_id == batch_id,
            Comparison.status == ComparisonRowStatus.SUCCEEDED,
        )
        .distinct()
        .subquery()
    )
    essay_count = (
        sa.select(sa.func.count()).select_from(Essay).where(Essay.batch_id == batch_id)
    ).scalar_subquery()
    pair_count = sa.select(sa.func.count()).select_from(covered_pairs).scalar_subquery()
    essays, pairs = session.execute(sa.select(essay_count, pair_count)).one()
    return max_possible_pairs(int(essays)), int(pairs)


def load_history(session: Session, batch_id: uuid.UUID, n_essays: int) -> ComparisonHistory:
    """Every comparison of the batch as the core's history.

    Rows come in (wave, slot A, slot B) order, unique per batch, so that the same rows give
    the same history and a seeded decision is reproducible.
    """
    statement = (
        sa.select(Comparison.essay_a, Comparison.essay_b, Comparison.status, Comparison.winner)
        .where(Comparison.batch_id == batch_id)
        .order_by(Comparison.wave, Comparison.essay_a, Comparison.essay_b)
    )
    return ComparisonHistory.from_rows(
        n_essays,
        (
            (essay_a, essay_b, _CORE_STATUS[status], winner is Slot.A)
            for essay_a, essay_b, status, winner in session.execute(statement)
        ),
    )


def load_judgements(
    session: Session, batch_id: uuid.UUID, n_essays: int
) -> tuple[Judgements, list[str | None]]:
    """The succeeded comparisons as the core's judgements, and the judge id of each index.

    Rows come in the same unique (wave, slot A, slot B) order as :func:`load_history`, so
    the same rows give the same report; judges are indexed in sorted id order, with the
    comparisons that carry no judge id last, as one more judge.
    """
    statement = (
        sa.select(Comparison.essay_a, Comparison.essay_b, Comparison.winner, Comparison.judge_id)
        .where(
            Comparison.batch_id == batch_id,
            Comparison.status == ComparisonRowStatus.SUCCEEDED,
        )
        .order_by(Comparison.wave, Comparison.essay_a, Comparison.essay_b)
    )
    rows = session.execute(statement).all()
    labels = sorted({row.judge_id for row in rows}, key=lambda label: (label is None, label or ""))
    index = {label: position for position, label in enumerate(labels)}
    judgements = Judgements(
        n_essays=n_essays,
        slot_a=np.fromiter((row.essay_a for row in rows), dtype=np.intp, count=len(rows)),
        slot_b=np.fromiter((row.essay_b for row in rows), dtype=np.intp, count=len(rows)),
        a_won=np.fromiter((row.winner is Slot.A for row in rows), dtype=np.bool_, count=len(rows)),
        judge=np.fromiter((index[row.judge_id] for row in rows), dtype=np.intp, count=len(rows)),
        n_judges=len(labels),
    )
    return judgements, labels


@dataclass(frozen=True)
class RowCounts:
    """Comparison rows by outcome; ``failed`` includes timed-out rows."""

    submitted: int
    succeeded: int
    failed: int
    pending: int

    @classmethod
    def of_batch(cls, batch: Batch) -> RowCounts:
        """The counts the batch's counter columns cache: one row read, no grouping.

        ``repositories.batches.count_comparisons`` keeps them equal to the rows; the
        decision and finalization still count the rows (:func:`counters_from_rows`),
        once per wave, so a drift would show as a disagreement, never as a wrong result.
        """
        submitted = batch.comparisons_submitted
        succeeded, failed = batch.comparisons_succeeded, batch.comparisons_failed
        return cls(submitted, succeeded, failed, pending=submitted - succeeded - failed)


def counters_from_rows(session: Session, batch_id: uuid.UUID, wave: int | None = None) -> RowCounts:
    """Counts of the batch's comparison rows, optionally of one wave only.

    The batch's counter columns must agree with these; finalization and the invariant
    checks use them as the truth.
    """
    statement = (
        sa.select(Comparison.status, sa.func.count())
        .where(Comparison.batch_id == batch_id)
        .group_by(Comparison.status)
    )
    if wave is not None:
        statement = statement.where(Comparison.wave == wave)
    by_status = {status: int(count) for status, count in session.execute(statement)}
    return RowCounts(
        submitted=sum(by_status.values()),
        succeeded=by_status.get(ComparisonRowStatus.SUCCEEDED, 0),
        failed=by_status.get(ComparisonRowStatus.FAILED, 0)
        + by_status.get(ComparisonRowStatus.TIMED_OUT, 0),
        pending=by_status.get(ComparisonRowStatus.PENDING, 0),
    )


def reload_comparison(session: Session, comparison_id: uuid.UUID) -> Comparison | None:
    """The comparison as it is now; call it after taking the batch lock.

    Re-read even if the session holds the row, since it may have been loaded before the
    lock and changed by the transaction that held it.
    """
    return session.get(Comparison, comparison_id, populate_existing=True)


def _pending() -> sa.ColumnElement[bool]:
    """``status = 'pending'`` inline, as the predicate of ``ix_comparisons_pending`` says it
    (``models.PENDING_COMPARISON_SQL``): a partial index serves only a query that states its
    predicate literally, which a bound parameter does not (SQLite; PostgreSQL generic plans).
    """
    return Comparison.status == sa.literal_column(f"'{ComparisonRowStatus.PENDING}'")


def wave_has_pending(session: Session, batch_id: uuid.UUID, wave: int) -> bool:
    """Whether a comparison of ``wave`` still waits for its judge."""
    pending = sa.exists().where(
        Comparison.batch_id == batch_id, Comparison.wave == wave, _pending()
    )
    return bool(session.scalar(sa.select(pending)))


def requests_due(
    session: Session,
    batch_id: uuid.UUID,
    *,
    unsent_before: datetime,
    overdue_before: datetime | None,
    max_sends: int,
) -> list[Comparison]:
    """Pending comparisons of the batch whose judge request must be sent (again).

    Those never sent although inserted before ``unsent_before`` (the dispatch after their
    commit was lost), and, unless ``overdue_before`` is None, those sent at most
    ``max_sends`` times and last before ``overdue_before`` (the judge's deadline passed).
    In (wave, slot A, slot B) order, so a repair sends them in a reproducible order.
    """
    never_sent = sa.and_(Comparison.sends == 0, Comparison.created_at <= unsent_before)
    due = never_sent
    if overdue_before is not None:
        overdue = sa.and_(
            Comparison.sends.between(1, max_sends), Comparison.sent_at <= overdue_before
        )
        due = sa.or_(never_sent, overdue)
    statement = (
        sa.select(Comparison)
        .where(Comparison.batch_id == batch_id, _pending(), due)
        .order_by(Comparison.wave, Comparison.essay_a, Comparison.essay_b)
    )
    return list(session.scalars(statement))


def mark_sent(session: Session, sent: Iterable[tuple[uuid.UUID, int]], now: datetime) -> int:
    """Count one more send of each ``(comparison id, sends before it)``; returns how many.

    Compare-and-set on ``sends``: a send already counted (by a concurrent sweep, or a
    redelivered dispatch) is not counted twice, so a re-send budget is never used up by
    duplicates. Any status: an answer may arrive before its send is recorded. One
    ``UPDATE ... WHERE id IN (...)`` per distinct ``sends`` value (a new wave has one).
    """
    by_before: dict[int, list[uuid.UUID]] = {}
    for comparison_id, before in sent:
        by_before.setdefault(before, []).append(comparison_id)
    counted = 0
    for before, ids in sorted(by_before.items()):
        result = session.execute(
            sa.update(Comparison)
            .where(Comparison.id.in_(ids), Comparison.sends == before)
            .values(sends=Comparison.sends + 1, sent_at=now)
            .execution_options(synchronize_session=False)
        )
        counted += int(result.rowcount)  # type: ignore[attr-defined]
    return counted


def time_out_comparisons(
    session: Session, batch_id: uuid.UUID, *, sent_before: datetime, min_sends: int, now: datetime
) -> int:
    """Mark timed out the batch's pending comparisons sent ``min_sends`` times, last before
    ``sent_before``: the judge stayed silent through every re-send.

    Returns how many; the caller holds the batch lock and counts them as failed.
    """
    result = session.execute(
        sa.update(Comparison)
        .where(
            Comparison.batch_id == batch_id,
            _pending(),
            Comparison.sends >= min_sends,
            Comparison.sent_at <= sent_before,
        )
        .values(status=ComparisonRowStatus.TIMED_OUT, error_code="timeout", completed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def insert_comparisons(
    session: Session,
    batch_id: uuid.UUID,
    wave: int,
    mode: GenerationMode,
    pairs: Sequence[tuple[uuid.UUID, int, int, int]],
) -> None:
    """Insert a wave's rows, pending and unsent, as ``(id, slot A, slot B, attempt)``.

    One statement on PostgreSQL (the columns as arrays through ``unnest``); SQLite takes
    the rows as one executemany. Callers hold the batch lock.
    """
    if not pairs:
        return
    now = utc_now()
    ids, slot_a, slot_b, attempts = (list(column) for column in zip(*pairs, strict=True))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            _INSERT_ARRAYS,
            {
                "batch": batch_id,
                "wave": wave,
                "mode": mode.value,
                "now": now,
                "ids": ids,
                "slot_a": slot_a,
                "slot_b": slot_b,
                "attempts": attempts,
            },
        )
        return
    session.execute(
        sa.insert(_TABLE),
        [
            {
                "id": comparison_id,
                "batch_id": batch_id,
                "wave": wave,
                "essay_a": essay_a,
                "essay_b": essay_b,
                "mode": mode,
                "attempt": attempt,
                "status": ComparisonRowStatus.PENDING,
                "sends": 0,
                "created_at": now,
            }
            for comparison_id, essay_a, essay_b, attempt in pairs
        ],
    )


_TABLE = cast(sa.Table, Comparison.__table__)
_INSERT_ARRAYS = sa.text(
    "INSERT INTO comparisons (id, batch_id, wave, essay_a, essay_b, mode, attempt, status,"
    " sends, created_at)"
    " SELECT u.id, :batch, :wave, u.essay_a, u.essay_b, :mode, u.attempt, 'pending', 0, :now"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:slot_a AS integer[]), CAST(:slot_b AS integer[]),"
    " CAST(:attempts AS integer[])) AS u(id, essay_a, essay_b, attempt)"
).bindparams(
    sa.bindparam("batch", type_=sa.Uuid()),
    sa.bindparam("now", type_=UTCDateTime()),
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.Uuid())),
)
