"""Indexes for the sweep and for deleting a batch, at millions of comparison rows.

- ``ix_comparisons_pending`` on ``(batch_id, wave) WHERE status = 'pending'``: what the
  sweep asks of a batch (requests due, timeouts, whether a wave still waits) concerns its
  pending rows only, a wave or less, while finished rows pile up with history. Partial, so
  it stays as small as the pending backlog and a row leaves it when it is answered.
- ``ix_batches_live`` on ``last_activity_at WHERE state IN (live states)``: the sweep's
  idle batches, without reading the finished ones, which are nearly all of them.
- ``ix_comparisons_batch_id_essay_a`` and ``..._essay_b``: the foreign keys to
  ``essays (batch_id, position)`` cascade one essay at a time, and without an index led by
  both columns each of those lookups read every comparison of the batch (the unique key
  has ``wave`` between them): deleting a 20,000-essay batch took minutes.
- ``ix_comparisons_batch_id_status`` goes: the pending index serves its pending lookups,
  and the batch's other reads (all statuses, or succeeded, which is most rows) are served
  as well by the unique key or the essay indexes, all led by ``batch_id``.

Every other foreign key already has an index led by its columns (a unique key or the
primary key); ``tests/integration/db/test_indexes.py`` checks each one.

Plain ``CREATE INDEX``, not ``CONCURRENTLY``: it runs in the migration's transaction, so an
upgrade through several revisions applies whole or not at all, and runs the same on
SQLite and in offline ``--sql`` mode. ``CONCURRENTLY`` cannot run in a transaction, leaves
an INVALID index behind when it fails, and waits for every open transaction; what it
would save is the time writes to ``comparisons`` wait for the build, measured by
``benchmarks/schema_scale.py``: 2-3 s for this revision at 1 M comparison rows on a
two-core machine. Callbacks that wait out ``lock_timeout`` meanwhile are retried. A
deployment with far more rows can run the same statements by hand first (``CREATE INDEX
CONCURRENTLY`` under these names, ``DROP INDEX CONCURRENTLY`` of the old one) and then
``alembic stamp 0005_scale_indexes``.

The predicates are written as the queries state them (``cj_worker.db.models``):
PostgreSQL and SQLite use a partial index only for a query whose conditions include the
predicate literally.

Revision ID: 0005_scale_indexes
Revises: 0004_usage
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_scale_indexes"
down_revision: str | None = "0004_usage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the models' predicates: a migration never imports the models.
PENDING = sa.text("status = 'pending'")
LIVE = sa.text("state IN ('created', 'collecting', 'scoring')")


def upgrade() -> None:
    op.create_index(
        "ix_comparisons_pending",
        "comparisons",
        ["batch_id", "wave"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index("ix_comparisons_batch_id_essay_a", "comparisons", ["batch_id", "essay_a"])
    op.create_index("ix_comparisons_batch_id_essay_b", "comparisons", ["batch_id", "essay_b"])
    op.drop_index("ix_comparisons_batch_id_status", table_name="comparisons")
    op.create_index(
        "ix_batches_live",
        "batches",
        ["last_activity_at"],
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_batches_live", table_name="batches")
    op.create_index("ix_comparisons_batch_id_status", "comparisons", ["batch_id", "status"])
    op.drop_index("ix_comparisons_batch_id_essay_b", table_name="comparisons")
    op.drop_index("ix_comparisons_batch_id_essay_a", table_name="comparisons")
    op.drop_index("ix_comparisons_pending", table_name="comparisons")
