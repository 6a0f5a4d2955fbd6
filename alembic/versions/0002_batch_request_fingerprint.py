"""Batches remember the fingerprint of the request that created them.

A resubmitted ``batch_id`` is the same request only if its fingerprint matches; another
payload or tenant under the same id is refused as a conflict. Batches stored before this
revision have none (NULL) and are compared by id alone.

Revision ID: 0002_fingerprint
Revises: 0001
Create Date: 2026-02-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_fingerprint"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("request_fingerprint", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("request_fingerprint")
