"""The Grafana dashboard queries metrics the workers actually export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import prometheus_client

from cj_worker import metrics

ROOT = Path(__file__).resolve().parents[3]
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_names(database_url: str) -> set[str]:
    """Every series name of ``cj_worker.metrics``, observed or not."""
    families = [
        family for family in prometheus_client.REGISTRY.collect() if family.name.startswith("cj_")
    ]
    families += list(metrics.DatabaseCollector(database_url).collect())
    return {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}


def test_every_panel_queries_an_exported_metric(database_url: str) -> None:
    dashboard: dict[str, Any] = json.loads((ROOT / "ops/grafana/cj-worker.json").read_text())
    exported = exported_names(database_url)
    queried: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            queried |= set(re.findall(r"\bcj_[a-z_]+", target["expr"]))
    assert queried
    assert queried <= exported, sorted(queried - exported)
    required = {
        "cj_decisions_total",
        "cj_waves_total",
        "cj_callbacks_total",
        "cj_batch_duration_seconds_bucket",
        "cj_bt_fit_seconds_bucket",
        "cj_batch_ssr_bucket",
        "cj_comparisons_pending",
        "cj_outbox_backlog",
    }
    assert required <= queried, sorted(required - queried)
