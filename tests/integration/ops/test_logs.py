"""A real worker logs one JSON object per line; decisions carry batch, wave and reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.ops.conftest import ObservedBatch

pytestmark = pytest.mark.integration


def json_lines(text: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            assert isinstance(entry, dict)
            entries.append(entry)
    return entries


def test_every_decision_line_has_batch_wave_and_reason(observed_batch: ObservedBatch) -> None:
    entries = json_lines(observed_batch.deployment.worker.log())
    batch_id = str(observed_batch.batch_id)

    decisions = [
        e for e in entries if e["message"].startswith("decision") and e.get("batch_id") == batch_id
    ]
    waves = [d.wave for d in observed_batch.status.decisions]
    assert sorted(entry["wave"] for entry in decisions) == waves
    for entry in decisions:
        assert entry["logger"] == "cj_worker"
        assert entry["task_name"] == "cj.continue_batch"
        assert entry["reason"]
        assert entry["action"]
    assert decisions[-1]["reason"] == observed_batch.status.final_reason
    # Celery's own lines are JSON too: one format per stream for the log shipper.
    assert any("ready." in entry["message"] for entry in entries)
