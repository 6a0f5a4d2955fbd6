"""Interim scores move to their own narrow table, ``essay_scores``.

Every decision rewrote every essay row (text included) one ``UPDATE`` at a time to store
the scores, SEs and comparison counts the next decision warm-starts from. ``essay_scores``
holds only those, keyed by ``(batch_id, position)``, and is written in one bulk upsert.
The values stored so far are copied over; the old ``essays`` columns are left in place,
unused (dropping them on SQLite means rebuilding ``essays``, whose drop would cascade to
the comparisons).

Revision ID: 0007_essay_scores
Revises: 0006_chunked_intake
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_essay_scores"
down_revision: str | None = "0006_chunked_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "essay_scores",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("standard_error", sa.Double(), nullable=True),
        sa.Column("comparison_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "comparison_count >= 0", name=op.f("ck_essay_scores_comparison_count_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id", "position"],
            ["essays.batch_id", "essays.position"],
            name=op.f("fk_essay_scores_batch_id_position_essays"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "position", name=op.f("pk_essay_scores")),
    )
    op.execute(
        "INSERT INTO essay_scores (batch_id, position, score, standard_error, comparison_count)"
        " SELECT batch_id, position, score, standard_error, comparison_count FROM essays"
        " WHERE score IS NOT NULL OR comparison_count > 0"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE essays SET score = s.score, standard_error = s.standard_error,"
        " comparison_count = s.comparison_count FROM essay_scores AS s"
        " WHERE s.batch_id = essays.batch_id AND s.position = essays.position"
    )
    op.drop_table("essay_scores")
