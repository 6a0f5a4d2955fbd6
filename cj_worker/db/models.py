"""The schema, as SQLAlchemy declarative models (SPEC section 3).

Schema changes go through Alembic only; ``tests/integration/db/test_migrations.py`` fails
when these models and the migrated schema disagree. The models are portable between
PostgreSQL (production) and SQLite (the embedded default), which is why enums and
timestamps use the decorators of :mod:`cj_worker.db.column_types`.

JSON columns are not mutation-tracked: assign a new dict rather than changing the loaded
one in place (``processing_metadata`` has one writer, :func:`cj_worker.db.progress.save_progress`).

Rows that share a name with a domain type carry a ``Row`` suffix (:class:`DecisionRow`
beside the core's ``Decision``, :class:`EssayResultRow` beside the result contract
:class:`cj_worker.db.results.EssayResult`, :class:`BatchResultRow` beside the read model
``BatchResults``), so an import never says which one it means by accident.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cj_worker.core.grade_scales import DEFAULT_GRADE_SCALE, built_in_scale
from cj_worker.core.grading import ProjectionStatus
from cj_worker.db.column_types import StrEnumType, UTCDateTime, utc_now, values_check
from cj_worker.db.states import (
    LIVE_STATES,
    BatchState,
    ComparisonRowStatus,
    GenerationMode,
    OutboxEventType,
    Slot,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so that migrations can drop what they created."""

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
EMPTY_JSON = sa.text("'{}'")
ZERO = sa.text("0")


def _default_grade_scale() -> dict[str, Any]:
    return built_in_scale(DEFAULT_GRADE_SCALE).as_json()


def _batch_fk() -> sa.ForeignKey:
    return sa.ForeignKey("batches.id", ondelete="CASCADE")


def _non_negative(*columns: str) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint(f"{column} >= 0", name=f"{column}_non_negative") for column in columns
    ]


LIVE_BATCH_SQL = f"state IN ({', '.join(repr(state.value) for state in LIVE_STATES)})"
"""Predicate of the partial index ``ix_batches_live``. PostgreSQL and SQLite use a partial
index only for a query that states its predicate literally, so a query meant for it says
exactly this, inline rather than as bound parameters (``repositories.batches.idle_batches``)."""
PENDING_COMPARISON_SQL = f"status = '{ComparisonRowStatus.PENDING}'"
"""Predicate of the partial index ``ix_comparisons_pending``, stated literally in the same
way by the queries on pending comparisons (``repositories.comparisons``)."""


