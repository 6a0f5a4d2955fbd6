"""The root of every error the project raises on purpose, and the exit code it means.

One root lets a caller catch "anything cj-worker refused" in one clause, and lets the
command line turn any of them into one line on stderr and an exit code without a table of
classes: the class says its code. Each error also keeps the builtin base it always had
(``class PayloadError(CJWorkerError, ValueError)``), so existing ``except ValueError``
clauses keep working.

The root lives in the pure core because the core and the harness raise errors too and may
import nothing outside the core; :mod:`cj_worker.errors` re-exports it for the shells.

Exit codes (the command line's contract):

- ``EXIT_FAILURE`` (1): something inside went wrong; the user cannot fix it by changing
  what they typed (an inconsistent history, a harness run the core cannot finish).
- ``EXIT_USER_ERROR`` (2): bad input the user can fix: an option, a file, a payload, a
  setting, an unknown batch, a missing optional dependency.
- ``EXIT_UNREACHABLE`` (3): a server (database, broker) did not answer; retrying later may
  work.
"""

from __future__ import annotations

from typing import Any, ClassVar

EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_UNREACHABLE = 3


class CJWorkerError(Exception):
    """Something cj-worker refused or could not do; ``exit_code`` is what the CLI exits with.

    A subclass states its code on its class line, ``class X(CJWorkerError,
    exit_code=EXIT_USER_ERROR)``, so the code is read where the error is defined; without
    one it inherits its parent's code (1 for the root).
    """

    exit_code: ClassVar[int] = EXIT_FAILURE

    def __init_subclass__(cls, *, exit_code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            if exit_code < 1:
                raise ValueError(f"{cls.__name__}: an error's exit_code must be 1 or more")
            cls.exit_code = exit_code
