"""Inserting a row unless a unique key already has one, without aborting the transaction.

An ``IntegrityError`` would poison a PostgreSQL transaction (or need a savepoint around
every insert); ``INSERT ... ON CONFLICT DO NOTHING`` on PostgreSQL and SQLite does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cj_worker.db.models import Base
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError


class UnsupportedDatabaseError(CJWorkerError, RuntimeError, exit_code=EXIT_USER_ERROR):
    """The database is neither PostgreSQL nor SQLite."""


def insert_unless_exists(
    session: Session,
    model: type[Base],
    values: dict[str, Any],
    unique_key: Sequence[str],
) -> bool:
    """Insert ``values``; False (and nothing written) if ``unique_key`` already has a row."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: postgresql.Insert | sqlite.Insert = postgresql.insert(model)
    elif dialect == "sqlite":
        statement = sqlite.insert(model)
    else:
        raise UnsupportedDatabaseError(f"no conflict-free insert for {dialect!r}")
    primary_key = sa.inspect(model).primary_key
    inserted = session.execute(
        statement.values(values)
        .on_conflict_do_nothing(index_elements=list(unique_key))
        .returning(*primary_key)
    ).first()
    return inserted is not None
