"""Simulated judges answer with the configured noise, bias and failure rate."""

from __future__ import annotations

import numpy as np
import pytest

from cj_worker.core.history import ComparisonStatus
from cj_worker.core.simulated_judge import SimulatedJudge, judge_one, judge_wave
from cj_worker.harness.metrics import accuracy

SIZE = 40_000


def _wave(judges: tuple[SimulatedJudge, ...], gap: float) -> tuple[float, float]:
    """(share of A wins among successes, share failed) for A better by ``gap`` logits."""
    abilities = np.array([gap, 0.0])
    a = np.zeros(SIZE, dtype=np.intp)
    b = np.ones(SIZE, dtype=np.intp)
    judged = judge_wave(a, b, abilities, judges, np.random.default_rng(0))
    ok = judged.status == ComparisonStatus.SUCCEEDED
    return float(judged.a_won[ok].mean()), float(1.0 - ok.mean())


def test_exact_judge_follows_bradley_terry() -> None:
    share, failed = _wave((SimulatedJudge(),), 1.0)
    assert share == pytest.approx(1 / (1 + np.exp(-1.0)), abs=0.01)
    assert failed == 0.0


def test_noise_bias_errors_and_coin_flips() -> None:
    assert _wave((SimulatedJudge(discrimination=0.5),), 2.0)[0] == pytest.approx(
        1 / (1 + np.exp(-1.0)), abs=0.01
    )
    assert _wave((SimulatedJudge(position_bias=1.0),), 0.0)[0] == pytest.approx(
        1 / (1 + np.exp(-1.0)), abs=0.01
    )
    assert _wave((SimulatedJudge(random=True),), 5.0)[0] == pytest.approx(0.5, abs=0.01)
    assert _wave((SimulatedJudge(error_rate=0.25),), 0.0)[1] == pytest.approx(0.25, abs=0.01)


def test_pool_draws_judges_uniformly() -> None:
    judges = (SimulatedJudge(name="good"), SimulatedJudge(name="coin", random=True))
    judged = judge_wave(
        np.zeros(SIZE, np.intp),
        np.ones(SIZE, np.intp),
        np.array([3.0, 0.0]),
        judges,
        np.random.default_rng(1),
    )
    assert np.mean(judged.judge == 1) == pytest.approx(0.5, abs=0.01)
    assert judged.a_won[judged.judge == 1].mean() == pytest.approx(0.5, abs=0.02)
    assert judged.a_won[judged.judge == 0].mean() > 0.9
    assert not judged.a_won[judged.status == ComparisonStatus.FAILED].any()


def test_invalid_judges_are_rejected() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        SimulatedJudge(error_rate=1.5)
    with pytest.raises(ValueError, match="discrimination"):
        SimulatedJudge(discrimination=-1.0)


def test_accuracy_metrics() -> None:
    truth = np.array([-1.0, 0.0, 0.5, 2.0])
    perfect = accuracy(truth + 3.0, truth)
    assert perfect.spearman == perfect.kendall == pytest.approx(1.0)
    assert perfect.true_reliability == pytest.approx(1.0)
    assert perfect.rmse == pytest.approx(0.0, abs=1e-12)
    flat = accuracy(np.zeros(4), truth)
    assert np.isnan(flat.spearman)
    assert flat.rmse > 0


def test_the_worker_and_the_harness_answer_with_one_probability() -> None:
    """``judge_one`` (the worker's) and ``judge_wave`` (the harness's) share the model:
    over many draws both win slot A at the rate ``probability_a`` gives."""
    judge = SimulatedJudge(discrimination=0.7, position_bias=0.3)
    abilities = np.array([0.8, -0.4])
    expected = judge.probability_a(0.8, -0.4)
    size = 20_000
    wave = judge_wave(
        np.zeros(size, np.intp),
        np.ones(size, np.intp),
        abilities,
        (judge,),
        np.random.default_rng(5),
    )
    one_by_one = [judge_one(judge, (7, k), 0.8, -0.4).winner == "A" for k in range(size)]
    assert abs(float(wave.a_won.mean()) - expected) < 0.015
    assert abs(float(np.mean(one_by_one)) - expected) < 0.015
    assert judge_one(judge, (7, 3), 0.8, -0.4) == judge_one(judge, (7, 3), 0.8, -0.4)
