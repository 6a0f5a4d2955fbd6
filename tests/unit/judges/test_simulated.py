"""The simulated judge: reproducible Bradley-Terry answers with bias and errors."""

from __future__ import annotations

import math
import uuid

import pytest

from cj_worker.judges.simulated import SimulatedAnswer, judge
from cj_worker.payloads import SimulatedJudge

IDS = [uuid.UUID(int=(2654435761 * i) % 2**128) for i in range(1, 4001)]
"""Fixed comparison ids, so every run draws the same answers."""


def a_win_rate(spec: SimulatedJudge, score_a: float, score_b: float) -> float:
    answers = [judge(spec, comparison_id, score_a, score_b) for comparison_id in IDS]
    return sum(answer.winner == "A" for answer in answers) / len(answers)


def test_the_answer_is_a_function_of_the_seed_and_the_comparison_id() -> None:
    spec = SimulatedJudge(error_rate=0.3, seed=4)
    first = [judge(spec, comparison_id, 0.2, 0.0) for comparison_id in IDS[:200]]
    again = [judge(spec, comparison_id, 0.2, 0.0) for comparison_id in IDS[:200]]
    assert first == again, "a redelivered request gets the same answer"
    other_seed = [judge(SimulatedJudge(error_rate=0.3, seed=5), c, 0.2, 0.0) for c in IDS[:200]]
    assert other_seed != first
    assert len({answer.winner for answer in first}) == 3, "A, B and failures all occur"


def test_the_probability_is_the_bradley_terry_one() -> None:
    spec = SimulatedJudge(discrimination=2.0, position_bias=0.5)
    answer = judge(spec, IDS[0], 1.0, 0.25)
    assert answer.probability_a == pytest.approx(1 / (1 + math.exp(-(2.0 * 0.75 + 0.5))))


def test_error_rate_1_always_fails() -> None:
    spec = SimulatedJudge(error_rate=1.0)
    answers = {judge(spec, comparison_id, 5.0, -5.0) for comparison_id in IDS[:500]}
    assert {(answer.succeeded, answer.winner) for answer in answers} == {(False, None)}


def test_error_rate_0_never_fails() -> None:
    answers = [judge(SimulatedJudge(), comparison_id, 0.0, 0.0) for comparison_id in IDS]
    assert all(answer.succeeded and answer.winner in ("A", "B") for answer in answers)


def test_an_error_rate_fails_about_that_share() -> None:
    spec = SimulatedJudge(error_rate=0.25, seed=9)
    failed = sum(not judge(spec, c, 0.0, 0.0).succeeded for c in IDS) / len(IDS)
    assert failed == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize(("score_a", "score_b", "winner"), [(0.5, 0.0, "A"), (-0.5, 0.0, "B")])
def test_a_huge_discrimination_always_picks_the_better_essay(
    score_a: float, score_b: float, winner: str
) -> None:
    spec = SimulatedJudge(discrimination=100.0, seed=2)
    assert {judge(spec, c, score_a, score_b).winner for c in IDS[:1000]} == {winner}


def test_equal_essays_split_evenly() -> None:
    assert a_win_rate(SimulatedJudge(seed=1), 0.3, 0.3) == pytest.approx(0.5, abs=0.03)


def test_the_better_essay_wins_at_the_bradley_terry_rate() -> None:
    rate = a_win_rate(SimulatedJudge(seed=1), 1.0, 0.0)
    assert rate == pytest.approx(1 / (1 + math.exp(-1.0)), abs=0.03)


def test_position_bias_shifts_the_win_rate_of_slot_a() -> None:
    unbiased = a_win_rate(SimulatedJudge(seed=6), 0.0, 0.0)
    biased = a_win_rate(SimulatedJudge(seed=6, position_bias=1.0), 0.0, 0.0)
    against = a_win_rate(SimulatedJudge(seed=6, position_bias=-1.0), 0.0, 0.0)

    assert biased - unbiased > 0.15
    assert unbiased - against > 0.15
    assert biased == pytest.approx(1 / (1 + math.exp(-1.0)), abs=0.03)


def test_extreme_logits_do_not_overflow() -> None:
    spec = SimulatedJudge(discrimination=100.0)
    assert judge(spec, IDS[0], -100.0, 100.0) == SimulatedAnswer(True, "B", 0.0)
    high = judge(spec, IDS[0], 100.0, -100.0)
    assert (high.winner, high.probability_a) == ("A", 1.0)
