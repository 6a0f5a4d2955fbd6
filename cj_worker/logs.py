"""One JSON object per log line, for workers and beat (``CJ_LOG_FORMAT=json``).

Log shippers parse a line into fields only if every line has the same shape, so the
formatter replaces Celery's on every handler of the process's loggers, not only on the
``cj_worker`` logger's lines. The fields a call passes with ``extra=`` (every decision line
has ``batch_id``, ``wave``, ``action`` and ``reason``) become top-level keys, and a line
logged inside a task carries the task's id and name.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from celery import current_task

EVENT_ATTRIBUTE = "event"
"""Record attribute holding a log call's message without its appended fields."""

_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime"}
"""Attributes every record has; any other attribute came from ``extra=``."""


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            # An event logged with fields: its bare text (the fields follow as keys).
            "message": record.__dict__.get(EVENT_ATTRIBUTE) or record.getMessage(),
            "process": record.processName,
        }
        task = current_task
        if task and task.request.id:
            entry["task_id"] = task.request.id
            entry["task_name"] = task.name
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key != EVENT_ATTRIBUTE and not key.startswith("_"):
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def use_json_format(logger: logging.Logger) -> None:
    """Give every handler of ``logger`` the JSON formatter."""
    formatter = JsonFormatter()
    for handler in logger.handlers:
        handler.setFormatter(formatter)
