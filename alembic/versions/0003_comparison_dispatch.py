"""Comparisons remember how often and when their judge request was sent.

The comparison row is the outbox of its judge request: ``sends`` is 0 from the commit that
inserts it until the request reached the broker, and the sweep re-sends a request its judge
has not answered by a deadline counted from ``sent_at``. Rows stored before this revision
were sent once, when they were created.

Revision ID: 0003_dispatch
Revises: 0002_fingerprint
Create Date: 2026-02-15 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_dispatch"
down_revision: str | None = "0002_fingerprint"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("comparisons") as batch:
        batch.add_column(
            sa.Column("sends", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_comparisons_sends_non_negative"), sa.text("sends >= 0")
        )
    op.execute("UPDATE comparisons SET sends = 1, sent_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("comparisons") as batch:
        batch.drop_constraint(op.f("ck_comparisons_sends_non_negative"), type_="check")
        batch.drop_column("sent_at")
        batch.drop_column("sends")
