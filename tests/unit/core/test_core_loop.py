"""Whole batches through the pure core: decide() -> plan_wave() -> judge -> BT fit.

The loop below is the worker's continuation reduced to its core calls, with a perfect judge
(the lower index always wins) and nothing ever pending. It checks that the pieces agree
with each other over a whole batch: the phases follow one another, the caps end the batch
where SPEC section 6 says, and the budget is never overspent.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cj_worker.config import AlgorithmSettings
from cj_worker.core.bt import fit_bradley_terry
from cj_worker.core.coverage import CoverageMetrics, PairAvailability
from cj_worker.core.decision import Action, ContinuationContext, Decision, Reason, decide
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pairing import PairGenerationMode, plan_wave
from tests.unit.core.builders import extend_succeeded, history_from, make_settings


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
    """Decide, generate and judge until decide() finalizes the batch."""
    rng = np.random.default_rng(seed)
    history = history_from(n, [])
    previous: NDArray[np.float64] | None = None
    passes = 0
    decisions: list[Decision] = []
    waves: list[tuple[PairGenerationMode, int]] = []
    for wave in itertools.count():
        assert wave <= settings.max_iterations, "decide() let the batch run past max_iterations"
        winners, losers = history.outcomes()
        scores = fit_bradley_terry(
            n, winners, losers, settings.bt_prior_precision, initial_scores=previous
        ).scores
        decision = decide(
            ContinuationContext(
                essay_count=n,
                current_wave=wave,
                submitted=history.size,
                succeeded=int(np.count_nonzero(history.succeeded)),
                failed=int(np.count_nonzero(history.failed)),
                pending=0,
                total_budget=budget,
                coverage=CoverageMetrics.of(history),
                availability=PairAvailability.of(history, settings.max_attempts_per_pair),
                resampling_pass_count=passes,
                scores_now=scores,
                scores_previous=previous,
                settings=settings,
            )
        )
        decisions.append(decision)
        mode = decision.action.mode
        if mode is None:
            assert decision.action.finalizes, f"{decision.action} with nothing pending"
            break
        planned = plan_wave(mode, history, decision.wave_limit, rng, settings).comparisons
        assert planned, f"decide() asked for a {mode} wave that no pair can fill"
        history = extend_succeeded(history, planned)
        waves.append((mode, len(planned)))
        passes = decision.resampling_pass_count
        previous = scores
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
