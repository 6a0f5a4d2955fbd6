"""Simulated judges: the only part of a harness run that is not production code.

They live in the core (:mod:`cj_worker.core.simulated_judge`) so that the worker's built-in
judge and the harness use one model; this module names them for harness users.
"""

from __future__ import annotations

from cj_worker.core.simulated_judge import JUDGE_PROFILES, JudgedWave, SimulatedJudge, judge_wave

__all__ = ["JUDGE_PROFILES", "JudgedWave", "SimulatedJudge", "judge_wave"]
