"""Judges that go silent, lose a wave, die, or kill every worker that runs a request.

The comparison ids of the batch are known before it runs (they are a pure function of
batch, wave and pair; the fault-free run computes them), so a fault can be aimed at one
comparison or at a whole wave:

- a judge outage during a late wave and a late wave lost in transit are repaired by
  re-sends: nothing is booked failed and the scores are the fault-free run's, and the
  batch never stops ``stable`` on the silence;
- a dead judge ends the batch ``judge_failed_wave`` within two re-send deadlines;
- a request that kills its worker process each time is run a bounded number of times,
  then timed out as the one failed comparison, and the batch still ends.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cj_worker.config import Settings
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Comparison, DecisionRow
from cj_worker.db.states import ComparisonRowStatus
from cj_worker.tasks.judging import SIMULATED_WORKER_LOST_RETRIES
from tests.fault.checks import (
    assert_fault_free_result,
    assert_invariants,
    batch_request,
    fault_free_comparisons,
    wait_terminal,
)
from tests.fault.cluster import Cluster
from tests.fault.test_service_restarts import wait_for_wave

pytestmark = pytest.mark.fault

DEFAULTS = Settings(database_url="sqlite://")
DEADLINE = DEFAULTS.resend_simulated_after_seconds
"""The simulated judge's default re-send deadline."""
LATE_WAVE = 6


def late_wave(waves: dict[int, list[str]]) -> int:
    """A late wave of the fault-free run with at least three comparisons."""
    candidates = [wave for wave, ids in waves.items() if wave >= LATE_WAVE and len(ids) >= 3]
    return min(candidates) if candidates else max(waves)


def test_a_judge_outage_during_a_late_wave_costs_nothing(
    armed: Cluster, fault_directory: Path
) -> None:
    """The judge worker is frozen for longer than the re-send deadline, then thaws."""
    request = batch_request()
    wave = late_wave(fault_free_comparisons(request, fault_directory))
    judge = armed.processes["judge"]
    armed.submit(request)
    wait_for_wave(armed.database_url, request.batch_id, wave)
    judge.signal_group(signal.SIGSTOP)
    time.sleep(DEADLINE * 0.8)
    judge.signal_group(signal.SIGCONT)

    ended = wait_terminal(armed.database_url, request.batch_id, timeout=180)

    assert_invariants(armed.database_url, request.batch_id, judge_silenced=False)
    assert (ended.failed, ended.timed_out) == (0, 0)
    assert_fault_free_result(armed.database_url, request, fault_directory, ended)


def test_a_late_wave_lost_in_transit_is_sent_again_not_decided_empty(
    armed: Cluster, fault_directory: Path
) -> None:
    """Every request of a late wave vanishes once: the wave must not be read as stable."""
    request = batch_request()
    waves = fault_free_comparisons(request, fault_directory)
    wave = late_wave(waves)
    armed.plan(
        [
            {"point": "judge.judge", "match": {"comparison_id": comparison}, "action": "drop"}
            for comparison in waves[wave]
        ]
    )
    armed.submit(request)

    ended = wait_terminal(armed.database_url, request.batch_id, timeout=180)

    assert_invariants(armed.database_url, request.batch_id, judge_silenced=False)
    assert (ended.failed, ended.timed_out) == (0, 0)
    with session_scope(armed.database_url) as session:
        sends = list(
            session.scalars(
                sa.select(Comparison.sends).where(
                    Comparison.batch_id == request.batch_id, Comparison.wave == wave
                )
            )
        )
    assert sends, "the wave was dispatched"
    assert all(count == 2 for count in sends), "the whole wave was re-sent once"
    assert_fault_free_result(armed.database_url, request, fault_directory, ended)


def test_a_dead_judge_ends_the_batch_within_two_re_send_deadlines(
    armed: Cluster, fault_directory: Path
) -> None:
    """From wave 3 on every request kills the judge worker; nobody restarts it."""
    request = batch_request()
    waves = fault_free_comparisons(request, fault_directory)
    dying: list[dict[str, Any]] = [
        {"point": "judge.judge", "match": {"comparison_id": comparison}, "once": False}
        for wave, ids in waves.items()
        if wave >= 3
        for comparison in ids
    ]
    with armed.unsupervised():
        armed.plan(dying)
        armed.submit(request)
        ended = wait_terminal(armed.database_url, request.batch_id, timeout=120)
        assert not armed.processes["judge"].alive, "the judge died"

    assert_invariants(armed.database_url, request.batch_id, judge_silenced=True)
    assert (ended.state.value, ended.final_reason) == ("failed", "judge_failed_wave")
    assert ended.waves == 3
    assert ended.timed_out == len(waves[3])
    with session_scope(armed.database_url) as session:
        dispatched = session.scalar(
            sa.select(DecisionRow.created_at).where(
                DecisionRow.batch_id == request.batch_id, DecisionRow.wave == 2
            )
        )
    assert dispatched is not None
    assert ended.finished_at is not None
    took = (ended.finished_at - dispatched).total_seconds()
    print(f"dead judge: the batch ended {took:.1f} s after the wave was sent")
    assert took <= 2 * DEADLINE + DEFAULTS.sweep_interval_seconds


def test_a_request_that_kills_its_worker_every_time_is_bounded(
    armed: Cluster, fault_directory: Path
) -> None:
    request = batch_request()
    [poison, *_] = fault_free_comparisons(request, fault_directory)[2]
    strikes = fault_directory / f"strikes-{request.batch_id}"
    armed.plan(
        [
            {
                "point": "judge.judge",
                "match": {"comparison_id": poison},
                "once": False,
                "action": "kill_process",
                "record": str(strikes),
            }
        ]
    )
    armed.submit(request)

    ended = wait_terminal(armed.database_url, request.batch_id, timeout=180)

    assert_invariants(armed.database_url, request.batch_id, judge_silenced=True)
    assert ended.state.value == "completed"
    with session_scope(armed.database_url) as session:
        failed = list(
            session.scalars(
                sa.select(Comparison.id).where(
                    Comparison.batch_id == request.batch_id,
                    Comparison.status == ComparisonRowStatus.TIMED_OUT,
                )
            )
        )
    assert [str(comparison) for comparison in failed] == [poison]
    runs = len(strikes.read_text().splitlines())
    bound = (SIMULATED_WORKER_LOST_RETRIES + 1) * (DEFAULTS.judge_max_resends + 1)
    print(f"poison request: {runs} runs, each killing its process (bound {bound})")
    assert 2 <= runs <= bound
