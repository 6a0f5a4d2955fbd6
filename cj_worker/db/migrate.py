"""Run the Alembic migrations from code (``cj-worker migrate``, the embedded SQLite demo).

The migrations live in the top-level ``alembic/`` folder of a source checkout; the URL is
handed to ``alembic/env.py`` through ``Config.attributes`` so that no ini file or
environment variable has to name the database.
"""

from __future__ import annotations

from pathlib import Path

import alembic.command
from alembic.config import Config

from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "alembic"


class MigrationsNotFoundError(CJWorkerError, RuntimeError, exit_code=EXIT_USER_ERROR):
    """The ``alembic/`` folder is missing, e.g. in an installed wheel, which ships no migrations."""


def alembic_config(url: str) -> Config:
    """An Alembic configuration that migrates the database at ``url``."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise MigrationsNotFoundError(
            f"no Alembic migrations at {MIGRATIONS_DIR}: run from a source checkout of cj-worker"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    alembic.command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    alembic.command.downgrade(alembic_config(url), revision)
