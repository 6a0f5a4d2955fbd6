"""``cj_worker.metrics``: counting on commit, observations, backlogs read at scrape, the
server's refusals."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.core import Metric

from cj_worker import metrics
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import OutboxEvent
from cj_worker.db.states import BatchState, ComparisonRowStatus, OutboxEventType
from tests.builders.db import add_comparison, make_batch


def samples(families: list[Metric]) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in families
        for sample in family.samples
    }


# ---------------------------------------------------------------------- observations


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_decision_observation_counts_the_decision_and_the_wave_it_dispatches() -> None:
    decisions = ("cj_decisions_total", {"action": "request_coverage_wave", "reason": "test"})
    waves = ("cj_waves_total", {"mode": "coverage"})
    before = sample(decisions[0], **decisions[1]), sample(waves[0], **waves[1])

    metrics.DecisionTaken("request_coverage_wave", "test", "coverage").record()
    metrics.DecisionTaken("request_coverage_wave", "test").record()  # no wave

    after = sample(decisions[0], **decisions[1]), sample(waves[0], **waves[1])
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)


@pytest.mark.parametrize(
    ("observation", "name", "labels", "change"),
    [
        (
            metrics.CallbackAnswered("recorded", "failed"),
            "cj_callbacks_total",
            {"outcome": "recorded", "status": "failed"},
            1,
        ),
        (metrics.SweepActed("timed_out", 3), "cj_sweep_actions_total", {"action": "timed_out"}, 3),
        (
            metrics.BatchFinalized("failed", 12.0, None),
            "cj_batch_duration_seconds_count",
            {"state": "failed"},
            1,
        ),
    ],
)
def test_each_observation_records_its_event(
    observation: metrics.Observation, name: str, labels: dict[str, str], change: float
) -> None:
    before = sample(name, **labels)
    observation.record()
    assert sample(name, **labels) - before == change


def test_observations_are_values_so_effects_can_be_compared() -> None:
    assert metrics.SweepActed("stalled") == metrics.SweepActed("stalled", 1)
    assert metrics.CallbackAnswered("duplicate", "succeeded") != metrics.CallbackAnswered(
        "recorded", "succeeded"
    )


# ------------------------------------------------------------------------- backlogs


def test_the_backlog_gauges_count_what_waits_in_unfinished_batches(database_url: str) -> None:
    with session_scope(database_url) as session:
        live = make_batch(session, 4)
        add_comparison(session, live, 0, 1, status=ComparisonRowStatus.PENDING)
        old = add_comparison(session, live, 2, 3, status=ComparisonRowStatus.PENDING)
        old.created_at = utc_now() - timedelta(minutes=10)
        add_comparison(session, live, 0, 2)
        make_batch(session, 3, state=BatchState.SCORING)
        done = make_batch(session, 2, state=BatchState.COMPLETED)
        add_comparison(session, done, 0, 1, status=ComparisonRowStatus.PENDING)
        for batch, sent in ((done, None), (live, utc_now())):
            session.add(
                OutboxEvent(
                    batch_id=batch.id,
                    event_type=OutboxEventType.BATCH_COMPLETED,
                    task_name="producer.on_result",
                    queue="cj.results",
                    payload={},
                    sent_at=sent,
                    created_at=utc_now() - timedelta(minutes=2),
                )
            )

    figures = samples(list(metrics.DatabaseCollector(database_url).collect()))

    assert figures[("cj_database_up", ())] == 1
    assert figures[("cj_comparisons_pending", ())] == 2, "the finished batch's row is not waiting"
    assert 590 < figures[("cj_comparisons_pending_oldest_age_seconds", ())] < 660
    assert figures[("cj_outbox_backlog", ())] == 1
    assert 110 < figures[("cj_outbox_oldest_age_seconds", ())] < 180
    assert figures[("cj_batches_live", ("created",))] == 0
    assert figures[("cj_batches_live", ("collecting",))] == 1
    assert figures[("cj_batches_live", ("scoring",))] == 1


def test_nothing_waiting_reads_as_zero_ages(database_url: str) -> None:
    figures = samples(list(metrics.DatabaseCollector(database_url).collect()))
    assert figures[("cj_comparisons_pending_oldest_age_seconds", ())] == 0
    assert figures[("cj_outbox_oldest_age_seconds", ())] == 0


def test_an_unreachable_database_is_reported_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg2://nobody@127.0.0.1:{port}/none"

    figures = samples(list(metrics.DatabaseCollector(url).collect()))

    assert figures == {("cj_database_up", ()): 0}
    assert "cannot read the database" in caplog.text


# --------------------------------------------------------------------------- server


def test_a_prefork_worker_without_a_multiprocess_directory_serves_no_zeros(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_DIR_ENV, raising=False)
    with caplog.at_level(logging.ERROR, logger="cj_worker.metrics"):
        assert not metrics.serve_worker_metrics(1, "sqlite://", tasks_in_child_processes=True)
    assert metrics.MULTIPROC_DIR_ENV in caplog.text


def test_a_busy_port_leaves_the_worker_running_without_metrics(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_DIR_ENV, str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="cj_worker.metrics"):
            assert not metrics.serve_worker_metrics(port, "sqlite://", True)
    assert f"cannot listen on port {port}" in caplog.text


def test_starting_the_cli_leaves_prometheus_client_unimported() -> None:
    """``cj-worker worker`` must set PROMETHEUS_MULTIPROC_DIR before prometheus_client is
    imported (it picks its mode then): nothing the CLI imports may import it."""
    code = "import sys, cj_worker.cli; print('prometheus_client' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
