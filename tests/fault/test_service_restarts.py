"""The broker and the database die mid-wave and come back (the workers are not restarted),
and a batch row stays locked past the lock timeout.

No supervisor runs during these tests: every worker and the beat must outlive the outage
on their own (a broker restart used to end workers on kombu's ``restore_unacked``). Redis
restarts empty (no persistence: every queued message is gone); RabbitMQ restarts with its
quorum queues. Either way the batch ends as the fault-free run did, nothing is booked
failed, and it moves again within 30 s of the server coming back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from cj_worker.config import Settings
from cj_worker.db.engine import get_engine, session_scope
from cj_worker.db.models import Batch
from cj_worker.db.repositories import lock_batch
from tests.fault.checks import (
    assert_fault_free_result,
    assert_invariants,
    batch_request,
    progress_after,
    wait_terminal,
)
from tests.fault.cluster import Cluster
from tests.fault.conftest import Broker
from tests.fault.services import PrivatePostgres

pytestmark = pytest.mark.fault

RECOVERY_TARGET_SECONDS = 30.0
DOWN_SECONDS = 5.0
"""How long the server stays down."""


def wait_for_wave(database_url: str, batch_id: uuid.UUID, wave: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(database_url) as session:
            batch = session.get(Batch, batch_id)
            if batch is not None and batch.current_wave >= wave:
                return
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} never reached wave {wave}")


def restart_mid_wave(
    cluster: Cluster,
    directory: Path,
    kill: Callable[[], None],
    start: Callable[[], None],
) -> float:
    """Run the scenario batch, killing and restarting a server at wave 3; returns the
    seconds from the server's return to the batch's next step."""
    request = batch_request()
    with cluster.unsupervised():
        deaths = cluster.deaths()
        cluster.submit(request)
        wait_for_wave(cluster.database_url, request.batch_id, 3)
        kill()
        get_engine(cluster.database_url).dispose()
        time.sleep(DOWN_SECONDS)
        start()
        back = time.time()
        ended = wait_terminal(cluster.database_url, request.batch_id, timeout=240)
        assert cluster.deaths() == deaths, "a worker or the beat did not outlive the outage"
        assert all(process.alive for process in cluster.processes.values())

    assert_invariants(cluster.database_url, request.batch_id, judge_silenced=False)
    assert (ended.failed, ended.timed_out) == (0, 0)
    assert_fault_free_result(cluster.database_url, request, directory, ended)
    recovery = progress_after(cluster.database_url, request.batch_id, back)
    print(f"progress {recovery:.1f} s after the server came back")
    return recovery


def test_workers_outlive_a_broker_restart_and_the_batch_ends_as_without_it(
    armed: Cluster, broker: Broker, fault_directory: Path
) -> None:
    recovery = restart_mid_wave(armed, fault_directory, broker.kill, broker.start)
    assert recovery <= RECOVERY_TARGET_SECONDS


def test_workers_outlive_a_database_restart_and_the_batch_ends_as_without_it(
    armed: Cluster, private_postgres: PrivatePostgres, fault_directory: Path
) -> None:
    recovery = restart_mid_wave(
        armed, fault_directory, private_postgres.kill, private_postgres.start
    )
    assert recovery <= RECOVERY_TARGET_SECONDS


def test_a_batch_row_locked_past_the_lock_timeout_loses_no_answer(
    armed: Cluster, fault_directory: Path
) -> None:
    """A transaction holds the batch row for twice ``db_lock_timeout_seconds`` mid-wave:
    the callbacks waiting for it give up, retry with backoff and record every answer."""
    request = batch_request()
    hold = 2 * Settings(database_url="sqlite://").db_lock_timeout_seconds
    armed.submit(request)
    wait_for_wave(armed.database_url, request.batch_id, 3)
    with session_scope(armed.database_url) as session:
        assert lock_batch(session, request.batch_id) is not None
        time.sleep(hold)
    released = time.time()

    ended = wait_terminal(armed.database_url, request.batch_id, timeout=180)

    assert_invariants(armed.database_url, request.batch_id, judge_silenced=False)
    assert (ended.failed, ended.timed_out) == (0, 0)
    assert_fault_free_result(armed.database_url, request, fault_directory, ended)
    recovery = progress_after(armed.database_url, request.batch_id, released)
    print(f"progress {recovery:.1f} s after a {hold} s lock was released")
    assert recovery <= RECOVERY_TARGET_SECONDS
