"""Batches remember how many essays they wait for, and the digest those essays must have.

A large batch arrives in chunks: ``cj.create_batch`` with ``essay_count`` and the first
essays, then ``cj.add_essays`` with the rest. ``essays_expected`` is the declared count (the
batch stays ``created`` until that many essays are stored) and ``essays_sha256`` the
declared digest of the whole list, checked when the last chunk arrives. Both are NULL for
a batch stored whole, as every batch before this revision was.

Revision ID: 0006_chunked_intake
Revises: 0005_scale_indexes
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_chunked_intake"
down_revision: str | None = "0005_scale_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("essays_expected", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("essays_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("essays_sha256")
        batch.drop_column("essays_expected")
