"""The built-in simulated judge: Bradley-Terry answers from known true scores.

Used by the demo, the integration tests and anyone load-testing a deployment. Each answer
is a pure function of the judge's seed and the comparison id, so a redelivered request
gets the same answer and runs are reproducible.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cj_worker.payloads import SimulatedJudge


@dataclass(frozen=True)
class SimulatedAnswer:
    succeeded: bool
    winner: Literal["A", "B"] | None
    probability_a: float


def judge(
    spec: SimulatedJudge, comparison_id: uuid.UUID, score_a: float, score_b: float
) -> SimulatedAnswer:
    """P(A wins) = logistic(discrimination * (score_a - score_b) + position_bias)."""
    rng = np.random.default_rng([spec.seed, *divmod(comparison_id.int, 2**64)])
    logit = spec.discrimination * (score_a - score_b) + spec.position_bias
    probability_a = 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0
    if rng.random() < spec.error_rate:
        return SimulatedAnswer(False, None, probability_a)
    return SimulatedAnswer(True, "A" if rng.random() < probability_a else "B", probability_a)
