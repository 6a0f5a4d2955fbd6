"""The one wave step that the worker's continuation and the harness both run.

What the shells rely on: WAIT changes nothing, a wave request always comes with a plan,
a finalize never does, the state carried forward is what the next decision needs, the
same inputs plan the same wave (a redelivered continuation), and coverage never goes back.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cj_worker.core.coverage import CoverageMetrics, CoverageRegressionError
from cj_worker.core.decision import Action, Reason
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION, PairGenerationMode
from cj_worker.core.wave import WaveState, step, wave_rng
from tests.builders.core import (
    Row,
    complete_coverage_history,
    extend_succeeded,
    failed,
    history_from,
    make_settings,
    ok,
    pending,
    timed_out,
)


def test_first_step_plans_a_coverage_wave_without_a_fit() -> None:
    result = step(
        WaveState(),
        history_from(8, []),
        total_budget=40,
        settings=make_settings(),
        rng=wave_rng(1, 0),
    )
    assert result.fit is None
    assert result.action is Action.REQUEST_COVERAGE_WAVE
    assert len(result.planned) == 4
    assert result.next_state.wave == 1
    assert result.next_state.scores is None
    assert result.next_state.coverage == CoverageMetrics(28, 0)


def test_wait_while_a_wave_is_pending_changes_nothing() -> None:
    state = WaveState(wave=3, resampling_pass_count=1, selection_precision=0.4)
    history = history_from(4, [ok(0, 1), pending(2, 3)])
    result = step(state, history, total_budget=40, settings=make_settings(), rng=wave_rng(1, 3))
    assert (result.action, result.decision.reason) == (Action.WAIT, Reason.WAVE_IN_FLIGHT)
    assert result.planned == ()
    assert result.next_state is state


def test_the_same_inputs_plan_the_same_wave() -> None:
    """A redelivered continuation (same state, history and seed) plans identical pairs."""
    history = history_from(12, [ok(0, 1), ok(2, 3), ok(4, 5), failed(6, 7)])
    state = WaveState(wave=1, coverage=CoverageMetrics(66, 3))
    first, second = (
        step(state, history, total_budget=60, settings=make_settings(), rng=wave_rng(9, 1))
        for _ in range(2)
    )
    assert first.planned == second.planned
    assert first.next_state.selection_precision == second.next_state.selection_precision


def test_next_state_carries_scores_passes_and_the_selection_prior() -> None:
    history = complete_coverage_history(5)
    state = WaveState(wave=2, coverage=CoverageMetrics(10, 10))
    algorithm = make_settings(score_stability_threshold=0.0)
    result = step(state, history, total_budget=100, settings=algorithm, rng=wave_rng(2, 2))
    assert result.action is Action.REQUEST_RESAMPLING_WAVE
    assert result.fit is not None
    np.testing.assert_array_equal(result.next_state.scores, result.fit.scores)
    assert result.next_state.resampling_pass_count == 1
    assert result.next_state.wave == 3
    assert result.context.scores_previous is None


def test_a_finalize_plans_nothing_and_keeps_the_wave() -> None:
    history = complete_coverage_history(5)
    state = WaveState(wave=4, coverage=CoverageMetrics(10, 10))
    result = step(state, history, total_budget=10, settings=make_settings(), rng=wave_rng(2, 4))
    assert (result.action, result.decision.reason) == (
        Action.FINALIZE_SCORING,
        Reason.BUDGET_EXHAUSTED,
    )
    assert result.planned == ()
    assert result.next_state.wave == 4


def test_coverage_that_moved_backwards_is_refused() -> None:
    """The persisted count says 3 pairs were judged; a history with 1 means rows were lost."""
    state = WaveState(wave=2, coverage=CoverageMetrics(10, 3))
    with pytest.raises(CoverageRegressionError):
        step(
            state,
            history_from(5, [ok(0, 1)]),
            total_budget=40,
            settings=make_settings(),
            rng=wave_rng(0, 2),
        )


def test_selection_precision_starts_at_the_pairing_studys_prior() -> None:
    assert WaveState().selection_precision == INITIAL_SELECTION_PRECISION


_KINDS = [ok, failed, timed_out]


@st.composite
def _settled_histories(draw: st.DrawFn) -> tuple[int, list[Row]]:
    """Histories with nothing pending, as at the end of a wave."""
    n = draw(st.integers(2, 12))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, 2))
    rows = draw(st.lists(pairs.filter(lambda t: t[0] != t[1]), max_size=40))
    return n, [_KINDS[kind](a, b) for a, b, kind in rows]


@given(
    _settled_histories(),
    st.integers(1, 3),
    st.sampled_from(["information", "random", "hybrid", "proximity"]),
    st.integers(0, 2**31),
)
@settings(max_examples=120, deadline=None)
def test_a_requested_wave_is_always_planned_within_budget(
    net: tuple[int, list[Row]], max_attempts: int, policy: str, seed: int
) -> None:
    """The decision and the planner read one pair index, so they never disagree."""
    n, rows = net
    history = history_from(n, rows)
    algorithm = make_settings(max_attempts_per_pair=max_attempts, pairing_policy=policy)
    budget = history.size + 7
    result = step(
        WaveState(wave=1), history, total_budget=budget, settings=algorithm, rng=wave_rng(seed, 1)
    )
    if result.action.mode is None:
        assert result.planned == ()
        return
    assert 1 <= len(result.planned) <= budget - history.size
    if result.action.mode is PairGenerationMode.RESAMPLING:
        judged = {frozenset((a, b)) for a, b, status, _ in rows if status == 1}
        assert all(frozenset((p.slot_a, p.slot_b)) in judged for p in result.planned)
    grown = extend_succeeded(history, result.planned)
    assert grown.size == history.size + len(result.planned)
