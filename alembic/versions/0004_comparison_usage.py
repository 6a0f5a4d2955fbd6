"""Comparisons remember what their answer cost: tokens, latency, HTTP attempts, money.

An LLM judge reports its usage with each answer (``ComparisonResult.usage``); the callback
stores it on the comparison row so that ``status``, ``export`` and the result event can sum
it per batch and per judge. Every column is nullable: other judges report no usage, and
rows stored before this revision have none.

Revision ID: 0004_usage
Revises: 0003_dispatch
Create Date: 2026-02-20 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004_usage"
down_revision: str | None = "0003_dispatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("prompt_tokens", sa.Integer()),
    ("completion_tokens", sa.Integer()),
    ("latency_seconds", sa.Double()),
    ("attempts", sa.Integer()),
    ("cost", sa.Double()),
)


def upgrade() -> None:
    with op.batch_alter_table("comparisons") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("comparisons") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
