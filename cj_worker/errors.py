"""Errors shared by the shells: the root :class:`CJWorkerError` and the exit codes.

The root is defined in :mod:`cj_worker.core.errors` (the core raises errors too and may
import nothing outside itself); this module is where the rest of the package and its users
import it from, with the one error that only the shells can meet, an unreachable server.
"""

from __future__ import annotations

from cj_worker.core.errors import EXIT_FAILURE, EXIT_UNREACHABLE, EXIT_USER_ERROR, CJWorkerError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_UNREACHABLE",
    "EXIT_USER_ERROR",
    "CJWorkerError",
    "ServiceUnreachableError",
]


class ServiceUnreachableError(CJWorkerError, ConnectionError, exit_code=EXIT_UNREACHABLE):
    """The database or the broker did not answer; the message says which and why."""
