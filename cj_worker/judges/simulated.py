"""The built-in simulated judge task's answer: the core's one simulated judge, keyed on the
comparison.

Each answer is a pure function of the judge's seed and the comparison id (itself derived
from the batch, wave and essays), so a redelivered request gets the same answer and runs
are reproducible.
"""

from __future__ import annotations

import uuid

from cj_worker.core.simulated_judge import SimulatedAnswer, SimulatedJudge, judge_one
from cj_worker.payloads import SimulatedJudge as SimulatedJudgeSpec

__all__ = ["SimulatedAnswer", "judge"]


def judge(
    spec: SimulatedJudgeSpec, comparison_id: uuid.UUID, score_a: float, score_b: float
) -> SimulatedAnswer:
    """P(A wins) = logistic(discrimination * (score_a - score_b) + position_bias)."""
    model = SimulatedJudge(
        name=f"simulated:{spec.seed}",
        discrimination=spec.discrimination,
        position_bias=spec.position_bias,
        error_rate=spec.error_rate,
    )
    return judge_one(model, (spec.seed, *divmod(comparison_id.int, 2**64)), score_a, score_b)
