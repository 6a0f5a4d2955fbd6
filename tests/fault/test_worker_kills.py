"""SIGKILL a worker (main process and pool) at each step of continuation and finalization.

Each crash point strikes once, at a chosen wave of the batch; the supervisor restarts the
dead worker a second later, while the other control worker carries on. Whatever the step,
nothing is lost or doubled: the batch ends with every invariant, no comparison booked as
failed, the fault-free run's scores, and it moved again within 30 s of every kill.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fault.checks import (
    assert_fault_free_result,
    assert_invariants,
    batch_request,
    progress_after,
    struck_at,
    wait_delivered,
    wait_terminal,
)
from tests.fault.cluster import Cluster

pytestmark = pytest.mark.fault

RECOVERY_TARGET_SECONDS = 30.0
"""After a SIGKILL the batch makes progress again within this, with default settings."""

CONTINUATION_STEPS: list[tuple[str, dict[str, Any]]] = [
    ("continuation.before_decision", {"wave": 1}),
    ("continuation.before_commit", {"wave": 2}),
    ("continuation.after_commit", {"wave": 3}),  # the wave committed, no request sent
    ("continuation.send", {"wave": 4, "index": 2}),  # two requests sent, the rest not
    ("continuation.after_send", {"wave": 5}),  # every request sent, none counted
    ("callback.after_commit", {"wave": 6}),  # the wave's last answer stored, no trigger
]
FINALIZATION_STEPS: list[tuple[str, dict[str, Any]]] = [
    ("finalize.before_commit", {}),
    ("finalize.after_commit", {}),  # finalized, the relay never nudged
    ("relay.after_send", {}),  # the result event sent, not marked sent
]


def run_with_kills(
    cluster: Cluster, directory: Path, steps: list[tuple[str, dict[str, Any]]]
) -> list[float]:
    """Run the scenario batch with one worker kill per step; returns the recovery times."""
    request = batch_request()
    batch = str(request.batch_id)
    deaths_before = sum(cluster.deaths().values())
    markers = cluster.plan(
        [
            {"point": point, "match": {"batch_id": batch, **match}}
            if not point.startswith("relay")
            else {"point": point}
            for point, match in steps
        ]
    )
    cluster.submit(
        request,
        result_task="producer.on_result",
        result_queue=f"fault.results.{uuid.uuid4().hex[:8]}",
    )
    ended = wait_terminal(cluster.database_url, request.batch_id, timeout=240)
    wait_delivered(cluster.database_url, request.batch_id, timeout=60)

    assert_invariants(cluster.database_url, request.batch_id, judge_silenced=False)
    assert (ended.failed, ended.timed_out) == (0, 0)
    assert_fault_free_result(cluster.database_url, request, directory, ended)
    recoveries = [
        progress_after(cluster.database_url, request.batch_id, struck_at(marker))
        for marker in markers
    ]
    assert sum(cluster.deaths().values()) - deaths_before >= len(markers), "workers died"
    print(
        "recovery after each kill (s):",
        {point: round(seconds, 1) for (point, _), seconds in zip(steps, recoveries, strict=True)},
    )
    return recoveries


def test_a_worker_killed_at_each_step_of_continuation_loses_nothing(
    armed: Cluster, fault_directory: Path
) -> None:
    recoveries = run_with_kills(armed, fault_directory, CONTINUATION_STEPS)
    assert max(recoveries) <= RECOVERY_TARGET_SECONDS


def test_a_worker_killed_at_each_step_of_finalization_loses_nothing(
    armed: Cluster, fault_directory: Path
) -> None:
    recoveries = run_with_kills(armed, fault_directory, FINALIZATION_STEPS)
    assert max(recoveries) <= RECOVERY_TARGET_SECONDS


def test_without_faults_the_cluster_gives_the_embedded_run_s_scores(
    armed: Cluster, fault_directory: Path
) -> None:
    """The baseline every scenario compares to: the same request, no faults, same scores."""
    request = batch_request()
    armed.submit(request)
    ended = wait_terminal(armed.database_url, request.batch_id, timeout=120)

    assert_invariants(armed.database_url, request.batch_id, judge_silenced=False)
    assert (ended.failed, ended.timed_out) == (0, 0)
    assert_fault_free_result(armed.database_url, request, fault_directory, ended)
