"""Initial schema: batches, essays, comparisons, decisions, results, outbox.

A frozen copy of the schema at this revision: migrations never import the models, which
move on. Constraint names follow ``cj_worker.db.models.NAMING_CONVENTION``.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_STATES = "'created', 'collecting', 'scoring', 'completed', 'failed', 'cancelled'"
PROJECTION_STATUSES = (
    "'projected', 'only_anchors', 'no_anchors', 'one_anchor_grade', 'anchors_not_separated'"
)
ZERO = sa.text("0")
EMPTY_JSON = sa.text("'{}'")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _enum(
    name: str, *, nullable: bool = False, server_default: str | None = None
) -> sa.Column[Any]:
    return sa.Column(name, sa.String(32), server_default=server_default, nullable=nullable)


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    default = None if nullable else sa.func.now()
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def _counter(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), server_default=ZERO, nullable=False)


def _check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def _non_negative(table: str, *columns: str) -> list[sa.CheckConstraint]:
    return [_check(table, f"{column}_non_negative", f"{column} >= 0") for column in columns]


def _batch_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["batch_id"], ["batches.id"], name=op.f(f"fk_{table}_batch_id_batches"), ondelete="CASCADE"
    )


def _slot_fk(slot: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["batch_id", slot],
        ["essays.batch_id", "essays.position"],
        name=op.f(f"fk_comparisons_batch_id_{slot}_essays"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_ref", sa.String(255), nullable=True),
        sa.Column("tenant", sa.String(255), nullable=True),
        _enum("state", server_default="created"),
        sa.Column("total_budget", sa.Integer(), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("judge", _json(), nullable=False),
        sa.Column("grade_scale", _json(), nullable=False),
        sa.Column("result_task", sa.String(255), nullable=True),
        sa.Column("result_queue", sa.String(255), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        _counter("current_wave"),
        _counter("resampling_pass_count"),
        sa.Column("processing_metadata", _json(), server_default=EMPTY_JSON, nullable=False),
        _counter("comparisons_submitted"),
        _counter("comparisons_succeeded"),
        _counter("comparisons_failed"),
        sa.Column("final_reason", sa.String(64), nullable=True),
        _timestamp("created_at"),
        _timestamp("last_activity_at"),
        _timestamp("completed_at", nullable=True),
        _check("batches", "state_valid", f"state IN ({BATCH_STATES})"),
        _check("batches", "total_budget_positive", "total_budget >= 1"),
        *_non_negative(
            "batches",
            "current_wave",
            "resampling_pass_count",
            "comparisons_submitted",
            "comparisons_succeeded",
            "comparisons_failed",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_table(
        "essays",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("is_anchor", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("grade", sa.String(32), nullable=True),
        sa.Column("true_score", sa.Double(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("standard_error", sa.Double(), nullable=True),
        _counter("comparison_count"),
        *_non_negative("essays", "position", "comparison_count"),
        _batch_fk("essays"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_essays")),
        sa.UniqueConstraint("batch_id", "external_id", name=op.f("uq_essays_batch_id_external_id")),
        sa.UniqueConstraint("batch_id", "position", name=op.f("uq_essays_batch_id_position")),
    )
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("essay_a", sa.Integer(), nullable=False),
        sa.Column("essay_b", sa.Integer(), nullable=False),
        _enum("mode"),
        sa.Column("attempt", sa.Integer(), nullable=False),
        _enum("status", server_default="pending"),
        _enum("winner", nullable=True),
        sa.Column("judge_id", sa.String(255), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("completed_at", nullable=True),
        _check("comparisons", "distinct_essays", "essay_a <> essay_b"),
        _check(
            "comparisons",
            "status_valid",
            "status IN ('pending', 'succeeded', 'failed', 'timed_out')",
        ),
        _check("comparisons", "mode_valid", "mode IN ('coverage', 'resampling')"),
        _check("comparisons", "winner_valid", "winner IN ('A', 'B')"),
        _check(
            "comparisons",
            "winner_iff_succeeded",
            "(status = 'succeeded') = (winner IS NOT NULL)",
        ),
        _check("comparisons", "attempt_positive", "attempt >= 1"),
        *_non_negative("comparisons", "wave"),
        _batch_fk("comparisons"),
        _slot_fk("essay_a"),
        _slot_fk("essay_b"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparisons")),
        sa.UniqueConstraint(
            "batch_id",
            "wave",
            "essay_a",
            "essay_b",
            name=op.f("uq_comparisons_batch_id_wave_essay_a_essay_b"),
        ),
    )
    op.create_index("ix_comparisons_batch_id_status", "comparisons", ["batch_id", "status"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("details", _json(), server_default=EMPTY_JSON, nullable=False),
        _timestamp("created_at"),
        *_non_negative("decisions", "wave"),
        _batch_fk("decisions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("batch_id", "wave", name=op.f("uq_decisions_batch_id_wave")),
    )
    op.create_table(
        "essay_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("essay_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("standard_error", sa.Double(), nullable=False),
        sa.Column("comparisons", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("infit", sa.Double(), nullable=True),
        sa.Column("outfit", sa.Double(), nullable=True),
        sa.Column("misfit", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("grade", sa.String(32), nullable=True),
        sa.Column("grade_probabilities", _json(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("details", _json(), server_default=EMPTY_JSON, nullable=False),
        *_non_negative("essay_results", "comparisons", "wins"),
        _check("essay_results", "confidence_range", "confidence BETWEEN 0 AND 1"),
        _batch_fk("essay_results"),
        sa.ForeignKeyConstraint(
            ["essay_id"],
            ["essays.id"],
            name=op.f("fk_essay_results_essay_id_essays"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_essay_results")),
        sa.UniqueConstraint(
            "batch_id", "essay_id", name=op.f("uq_essay_results_batch_id_essay_id")
        ),
    )
    op.create_index("ix_essay_results_essay_id", "essay_results", ["essay_id"])
    op.create_table(
        "batch_results",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("stop_reason", sa.String(64), nullable=False),
        _enum("state"),
        sa.Column("comparisons_made", sa.Integer(), nullable=False),
        sa.Column("comparisons_succeeded", sa.Integer(), nullable=False),
        sa.Column("comparisons_failed", sa.Integer(), nullable=False),
        sa.Column("waves", sa.Integer(), nullable=False),
        sa.Column("ssr", sa.Double(), nullable=True),
        sa.Column("split_half", sa.Double(), nullable=True),
        sa.Column("separation", sa.Double(), nullable=True),
        sa.Column("ssr_inflated", sa.Boolean(), nullable=True),
        _enum("grade_projection", nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=False),
        sa.Column("summary", _json(), nullable=False),
        _timestamp("created_at"),
        _check("batch_results", "state_valid", f"state IN ({BATCH_STATES})"),
        _check(
            "batch_results",
            "grade_projection_valid",
            f"grade_projection IN ({PROJECTION_STATUSES})",
        ),
        *_non_negative(
            "batch_results",
            "comparisons_made",
            "comparisons_succeeded",
            "comparisons_failed",
            "waves",
        ),
        _batch_fk("batch_results"),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_results")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        _enum("event_type"),
        sa.Column("task_name", sa.String(255), nullable=False),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        _timestamp("created_at"),
        _timestamp("sent_at", nullable=True),
        _counter("attempts"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _check("outbox", "event_type_valid", "event_type IN ('batch.completed', 'batch.failed')"),
        *_non_negative("outbox", "attempts"),
        _batch_fk("outbox"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("batch_id", "event_type", name=op.f("uq_outbox_batch_id_event_type")),
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    # Dependants first; dropping a table drops its indexes.
    for table in (
        "outbox",
        "batch_results",
        "essay_results",
        "decisions",
        "comparisons",
        "essays",
        "batches",
    ):
        op.drop_table(table)
