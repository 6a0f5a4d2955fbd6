"""Scraping a real worker (prefork, two pool processes) after it ran a batch."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.ops.conftest import ObservedBatch, http_get

pytestmark = pytest.mark.integration


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the endpoint, keyed by name and labels."""
    status, body = http_get(url)
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_the_pool_processes_counts_reach_the_scrape(observed_batch: ObservedBatch) -> None:
    status = observed_batch.status
    samples = scrape(observed_batch.deployment.metrics_url)

    assert (
        value(
            samples,
            "cj_decisions_total",
            action="request_coverage_wave",
            reason="coverage_incomplete",
        )
        >= 1
    )
    final_action = "finalize_failure" if status.state == "failed" else "finalize_scoring"
    assert status.final_reason is not None
    assert (
        value(samples, "cj_decisions_total", action=final_action, reason=status.final_reason) >= 1
    )
    assert value(samples, "cj_waves_total", mode="coverage") >= 1
    # Every judge answer went through a callback in one of the two pool processes.
    assert (
        value(samples, "cj_callbacks_total", outcome="recorded", status="succeeded")
        >= (status.succeeded)
        > 0
    )
    assert value(samples, "cj_bt_fit_seconds_count") >= 1


def test_backlogs_are_read_from_the_database_on_scrape(observed_batch: ObservedBatch) -> None:
    samples = scrape(observed_batch.deployment.metrics_url)

    assert value(samples, "cj_database_up") == 1
    assert value(samples, "cj_comparisons_pending") == 0
    assert value(samples, "cj_outbox_backlog") == 0
    assert ("cj_batches_live", frozenset({("state", "collecting")})) in samples
