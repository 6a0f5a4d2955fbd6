"""Alembic environment: which database, which metadata, and how to compare them.

The URL comes from ``config.attributes["url"]`` when :mod:`cj_worker.db.migrate` runs the
migrations, otherwise from the ``CJ_DATABASE_URL`` setting (a bare ``alembic`` command).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

from cj_worker.config import get_settings
from cj_worker.db.models import Base


def _url() -> str:
    url = context.config.attributes.get("url")
    return str(url) if url is not None else get_settings().database_url


def _run_offline(url: str) -> None:
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=sa.make_url(url).get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online(url: str) -> None:
    # A private engine without the application's SQLite hooks: batch migrations recreate
    # tables, which must not cascade through enforced foreign keys.
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                compare_type=True,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline(_url())
else:
    _run_online(_url())
