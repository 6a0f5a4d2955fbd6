"""The harness drives the production core and stops exactly where ``decide`` says."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cj_worker.core import bt, decision, pairing
from cj_worker.core.decision import Action, Reason
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.harness.config import HarnessConfig
from cj_worker.harness.judges import SimulatedJudge
from cj_worker.harness.result import cap_label
from cj_worker.harness.runner import run_harness

PERFECT = (SimulatedJudge(name="perfect", discrimination=50.0),)


def test_permissive_stability_stops_early() -> None:
    settings = AlgorithmSettings(
        score_stability_threshold=100.0, min_comparisons_for_stability_check=12
    )
    result = run_harness(HarnessConfig(essay_count=30, settings=settings, budget=1000, seed=1))

    assert result.final_reason is Reason.STABLE
    assert result.cap_reason == "stability"
    assert result.stability_achieved
    assert result.final_action is Action.FINALIZE_SCORING
    assert result.iterations < settings.max_iterations
    assert result.comparisons_total < 1000
    assert result.succeeded >= settings.min_comparisons_for_stability_check


def test_unreachable_stability_stops_on_max_iterations() -> None:
    settings = AlgorithmSettings(score_stability_threshold=0.0, max_iterations=5)
    result = run_harness(HarnessConfig(essay_count=30, settings=settings, budget=10_000, seed=2))

    assert result.final_reason is Reason.MAX_ITERATIONS
    assert result.cap_reason == "iterations"
    assert not result.stability_achieved
    assert result.iterations == 5
    assert len(result.comparisons_per_wave) == 5
    assert sum(result.comparisons_per_wave) == result.comparisons_total


def test_budget_cap() -> None:
    settings = AlgorithmSettings(score_stability_threshold=0.0)
    result = run_harness(HarnessConfig(essay_count=30, settings=settings, budget=100, seed=3))

    assert result.final_reason is Reason.BUDGET_EXHAUSTED
    assert result.cap_reason == "budget"
    assert result.comparisons_total == 100
    assert max(result.comparisons_per_wave) <= 15


def test_small_net_runs_its_resampling_passes() -> None:
    settings = AlgorithmSettings(
        min_resampling_net_size=5,
        max_resampling_passes_for_small_net=3,
        score_stability_threshold=0.0,
    )
    result = run_harness(HarnessConfig(essay_count=5, settings=settings, seed=4, judges=PERFECT))

    assert result.final_reason is Reason.SMALL_NET_RESAMPLING_CAP
    assert result.cap_reason == "small_net_resampling_cap"
    assert result.comparisons_total == 40
    assert result.resampling_pass_count == 3
    resampling = [d for d in result.decisions if d.action is Action.REQUEST_RESAMPLING_WAVE]
    assert [d.wave_size for d in resampling] == [10, 10, 10]
    # Phase 2 only re-judges the 10 pairs Phase 1 covered.
    assert np.unique(result.history.pair_keys()).size == 10


def test_same_seed_same_result_and_other_seed_differs() -> None:
    config = HarnessConfig(essay_count=40, budget=200, seed=7)
    first, second = run_harness(config), run_harness(config)
    other = run_harness(HarnessConfig(essay_count=40, budget=200, seed=8))

    np.testing.assert_array_equal(first.scores, second.scores)
    np.testing.assert_array_equal(first.standard_errors, second.standard_errors)
    assert first.split_half_reliability == second.split_half_reliability
    np.testing.assert_equal(
        [asdict(p) for p in first.trajectory], [asdict(p) for p in second.trajectory]
    )
    assert not np.array_equal(first.scores, other.scores)


def test_failing_judge_ends_in_low_success_rate() -> None:
    judges = (SimulatedJudge(name="flaky", error_rate=0.5),)
    result = run_harness(HarnessConfig(essay_count=20, judges=judges, seed=5))

    assert result.final_reason is Reason.LOW_SUCCESS_RATE
    assert result.final_action is Action.FINALIZE_FAILURE
    assert result.cap_reason == "low_success_rate"
    assert result.failed > 0.3 * result.comparisons_total


def test_fewer_than_two_essays_finalize_at_intake() -> None:
    result = run_harness(HarnessConfig(essay_count=1))
    assert result.final_reason is Reason.INSUFFICIENT_ESSAYS
    assert result.iterations == 0
    assert result.scores.tolist() == [0.0]


def test_first_decision_is_at_wave_zero_with_empty_history() -> None:
    result = run_harness(HarnessConfig(essay_count=10, budget=20, seed=0))
    assert result.decisions[0].wave == 0
    assert result.decisions[0].reason is Reason.COVERAGE_INCOMPLETE
    assert [d.wave for d in result.decisions] == list(range(result.iterations + 1))


def test_result_reports_accuracy_and_reliability() -> None:
    result = run_harness(HarnessConfig(essay_count=60, budget=600, seed=9))
    assert 0.5 < result.spearman <= 1.0
    assert 0.3 < result.kendall <= result.spearman
    assert 0.0 <= result.ssr <= 1.0
    assert 0.0 <= result.split_half_reliability <= 1.0
    assert result.rmse > 0
    assert result.se_summary.max >= result.se_summary.median > 0
    summary = result.summary()
    assert summary["cap_reason"] == result.cap_reason
    assert summary["comparisons"] == result.comparisons_total
    last = result.trajectory[-1]
    assert last.spearman == result.spearman
    assert last.comparisons == result.comparisons_total


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        (Reason.STABLE, "stability"),
        (Reason.MAX_ITERATIONS, "iterations"),
        (Reason.BUDGET_EXHAUSTED, "budget"),
        (Reason.NO_PAIRS_LEFT, "no_pairs_left"),
        (Reason.RESAMPLING_CAP, "resampling_cap"),
    ],
)
def test_cap_labels(reason: Reason, label: str) -> None:
    assert cap_label(reason) == label


def test_harness_calls_the_production_core(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()

    def spy(module: Any, name: str) -> None:
        original: Callable[..., Any] = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    spy(pairing, "plan_wave")
    spy(bt, "fit_bradley_terry")
    spy(decision, "decide")
    result = run_harness(HarnessConfig(essay_count=20, budget=60, seed=0))

    assert calls["decide"] == len(result.decisions) == result.iterations + 1
    assert calls["fit_bradley_terry"] == result.iterations + 1
    assert calls["plan_wave"] == result.iterations


def test_harness_imports_only_core_and_config() -> None:
    """SPEC section 11: the harness never reaches the database, Celery or the tasks."""
    package = Path(__file__).resolve().parents[3] / "cj_worker" / "harness"
    allowed = ("cj_worker.core", "cj_worker.config", "cj_worker.harness")
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                names = [node.module]
            for name in names:
                if name.startswith("cj_worker"):
                    assert name.startswith(allowed), f"{source.name} imports {name}"
                assert not name.startswith(("celery", "sqlalchemy")), f"{source.name}: {name}"


def test_the_result_is_the_fit_finalization_reports_with_noise_judges_set_aside() -> None:
    """2 coin flippers among 20 judges, 100 essays, K 20: the harness records who judged
    each comparison, and its final scores, like finalization's, leave out the judges the
    screen sets aside, on the kept judges' scale (1: all of them exact)."""
    pool = (SimulatedJudge(),) * 18 + (SimulatedJudge(name="coin", random=True),) * 2
    settings = AlgorithmSettings(score_stability_threshold=0.0)
    result = run_harness(
        HarnessConfig(essay_count=100, settings=settings, budget=1000, seed=12000, judges=pool)
    )
    assert result.judges.shape == result.history.slot_a.shape
    assert set(np.unique(result.judges)) <= set(range(20))
    ok = result.history.succeeded
    coins = np.isin(result.judges[ok], [18, 19])
    a, b, a_won = result.history.slot_a[ok], result.history.slot_b[ok], result.history.a_won[ok]
    kept = ~coins
    clean = bt.fit_bradley_terry(100, np.where(a_won, a, b)[kept], np.where(a_won, b, a)[kept])
    np.testing.assert_allclose(result.scores, clean.scores, atol=1e-6)
    assert result.judge_scale == 1.0
