"""Simulated judges: the only part of a harness run that is not production code.

A judge answers "is the essay in slot A better?" from the true abilities with a
Bradley-Terry-shaped probability, so the engine's own model is correct up to the judge's
noise (discrimination), its slot preference (position bias), its failures (error rate) and,
for an unreliable judge, no signal at all (coin flip). Every comparison of a wave goes to a
judge drawn uniformly at random, as a pool of interchangeable judges would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from cj_worker.core.history import ComparisonStatus

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class SimulatedJudge:
    """One judge: P(A wins) = logistic(discrimination * (theta_A - theta_B) + position_bias).

    ``error_rate`` is the probability that a comparison FAILS (no winner, the engine sees a
    failed attempt); ``random`` makes the judge answer by a fair coin whatever the essays.
    """

    name: str = "exact"
    discrimination: float = 1.0
    position_bias: float = 0.0
    error_rate: float = 0.0
    random: bool = False

    def __post_init__(self) -> None:
        if not np.isfinite(self.discrimination) or self.discrimination < 0:
            raise ValueError(f"discrimination must be finite and >= 0, got {self.discrimination}")
        if not np.isfinite(self.position_bias):
            raise ValueError(f"position_bias must be finite, got {self.position_bias}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must lie in [0, 1], got {self.error_rate}")


JUDGE_PROFILES: dict[str, tuple[SimulatedJudge, ...]] = {
    "exact": (SimulatedJudge(),),
    "noisy": (SimulatedJudge(name="noisy", discrimination=0.7),),
    "posbias": (SimulatedJudge(name="posbias", position_bias=0.3),),
}
"""The judge pools of the pairing study (section 2), by the names its tables use."""


@dataclass(frozen=True)
class JudgedWave:
    """The outcome of one wave, as the parallel arrays ``ComparisonHistory.extended`` takes."""

    slot_a: IntArray
    slot_b: IntArray
    status: NDArray[np.int8]
    a_won: NDArray[np.bool_]
    judge: IntArray
    """Index of the judge (in the pool) that answered each comparison."""


def judge_wave(
    slot_a: IntArray,
    slot_b: IntArray,
    abilities: FloatArray,
    judges: tuple[SimulatedJudge, ...],
    rng: np.random.Generator,
) -> JudgedWave:
    """Judge a wave in one vectorised pass (no per-comparison Python work).

    The draws are made in a fixed order (judge, failure, outcome) for every comparison so a
    run is reproducible from the judges' generator alone.
    """
    if not judges:
        raise ValueError("at least one judge is needed")
    slot_a = np.asarray(slot_a, dtype=np.intp)
    slot_b = np.asarray(slot_b, dtype=np.intp)
    size = slot_a.size
    chosen = rng.integers(len(judges), size=size).astype(np.intp)
    failure_draw = rng.random(size)
    outcome_draw = rng.random(size)

    discrimination = np.array([j.discrimination for j in judges])[chosen]
    bias = np.array([j.position_bias for j in judges])[chosen]
    error_rate = np.array([j.error_rate for j in judges])[chosen]
    coin = np.array([j.random for j in judges], dtype=bool)[chosen]

    p_a = expit(discrimination * (abilities[slot_a] - abilities[slot_b]) + bias)
    p_a = np.where(coin, 0.5, p_a)
    failed = failure_draw < error_rate
    a_won = (outcome_draw < p_a) & ~failed
    status = np.where(failed, ComparisonStatus.FAILED, ComparisonStatus.SUCCEEDED).astype(np.int8)
    return JudgedWave(slot_a, slot_b, status, a_won, chosen)
