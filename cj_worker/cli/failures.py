"""Every failure a user can cause becomes one line on stderr and the error's exit code.

The project's own errors are :class:`~cj_worker.errors.CJWorkerError` and carry their exit
code, so no table of classes is kept here. The few failures that come from libraries (a
payload pydantic rejects, a bad database URL, a missing driver, a server that does not
answer) are first translated into project errors, with a message that says what to fix.
Anything else is a bug and keeps its traceback. Exit code 3 means a server did not answer
and nothing else: a SQLite file's problems (a missing table, a locked or unwritable file)
are the user's to fix (2).
"""

from __future__ import annotations

import sys

from cj_worker.cli.parsing import UsageError
from cj_worker.errors import CJWorkerError, ServiceUnreachableError

PREFIX = "cj-worker: error: "


def as_project_error(error: BaseException) -> CJWorkerError | None:
    """``error`` as the project error the user should see, or None if it is a bug.

    The libraries are imported here, on the failure path only, so starting the command
    line does not pay for them.
    """
    if isinstance(error, CJWorkerError):
        return error
    import sqlite3

    import kombu.exceptions
    import sqlalchemy.exc
    from pydantic import ValidationError

    from cj_worker.payloads import PayloadError

    if isinstance(error, ValidationError):
        # pydantic's own text spans several lines; PayloadError names the fields on one.
        return PayloadError(error.title, error)
    if isinstance(error, sqlalchemy.exc.ArgumentError):  # also NoSuchModuleError (driver)
        return UsageError(f"bad CJ_DATABASE_URL: {_first_line(error)}")
    if isinstance(error, ModuleNotFoundError):
        # SQLAlchemy imports a URL's driver on first use; a bare postgresql:// URL means
        # psycopg (3) on SQLAlchemy 2.1, which this package does not install.
        hint = (
            " (the driver of CJ_DATABASE_URL: write postgresql+psycopg2://...)"
            if (error.name or "").startswith("psycopg")
            else ""
        )
        return UsageError(f"module {error.name!r} is not installed{hint}")
    if isinstance(error, sqlalchemy.exc.OperationalError) and isinstance(error.orig, sqlite3.Error):
        # A SQLite file is never "unreachable": the fault is in the file or its path.
        return UsageError(_sqlite_problem(_first_line(error.orig)))
    if isinstance(error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return ServiceUnreachableError(
            f"cannot reach the database: {_first_line(error.orig or error)}"
        )
    if isinstance(error, kombu.exceptions.OperationalError | ConnectionError):
        return ServiceUnreachableError(f"cannot reach the broker: {_first_line(error)}")
    return None


def report(error: CJWorkerError) -> int:
    """Print ``error`` on stderr after the prefix; returns its exit code."""
    print(f"{PREFIX}{error}", file=sys.stderr)
    return error.exit_code


def _sqlite_problem(message: str) -> str:
    """What a SQLite error means for the user."""
    if message.startswith(("no such table", "no such column")):
        return (
            f"the SQLite database is not at cj-worker's current schema ({message}): "
            "migrate it (CJ_DATABASE_URL=sqlite:///FILE cj-worker migrate), or point "
            "CJ_DATABASE_URL or --db at the right file"
        )
    return f"SQLite: {message}"


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
