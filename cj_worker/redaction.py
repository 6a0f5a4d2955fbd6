"""What monitoring may show of a task's arguments: ids and figures, never essays or tokens.

Celery copies a repr of every task's arguments into the message headers (``argsrepr``,
``kwargsrepr``) and the task events, which Flower shows to whoever can open it and which
end up in logs. A judge request carries two pupils' essays and the comparison's result
token, a ``cj.create_batch`` request every essay of the batch: its repr would put them on
every monitoring screen. :func:`redacted_repr` keeps the structure (ids, batch ids,
counts, statuses) and replaces the values of :data:`SENSITIVE_KEYS` by their length.

:class:`RedactingAMQP` applies it to every message the cj app sends unless the sender
gave a repr of its own, so no call site can forget it; the app is created with it
(``Celery(..., amqp="cj_worker.redaction:RedactingAMQP")``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery.app.amqp import AMQP
from celery.utils.saferepr import saferepr

__all__ = ["SENSITIVE_KEYS", "RedactingAMQP", "redacted", "redacted_repr"]

SENSITIVE_KEYS = frozenset(
    {"text", "assignment", "rubric", "instructions", "justification", "token", "api_key"}
)
"""Keys whose values monitoring never shows: essay texts and the prompts around them, a
judge's justification (which may quote the essays), the result token (which would let a
viewer forge answers) and credentials."""
MAX_ITEMS = 20
"""Longer lists are shown by their length: a batch's essays are not read on a screen."""
MAX_REPR = 1024
"""Celery's own bound on a repr's length."""


def redacted(value: Any) -> Any:
    """A copy of ``value`` with sensitive values replaced by ``"<N chars>"``."""
    if isinstance(value, Mapping):
        return {
            key: _hidden(item) if key in SENSITIVE_KEYS else redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            return f"<{len(value)} items>"
        return [redacted(item) for item in value]
    return value


def _hidden(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return f"<{len(value)} chars>"
    return "<redacted>"


def redacted_repr(arguments: Any) -> str:
    """The repr of a task's ``args`` or ``kwargs`` that monitoring may show."""
    return saferepr(redacted(arguments), maxlen=MAX_REPR, maxlevels=4)


class RedactingAMQP(AMQP):
    """Celery's message factory, with :func:`redacted_repr` as the default argument reprs."""

    def as_task_v2(
        self,
        task_id: str,
        name: str,
        args: Any = None,
        kwargs: Any = None,
        *positional: Any,
        **options: Any,
    ) -> Any:
        if options.get("argsrepr") is None:
            options["argsrepr"] = redacted_repr(list(args or ()))
        if options.get("kwargsrepr") is None:
            options["kwargsrepr"] = redacted_repr(dict(kwargs or {}))
        return super().as_task_v2(task_id, name, args, kwargs, *positional, **options)