class Base(DeclarativeBase):
    """Maps ``UUID`` and ``datetime`` annotations to the portable column types."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        uuid.UUID: sa.Uuid(),
        datetime: UTCDateTime(),
    }


class Batch(Base):
    """A net of essays being judged; its row is the lock every state change takes."""

    __tablename__ = "batches"
    __table_args__ = (
        sa.CheckConstraint("total_budget >= 1", name="total_budget_positive"),
        sa.CheckConstraint(values_check("state", BatchState), name="state_valid"),
        *_non_negative(
            "current_wave",
            "resampling_pass_count",
            "comparisons_submitted",
            "comparisons_succeeded",
            "comparisons_failed",
        ),
        # The sweep's idle batches, without reading the finished ones (nearly all of them).
        sa.Index(
            "ix_batches_live",
            "last_activity_at",
            postgresql_where=sa.text(LIVE_BATCH_SQL),
            sqlite_where=sa.text(LIVE_BATCH_SQL),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    external_ref: Mapped[str | None] = mapped_column(sa.String(255))
    tenant: Mapped[str | None] = mapped_column(sa.String(255))
    request_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    """SHA-256 of the intake request (``BatchRequest.fingerprint``): a resubmission of the
    batch id is the same request only if it matches. None for batches stored before it."""
    essays_expected: Mapped[int | None]
    """Essays the batch will hold (``BatchRequest.essay_count``) when they arrive in chunks
    (``cj.add_essays``); it stays ``created`` until all have. None: stored whole at intake."""
    essays_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    """The declared ``payloads.essays_sha256`` of the whole essay list, checked against the
    stored essays when the last chunk arrives."""
    state: Mapped[BatchState] = mapped_column(
        StrEnumType(BatchState), default=BatchState.CREATED, server_default=BatchState.CREATED
    )
    total_budget: Mapped[int]
    settings: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE)
    """The effective ``AlgorithmSettings`` of this batch (``model_dump(mode="json")``)."""
    judge: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE)
    """Which judge answers, e.g. ``{"kind": "external", "task": "producer.judge"}``."""
    grade_scale: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE, default=_default_grade_scale)
    """The resolved scale (``GradeScale.as_json()``: name, grades, priors), frozen with the
    batch like the settings, so a later change to a built-in scale cannot regrade it."""
    result_task: Mapped[str | None] = mapped_column(sa.String(255))
    """Celery task name that receives the batch's result event, if the producer wants one."""
    result_queue: Mapped[str | None] = mapped_column(sa.String(255))
    """Queue the result event goes to; never one the cj workers consume."""
    seed: Mapped[int] = mapped_column(sa.BigInteger)
    current_wave: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    resampling_pass_count: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    """The source of truth for the pass count; ``processing_metadata`` carries a copy
    because SPEC section 5 lists it among the four keys there (see ``db.progress``)."""
    processing_metadata: Mapped[dict[str, Any]] = mapped_column(
        JSON_TYPE, default=dict, server_default=EMPTY_JSON
    )
    """A :class:`cj_worker.db.progress.BatchProgress`; read and written through that module."""
    comparisons_submitted: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    """The three counters cache the row counts so that a status poll reads one row instead
    of grouping every comparison (``repositories.batches.count_comparisons`` keeps them
    in step, in the transaction that changes the rows)."""
    comparisons_succeeded: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    comparisons_failed: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    """Failed and timed-out comparisons."""
    final_reason: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=sa.func.now())
    last_activity_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=sa.func.now()
    )
    completed_at: Mapped[datetime | None]


