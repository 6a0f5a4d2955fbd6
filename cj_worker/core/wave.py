"""One wave step: the engine's whole loop body, once, for the worker and the harness alike.

At the end of every wave the engine does the same thing: fit the reported scores on all
succeeded comparisons, count coverage and pair availability, decide (SPEC section 6), plan
the next wave's pairs if the decision asks for one, and carry a small state to the next
decision. The Celery continuation is *load -> step -> persist -> dispatch*; the convergence
harness is *step -> judge -> extend*. Because both call :func:`step`, what the harness
measures is what production does, not a copy of it.

The step is pure: no clock, no environment, no database. Its only randomness is the
generator passed in, which callers derive with :func:`wave_rng` from the batch's pair seed
and the wave number, so a redelivered continuation plans the same wave.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from cj_worker.core import bt, decision, pairing
from cj_worker.core.array_types import FloatArray
from cj_worker.core.coverage import CoverageMetrics
from cj_worker.core.decision import Action, ContinuationContext, Decision, counts_of
from cj_worker.core.errors import CJWorkerError
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pair_index import PairIndex
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION, PlannedComparison
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.core.success_guard import WaveCounts


class WaveStepError(CJWorkerError, RuntimeError):
    """The step's own invariants broke (a bug, never a user error)."""


@dataclass(frozen=True)
class WaveState:
    """What a batch carries from one decision to the next, besides its history."""

    wave: int = 0
    """Waves dispatched so far (0 at intake)."""
    resampling_pass_count: int = 0
    selection_precision: float = INITIAL_SELECTION_PRECISION
    """Prior precision of the ``information`` policy's selection fit (one EM step a wave)."""
    coverage: CoverageMetrics | None = None
    """Coverage persisted at the previous decision; the new count may never be smaller."""
    scores: FloatArray | None = None
    """Reported scores at the previous decision (warm start and stability check)."""
    prior_sd: float | None = None
    """tau of the previous reported fit: the warm start of the empirical-Bayes search."""
    counted: WaveCounts = field(default_factory=WaveCounts)
    """History totals at the previous decision: what is new since is the wave just judged,
    and only a wave with enough new successes may show stability."""


@dataclass(frozen=True)
class WaveStep:
    """Everything one step decided; the caller persists it and acts on it."""

    context: ContinuationContext
    decision: Decision
    fit: bt.BTFit | None
    """The reported fit on all succeeded comparisons; None while nothing has succeeded."""
    planned: tuple[PlannedComparison, ...]
    """The next wave, oriented; non-empty exactly when the decision requests a wave."""
    next_state: WaveState
    """The state after this decision (``wave`` advanced when a wave was planned)."""
    fit_seconds: float
    """Wall time of the BT fit, for the shell's metrics."""

    @property
    def action(self) -> Action:
        return self.decision.action


def wave_rng(seed: int, wave: int) -> np.random.Generator:
    """The pairing generator of one wave: a pure function of the batch seed and the wave."""
    return np.random.default_rng([seed, wave])


def fit_reported(
    history: ComparisonHistory,
    settings: AlgorithmSettings,
    initial_scores: FloatArray | None = None,
    initial_prior_sd: float | None = None,
) -> bt.BTFit | None:
    """The fit whose scores and SEs are reported; None while nothing has succeeded.

    Hierarchical (``bt_prior_mode``: the prior SD estimated from the data, SPEC section 7)
    unless the batch fixed the prior; warm-started from the previous decision's scores and
    tau, since the continuation refits every wave.
    """
    if not history.succeeded.any():
        return None
    winners, losers = history.outcomes()
    return bt.fit_bradley_terry(
        history.n_essays,
        winners,
        losers,
        settings.bt_prior_precision,
        prior_mode=settings.bt_prior_mode,
        initial_scores=initial_scores,
        initial_prior_sd=initial_prior_sd,
    )


def step(
    state: WaveState,
    history: ComparisonHistory,
    *,
    total_budget: int,
    settings: AlgorithmSettings,
    rng: np.random.Generator,
) -> WaveStep:
    """Decide after ``state.wave`` and plan the next wave if the decision asks for one.

    ``history`` holds every comparison of the net so far (pending rows included). While
    comparisons are pending the decision is WAIT and nothing else happens. The core
    functions are looked up on their modules at call time so that a test can observe that
    the harness runs exactly these.
    """
    started = time.perf_counter()
    fit = fit_reported(history, settings, state.scores, state.prior_sd)
    fit_seconds = time.perf_counter() - started
    index = PairIndex(history)
    context = ContinuationContext.from_history(
        history,
        current_wave=state.wave,
        total_budget=total_budget,
        resampling_pass_count=state.resampling_pass_count,
        scores_now=None if fit is None else fit.scores,
        scores_previous=state.scores,
        settings=settings,
        index=index,
        counted_before=state.counted,
    )
    context.coverage.never_behind(state.coverage)
    verdict = decision.decide(context)
    if verdict.action is Action.WAIT:
        return WaveStep(context, verdict, fit, (), state, fit_seconds)

    planned: tuple[PlannedComparison, ...] = ()
    selection_precision = state.selection_precision
    mode = verdict.action.mode
    if mode is not None:
        plan = pairing.plan_wave(
            mode, history, verdict.wave_limit, rng, settings, selection_precision, index
        )
        if not plan.comparisons:
            raise WaveStepError(
                f"decide() asked for a {mode} wave with {context.availability} but the "
                "planner found no pair in the same index"
            )
        planned = tuple(plan.comparisons)
        selection_precision = plan.selection_precision

    next_state = replace(
        state,
        wave=state.wave + (1 if planned else 0),
        resampling_pass_count=verdict.resampling_pass_count,
        selection_precision=selection_precision,
        coverage=context.coverage,
        scores=state.scores if fit is None else fit.scores,
        prior_sd=state.prior_sd if fit is None or not math.isfinite(fit.prior_sd) else fit.prior_sd,
        counted=counts_of(history),
    )
    return WaveStep(context, verdict, fit, planned, next_state, fit_seconds)
