"""JSON log lines: one object per line, ``extra=`` fields at the top, chosen by a setting."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cj_worker.celery_app import _structured_logs
from cj_worker.config import get_settings
from cj_worker.logs import JsonFormatter
from cj_worker.tasks.base import log as task_log


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """What the ``cj_worker`` logger writes, through the JSON formatter."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("cj_worker")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not the attribute: it clears the level cache
    try:
        yield output
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def lines(output: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


def test_a_decision_line_carries_batch_wave_and_reason_as_fields(stream: io.StringIO) -> None:
    task_log.info(
        "decision",
        extra={"batch_id": "b-1", "wave": 3, "action": "finalize_scoring", "reason": "stable"},
    )

    [entry] = lines(stream)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "cj_worker"
    assert entry["message"].startswith("decision")
    assert (entry["batch_id"], entry["wave"], entry["reason"]) == ("b-1", 3, "stable")
    assert entry["action"] == "finalize_scoring"
    assert entry["time"].endswith("+00:00")
    assert "task_id" not in entry, "outside a task there is no task to name"


def test_exceptions_and_odd_values_still_make_one_json_line(stream: io.StringIO) -> None:
    logger = logging.getLogger("cj_worker.test")
    try:
        raise ValueError("bad data")
    except ValueError:
        logger.exception("continuation failed", extra={"batch_id": object(), "ids": {1, 2}})

    [entry] = lines(stream)
    assert "ValueError: bad data" in entry["exception"]
    assert entry["batch_id"].startswith("<object object")
    assert entry["message"] == "continuation failed"


@pytest.mark.parametrize(("setting", "json_lines"), [("json", True), ("text", False)])
def test_the_setting_chooses_the_format_of_every_handler(
    monkeypatch: pytest.MonkeyPatch, setting: str, json_lines: bool
) -> None:
    monkeypatch.setenv("CJ_LOG_FORMAT", setting)
    get_settings.cache_clear()
    logger = logging.getLogger("tests.structured_logs")
    handlers = [logging.StreamHandler(io.StringIO()), logging.StreamHandler(io.StringIO())]
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    try:
        _structured_logs(logger)
        assert [isinstance(h.formatter, JsonFormatter) for h in handlers] == [json_lines] * 2
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        get_settings.cache_clear()