class Essay(Base):
    """An essay of one batch; ``position`` is the index the pure core knows it by."""

    __tablename__ = "essays"
    __table_args__ = (
        sa.UniqueConstraint("batch_id", "external_id"),
        sa.UniqueConstraint("batch_id", "position"),
        *_non_negative("position", "comparison_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(_batch_fk())
    external_id: Mapped[str] = mapped_column(sa.String(255))
    """The producer's id; unique within the batch only, so an essay can be in many batches."""
    position: Mapped[int]
    text: Mapped[str] = mapped_column(sa.Text)
    is_anchor: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    grade: Mapped[str | None] = mapped_column(sa.String(32))
    """Known grade of an anchor."""
    true_score: Mapped[float | None]
    """Ground truth for the simulated judge; never shown to a real judge."""
    score: Mapped[float | None]
    standard_error: Mapped[float | None]
    comparison_count: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    """``score``, ``standard_error`` and ``comparison_count`` are no longer written (issue
    13 moved the interim scores to :class:`EssayScore`); migration 0007 copied them there.
    They stay until a migration drops them: on SQLite that means rebuilding ``essays``,
    whose drop would cascade to every comparison."""


class EssayScore(Base):
    """An essay's interim score, SE and successful comparisons, as of the last decision.

    Its own narrow table: every decision rewrites all of a batch's scores in one bulk
    upsert, which on the essay rows would rewrite each essay's text with them. The next
    decision warm-starts its fit from these scores.
    """

    __tablename__ = "essay_scores"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["batch_id", "position"],
            ["essays.batch_id", "essays.position"],
            ondelete="CASCADE",
        ),
        *_non_negative("comparison_count"),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    score: Mapped[float | None]
    standard_error: Mapped[float | None]
    comparison_count: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    """Successful comparisons only."""


class Comparison(Base):
    """One request to a judge; retries of a pair are new rows with a higher ``attempt``."""

    __tablename__ = "comparisons"
    __table_args__ = (
        # A redelivered wave dispatch cannot insert the same comparison twice.
        sa.UniqueConstraint("batch_id", "wave", "essay_a", "essay_b"),
        # Slots must name essays of the same batch.
        sa.ForeignKeyConstraint(
            ["batch_id", "essay_a"], ["essays.batch_id", "essays.position"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["batch_id", "essay_b"], ["essays.batch_id", "essays.position"], ondelete="CASCADE"
        ),
        # Deleting an essay looks up its comparisons by each slot's foreign key; without
        # these, every lookup reads all of the batch's comparisons.
        sa.Index("ix_comparisons_batch_id_essay_a", "batch_id", "essay_a"),
        sa.Index("ix_comparisons_batch_id_essay_b", "batch_id", "essay_b"),
        # What the sweep asks of a batch concerns its pending rows, a wave or less of them.
        sa.Index(
            "ix_comparisons_pending",
            "batch_id",
            "wave",
            postgresql_where=sa.text(PENDING_COMPARISON_SQL),
            sqlite_where=sa.text(PENDING_COMPARISON_SQL),
        ),
        sa.CheckConstraint("essay_a <> essay_b", name="distinct_essays"),
        sa.CheckConstraint(values_check("status", ComparisonRowStatus), name="status_valid"),
        sa.CheckConstraint(values_check("mode", GenerationMode), name="mode_valid"),
        sa.CheckConstraint(values_check("winner", Slot), name="winner_valid"),
        sa.CheckConstraint(
            f"(status = '{ComparisonRowStatus.SUCCEEDED}') = (winner IS NOT NULL)",
            name="winner_iff_succeeded",
        ),
        sa.CheckConstraint("attempt >= 1", name="attempt_positive"),
        *_non_negative("wave", "sends"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    batch_id: Mapped[uuid.UUID] = mapped_column(_batch_fk())
    wave: Mapped[int]
    essay_a: Mapped[int]
    """Position of the essay in slot A."""
    essay_b: Mapped[int]
    mode: Mapped[GenerationMode] = mapped_column(StrEnumType(GenerationMode))
    attempt: Mapped[int]
    """1-based attempt number of this unordered pair."""
    status: Mapped[ComparisonRowStatus] = mapped_column(
        StrEnumType(ComparisonRowStatus),
        default=ComparisonRowStatus.PENDING,
        server_default=ComparisonRowStatus.PENDING,
    )
    winner: Mapped[Slot | None] = mapped_column(StrEnumType(Slot))
    judge_id: Mapped[str | None] = mapped_column(sa.String(255))
    confidence: Mapped[float | None]
    justification: Mapped[str | None] = mapped_column(sa.Text)
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_detail: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=sa.func.now())
    completed_at: Mapped[datetime | None]
    sends: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    """How often the request was handed to the broker: 0 until the dispatch after commit
    (or the sweep, if that was lost) sent it; the sweep re-sends while it is at most
    ``1 + judge_max_resends`` (see ``cj_worker.tasks.dispatch``)."""
    sent_at: Mapped[datetime | None]
    """When the request was last handed to the broker; re-send deadlines count from it."""
    prompt_tokens: Mapped[int | None]
    """What the answer cost, as the judge reported it (``ComparisonResult.usage``): LLM
    judges report tokens, time and HTTP attempts; other judges leave these NULL. Kept per
    row so that status, export and the result event sum them per batch and per judge."""
    completion_tokens: Mapped[int | None]
    latency_seconds: Mapped[float | None]
    """Round trip of the request that was answered."""
    attempts: Mapped[int | None]
    """HTTP requests sent for this comparison (retries are ``attempts - 1``)."""
    cost: Mapped[float | None]
    """Estimated from the batch's price table; NULL without a price for the model."""


class DecisionRow(Base):
    """The decision log: one row per wave, written under the batch lock with the decision."""

    __tablename__ = "decisions"
    __table_args__ = (sa.UniqueConstraint("batch_id", "wave"), *_non_negative("wave"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(_batch_fk())
    wave: Mapped[int]
    """The wave after which the decision was taken; 0 is the decision at intake."""
    action: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(
        JSON_TYPE, default=dict, server_default=EMPTY_JSON
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=sa.func.now())


class EssayResultRow(Base):
    """Final rank, score, SE, fit and grade of an essay; ``details`` holds the extras
    (standardised infit and outfit, the grade the calibration projects)."""

    __tablename__ = "essay_results"
    __table_args__ = (
        sa.UniqueConstraint("batch_id", "essay_id"),
        # Deleting a batch cascades essay by essay; without it each one scans this table.
        sa.Index("ix_essay_results_essay_id", "essay_id"),
        *_non_negative("comparisons", "wins"),
        sa.CheckConstraint("confidence BETWEEN 0 AND 1", name="confidence_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(_batch_fk())
    essay_id: Mapped[int] = mapped_column(sa.ForeignKey("essays.id", ondelete="CASCADE"))
    rank: Mapped[int]
    score: Mapped[float]
    standard_error: Mapped[float]
    comparisons: Mapped[int]
    """Successful comparisons only."""
    wins: Mapped[int]
    infit: Mapped[float | None]
    """Information-weighted mean square; None without comparisons."""
    outfit: Mapped[float | None]
    misfit: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    grade: Mapped[str | None] = mapped_column(sa.String(32))
    """The known grade of an anchor, else the most probable projected grade."""
    grade_probabilities: Mapped[dict[str, float] | None] = mapped_column(JSON_TYPE)
    """Probability per grade label; None when grades were not projected."""
    confidence: Mapped[float | None]
    """Probability of ``grade`` (1 for anchors)."""
    details: Mapped[dict[str, Any]] = mapped_column(
        JSON_TYPE, default=dict, server_default=EMPTY_JSON
    )


class BatchResultRow(Base):
    """The batch-level outcome, written once by finalization."""

    __tablename__ = "batch_results"
    __table_args__ = (
        sa.CheckConstraint(values_check("state", BatchState), name="state_valid"),
        sa.CheckConstraint(
            values_check("grade_projection", ProjectionStatus), name="grade_projection_valid"
        ),
        *_non_negative("comparisons_made", "comparisons_succeeded", "comparisons_failed", "waves"),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column(_batch_fk(), primary_key=True)
    stop_reason: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[BatchState] = mapped_column(StrEnumType(BatchState))
    comparisons_made: Mapped[int]
    comparisons_succeeded: Mapped[int]
    comparisons_failed: Mapped[int]
    waves: Mapped[int]
    ssr: Mapped[float | None]
    split_half: Mapped[float | None]
    """Split-half reliability; None when undefined or the batch failed."""
    separation: Mapped[float | None]
    ssr_inflated: Mapped[bool | None]
    """No longer written (always NULL; issue 10 replaced the flag by the headline
    ``reliability`` in ``summary``); the column stays until a migration drops it."""
    grade_projection: Mapped[ProjectionStatus | None] = mapped_column(StrEnumType(ProjectionStatus))
    """Whether grades were projected and if not why; None for a failed batch."""
    duration_seconds: Mapped[float]
    summary: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE)
    """The result event's batch-level part: reliability, grading, judges, counts."""
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=sa.func.now())


class OutboxEvent(Base):
    """A result event written in the business transaction and relayed to Celery after it."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("batch_id", "event_type"),
        sa.CheckConstraint(values_check("event_type", OutboxEventType), name="event_type_valid"),
        sa.Index(
            "ix_outbox_unsent",
            "id",
            postgresql_where=sa.text("sent_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL"),
        ),
        *_non_negative("attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(_batch_fk())
    event_type: Mapped[OutboxEventType] = mapped_column(StrEnumType(OutboxEventType))
    task_name: Mapped[str] = mapped_column(sa.String(255))
    queue: Mapped[str] = mapped_column(sa.String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=sa.func.now())
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default=ZERO)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
