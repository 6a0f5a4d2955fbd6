"""Whole batches through the pure core's wave step: step -> judge -> extend.

The loop below is the harness's loop with a perfect judge (the lower index always wins) and
nothing ever pending; the step itself is the one the worker's continuation calls. It checks
that the pieces agree with each other over a whole batch: the phases follow one another,
the caps end the batch where SPEC section 6 says, and the budget is never overspent.
"""

from __future__ import annotations

from dataclasses import dataclass

from cj_worker.core.decision import Action, Decision, Reason
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pairing import PairGenerationMode
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.core.wave import WaveState, step, wave_rng
from tests.builders.core import extend_succeeded, history_from, make_settings


@dataclass(frozen=True)
class Run:
    decisions: list[Decision]
    waves: list[tuple[PairGenerationMode, int]]
    """Mode and size of every dispatched wave."""
    history: ComparisonHistory

    @property
    def final(self) -> Decision:
        return self.decisions[-1]

    def wave_sizes(self, mode: PairGenerationMode) -> list[int]:
        return [size for wave_mode, size in self.waves if wave_mode is mode]


def run_batch(n: int, settings: AlgorithmSettings, budget: int, seed: int = 0) -> Run:
    """Step, judge and extend until the wave step finalizes the batch."""
    history = history_from(n, [])
    state = WaveState()
    decisions: list[Decision] = []
    waves: list[tuple[PairGenerationMode, int]] = []
    while True:
        assert state.wave <= settings.max_iterations, "the batch ran past max_iterations"
        result = step(
            state, history, total_budget=budget, settings=settings, rng=wave_rng(seed, state.wave)
        )
        decisions.append(result.decision)
        mode = result.decision.action.mode
        if mode is None:
            assert result.decision.action.finalizes, f"{result.action} with nothing pending"
            assert result.planned == ()
            break
        assert result.planned, f"a {mode} wave was requested but not planned"
        history = extend_succeeded(history, result.planned)
        waves.append((mode, len(result.planned)))
        assert result.next_state.wave == state.wave + 1
        state = result.next_state
    return Run(decisions, waves, history)


def test_five_essay_small_net_covers_then_resamples_three_passes_then_stops_at_the_cap() -> None:
    settings = make_settings(
        min_resampling_net_size=5,
        max_resampling_passes_for_small_net=3,
        score_stability_threshold=0.0,
    )
    run = run_batch(5, settings, budget=100)

    coverage_waves = run.wave_sizes(PairGenerationMode.COVERAGE)
    assert sum(coverage_waves) == 10
    assert run.wave_sizes(PairGenerationMode.RESAMPLING) == [10, 10, 10]
    first_resampling = [mode for mode, _ in run.waves].index(PairGenerationMode.RESAMPLING)
    assert first_resampling == len(coverage_waves), "a coverage wave after Phase 2 began"
    assert run.history.size == 40
    assert (run.final.action, run.final.reason) == (
        Action.FINALIZE_SCORING,
        Reason.SMALL_NET_RESAMPLING_CAP,
    )
    assert run.final.metadata_updates == {
        "max_possible_pairs": 10,
        "successful_pairs_count": 10,
        "unique_coverage_complete": True,
        "resampling_pass_count": 3,
    }
    phase2 = [d.reason for d in run.decisions if d.action is Action.REQUEST_RESAMPLING_WAVE]
    assert phase2 == [Reason.SMALL_NET_PHASE2] * 3


def test_24_essay_regular_net_spends_its_budget_on_coverage_and_stops() -> None:
    """276 pairs and a budget of 120: Phase 1 cannot finish, so every wave is COVERAGE."""
    budget = 120
    run = run_batch(24, make_settings(), budget=budget)

    assert run.final.reason in (Reason.BUDGET_EXHAUSTED, Reason.STABLE)
    assert run.final.action is Action.FINALIZE_SCORING
    assert run.history.size <= budget
    assert run.wave_sizes(PairGenerationMode.RESAMPLING) == []
    assert all(size <= 12 for size in run.wave_sizes(PairGenerationMode.COVERAGE))
    covered = [d.coverage.successful_pairs_count for d in run.decisions]
    assert covered == sorted(covered), "coverage moved backwards"
    assert run.final.coverage.successful_pairs_count == run.history.size
