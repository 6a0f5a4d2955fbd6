"""The one simulated judge: Bradley-Terry answers from known true abilities.

The worker's built-in judge task answers one comparison at a time (:func:`judge_one`, keyed
on the comparison so a redelivered request gets the same answer); the convergence harness
judges a whole wave at once (:func:`judge_wave`, drawing from one generator). Both use the
same :class:`SimulatedJudge` and the same probability, so a judge profile measured in the
harness is the judge the demo and the integration tests run.

P(A wins) = logistic(discrimination * (theta_A - theta_B) + position_bias); ``error_rate`` is
the probability that the comparison fails (no winner); ``random`` answers by a fair coin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.history import ComparisonStatus


@dataclass(frozen=True)
class SimulatedJudge:
    """One judge's behaviour (not who sends it: that is the batch's judge spec)."""

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

    def probability_a(self, ability_a: float, ability_b: float) -> float:
        """P(the essay in slot A wins)."""
        if self.random:
            return 0.5
        logit = self.discrimination * (ability_a - ability_b) + self.position_bias
        return 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0


JUDGE_PROFILES: dict[str, tuple[SimulatedJudge, ...]] = {
    "exact": (SimulatedJudge(),),
    "noisy": (SimulatedJudge(name="noisy", discrimination=0.7),),
    "posbias": (SimulatedJudge(name="posbias", position_bias=0.3),),
}
"""The judge pools of the pairing study (section 2), by the names its tables use."""


def logit_scale(judges: Sequence[SimulatedJudge], decided_by: IntArray | None = None) -> float:
    """The mean discrimination, coin flippers counting 0: the scale of the judges' logits,
    on which Bradley-Terry scores estimate ``logit_scale * abilities``. Coverage and true
    reliability are measured against the truth on this scale. Over the pool, or, given
    ``decided_by`` (a pool index per decision), over the decisions a fit used."""
    if not judges:
        return 0.0
    discrimination = np.array([0.0 if judge.random else judge.discrimination for judge in judges])
    if decided_by is None:
        return float(discrimination.mean())
    return float(discrimination[decided_by].mean()) if decided_by.size else 0.0


@dataclass(frozen=True)
class SimulatedAnswer:
    succeeded: bool
    winner: Literal["A", "B"] | None
    probability_a: float


def judge_one(
    judge: SimulatedJudge, key: Sequence[int], ability_a: float, ability_b: float
) -> SimulatedAnswer:
    """Answer one comparison; the draws are a pure function of ``key`` (non-negative ints,
    e.g. the judge's seed and the comparison id), so the same request gets the same answer."""
    rng = np.random.default_rng(list(key))
    probability_a = judge.probability_a(ability_a, ability_b)
    if rng.random() < judge.error_rate:
        return SimulatedAnswer(False, None, probability_a)
    return SimulatedAnswer(True, "A" if rng.random() < probability_a else "B", probability_a)


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
    """Judge a wave in one vectorised pass, each comparison by a judge drawn uniformly.

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
