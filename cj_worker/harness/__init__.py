"""Convergence harness: synthetic nets through the engine's own pairing, BT and decision.

Only the judges and the message transport are simulated; see :mod:`.runner`. Imports
``cj_worker.core`` and ``cj_worker.config`` only (SPEC section 11), never the database,
Celery or the tasks.
"""

from cj_worker.core.reliability import split_half_reliability
from cj_worker.harness.analysis import KNeeded, PairedDifference, k_needed, paired_differences
from cj_worker.harness.config import HarnessConfig, budget_for, trajectory_settings
from cj_worker.harness.judges import JUDGE_PROFILES, SimulatedJudge
from cj_worker.harness.result import HarnessResult, TrajectoryPoint, cap_label
from cj_worker.harness.runner import run_harness
from cj_worker.harness.sweep import SweepRow, run_sweep, write_csv

__all__ = [
    "JUDGE_PROFILES",
    "HarnessConfig",
    "HarnessResult",
    "KNeeded",
    "PairedDifference",
    "SimulatedJudge",
    "SweepRow",
    "TrajectoryPoint",
    "budget_for",
    "cap_label",
    "k_needed",
    "paired_differences",
    "run_harness",
    "run_sweep",
    "split_half_reliability",
    "trajectory_settings",
    "write_csv",
]
