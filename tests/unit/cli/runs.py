"""Running ``cj-worker`` in this process and checking what it printed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from celery import Celery

from cj_worker.config import get_settings

STOP_REASONS = {
    "stable",
    "budget_exhausted",
    "max_iterations",
    "small_net_resampling_cap",
    "resampling_cap",
    "no_pairs_left",
}
EXPORT_COLUMNS = [
    "rank",
    "id",
    "score",
    "se",
    "ci95_low",
    "ci95_high",
    "comparisons",
    "wins",
    "is_anchor",
    "grade",
    "confidence",
    "projected_grade",
    "infit",
    "outfit",
    "misfit",
]
COVERAGE_KEYS = (
    "max_possible_pairs",
    "successful_pairs_count",
    "unique_coverage_complete",
    "resampling_pass_count",
)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


class Runner(Protocol):
    def __call__(self, *argv: str) -> Run: ...


@dataclass(frozen=True)
class DemoBatch:
    """A batch the demo ran, with the database it is in and the JSON the demo printed."""

    url: str
    batch_id: str
    output: dict[str, Any]


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("CJ_DATABASE_URL", url)
    get_settings.cache_clear()


def queued(app: Celery, queue: str) -> int:
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        try:
            return int(simple.qsize())
        finally:
            simple.close()


def assert_one_line_error(result: Run, *, contains: str, code: int | None = None) -> str:
    assert result.code != 0
    if code is not None:
        assert result.code == code
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("cj-worker: error: ")
    assert contains in lines[0]
    assert result.out == ""
    return lines[0]
