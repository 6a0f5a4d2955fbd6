"""``cj_worker.metrics``: counting on commit, backlogs read at scrape, the server's refusals."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from cj_worker import metrics
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_factory, session_scope
from cj_worker.db.models import OutboxEvent
from cj_worker.db.states import BatchState, ComparisonRowStatus, OutboxEventType
from tests.factories import add_comparison, make_batch


def samples(families: list[Metric]) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in families
        for sample in family.samples
    }


# ------------------------------------------------------------------------- on commit


def test_an_action_runs_when_the_transaction_commits(database_url: str) -> None:
    ran: list[str] = []
    with session_scope(database_url) as session:
        metrics.on_commit(session, lambda: ran.append("committed"))
        # A savepoint that rolls back does not drop what the transaction will commit.
        with session.begin_nested() as savepoint:
            savepoint.rollback()
        assert ran == []
    assert ran == ["committed"]


def test_an_action_of_a_rolled_back_transaction_never_runs(database_url: str) -> None:
    ran: list[str] = []
    with session_factory(database_url)() as session:
        with session.begin():
            metrics.on_commit(session, lambda: ran.append("rolled back"))
            session.rollback()
        with session.begin():  # the same session commits something else later
            pass

    def failing_task() -> None:
        with session_scope(database_url) as session:
            metrics.on_commit(session, lambda: ran.append("raised"))
            raise RuntimeError("the task failed")

    with pytest.raises(RuntimeError):
        failing_task()
    assert ran == []


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
