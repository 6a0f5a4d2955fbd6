"""The continuation decision: what a batch does after a wave (SPEC section 6).

``decide`` is pure: the Celery continuation task and the convergence harness build a
:class:`ContinuationContext` and act on the :class:`Decision`, so both follow exactly one
rule. Every decision carries a reason code; a batch is never left idle (when no pair can
be generated it finalizes with ``no_pairs_left`` instead of waiting for a sweep): pair
availability comes from the same :class:`PairIndex` the planner reads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from cj_worker.core.array_types import FloatArray
from cj_worker.core.coverage import CoverageMetrics, is_small_net
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pair_index import PairAvailability, PairIndex
from cj_worker.core.pairing import PairGenerationMode
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.core.stability import (
    is_stable,
    max_score_change,
    passes_success_guard,
    success_rate,
)
from cj_worker.core.success_guard import WaveCounts, clearly_below_guard


class Action(enum.StrEnum):
    REQUEST_COVERAGE_WAVE = "request_coverage_wave"
    REQUEST_RESAMPLING_WAVE = "request_resampling_wave"
    FINALIZE_SCORING = "finalize_scoring"
    FINALIZE_FAILURE = "finalize_failure"
    WAIT = "wait"

    @property
    def mode(self) -> PairGenerationMode | None:
        """The pair-generation mode of a wave request, None for other actions."""
        return {
            Action.REQUEST_COVERAGE_WAVE: PairGenerationMode.COVERAGE,
            Action.REQUEST_RESAMPLING_WAVE: PairGenerationMode.RESAMPLING,
        }.get(self)

    @property
    def finalizes(self) -> bool:
        return self in (Action.FINALIZE_SCORING, Action.FINALIZE_FAILURE)


class Reason(enum.StrEnum):
    """Why a decision was taken; persisted with the decision and, when final, the batch."""

    WAVE_IN_FLIGHT = "wave_in_flight"
    COVERAGE_INCOMPLETE = "coverage_incomplete"
    SMALL_NET_PHASE2 = "small_net_phase2"
    REGULAR_RESAMPLING = "regular_resampling"
    STABLE = "stable"
    BUDGET_EXHAUSTED = "budget_exhausted"
    MAX_ITERATIONS = "max_iterations"
    SMALL_NET_RESAMPLING_CAP = "small_net_resampling_cap"
    RESAMPLING_CAP = "resampling_cap"
    NO_PAIRS_LEFT = "no_pairs_left"
    LOW_SUCCESS_RATE = "low_success_rate"
    INSUFFICIENT_ESSAYS = "insufficient_essays"
    JUDGE_FAILED_WAVE = "judge_failed_wave"
    """Every comparison of the wave just judged failed: the judge is down or broken."""
    STALLED = "stalled"
    """The sweep's, not ``decide``'s: continuation or finalization kept failing."""
    JUDGE_UNAUTHORIZED = "judge_unauthorized"
    """The callback's, not ``decide``'s: the judge answered with an error no retry can
    cure (a refused, missing or disallowed API key), so the batch fails at once."""
    ESSAYS_DIGEST_MISMATCH = "essays_digest_mismatch"
    """Intake's, not ``decide``'s: the essays of a chunked batch, all arrived, do not have
    the digest its request declared, so they are not the producer's and are never judged."""
    INTAKE_INCOMPLETE = "intake_incomplete"
    """The sweep's, not ``decide``'s: a chunked batch's essays stopped arriving before all
    of them had come (``intake_timeout_seconds``)."""


@dataclass(frozen=True)
class ContinuationContext:
    """Everything ``decide`` needs, gathered by the caller at the end of a wave."""

    essay_count: int
    current_wave: int
    """Waves dispatched so far (0 at intake)."""
    submitted: int
    """Comparisons dispatched so far, every attempt included: what the budget counts."""
    succeeded: int
    failed: int
    """Failed and timed-out comparisons."""
    pending: int
    total_budget: int
    coverage: CoverageMetrics
    availability: PairAvailability
    resampling_pass_count: int
    scores_now: FloatArray | None
    scores_previous: FloatArray | None
    settings: AlgorithmSettings
    last_wave: WaveCounts
    """The comparisons of the wave just judged (all of them at the first decision)."""

    @classmethod
    def from_history(
        cls,
        history: ComparisonHistory,
        *,
        current_wave: int,
        total_budget: int,
        resampling_pass_count: int,
        scores_now: FloatArray | None,
        scores_previous: FloatArray | None,
        settings: AlgorithmSettings,
        index: PairIndex | None = None,
        counted_before: WaveCounts | None = None,
    ) -> ContinuationContext:
        """The context at the end of a wave, counted from the history.

        The wave step builds it here from the same :class:`PairIndex` the planner reads, so
        the decision never expects pairs the planner cannot find. ``counted_before`` are the
        totals at the previous decision; the difference is the wave just judged.
        """
        index = PairIndex(history) if index is None else index
        totals = counts_of(history)
        return cls(
            essay_count=history.n_essays,
            current_wave=current_wave,
            submitted=totals.submitted,
            succeeded=totals.succeeded,
            failed=totals.failed,
            pending=int(np.count_nonzero(history.pending)),
            total_budget=total_budget,
            coverage=CoverageMetrics.of_index(index),
            availability=index.availability(settings.max_attempts_per_pair),
            resampling_pass_count=resampling_pass_count,
            scores_now=scores_now,
            scores_previous=scores_previous,
            settings=settings,
            last_wave=totals - (counted_before or WaveCounts()),
        )

    @property
    def budget_left(self) -> int:
        return max(0, self.total_budget - self.submitted)

    @property
    def is_small_net(self) -> bool:
        return is_small_net(self.essay_count, self.settings.min_resampling_net_size)

    @property
    def stable(self) -> bool:
        s = self.settings
        return self.last_wave.has_evidence and is_stable(
            succeeded=self.succeeded,
            failed=self.failed,
            scores_now=self.scores_now,
            scores_previous=self.scores_previous,
            min_comparisons=s.min_comparisons_for_stability_check,
            threshold=s.score_stability_threshold,
            min_success_rate=s.min_success_rate,
        )

    @property
    def wave_limit(self) -> int:
        """Most comparisons the next wave may have: budget left, and the optional wave cap."""
        cap = self.settings.comparisons_per_stability_check_iteration
        return self.budget_left if cap is None else min(cap, self.budget_left)


def counts_of(history: ComparisonHistory) -> WaveCounts:
    """Totals of a history by outcome (pending rows count as submitted only)."""
    return WaveCounts(
        history.size,
        int(np.count_nonzero(history.succeeded)),
        int(np.count_nonzero(history.failed)),
    )


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    resampling_pass_count: int
    """The value to persist (incremented when a resampling wave is requested)."""
    coverage: CoverageMetrics
    wave_limit: int
    """For a wave request: the most comparisons the wave may have."""
    figures: dict[str, float | int | bool | None] = field(default_factory=dict)
    """Key figures for the decision log."""

    @property
    def metadata_updates(self) -> dict[str, int | bool]:
        """The four coverage keys of ``processing_metadata`` (SPEC section 5)."""
        return {
            "max_possible_pairs": self.coverage.max_possible_pairs,
            "successful_pairs_count": self.coverage.successful_pairs_count,
            "unique_coverage_complete": self.coverage.unique_coverage_complete,
            "resampling_pass_count": self.resampling_pass_count,
        }


def decide(context: ContinuationContext) -> Decision:
    """Apply the SPEC section 6 decision order to one end-of-wave context."""
    c, s = context, context.settings
    stable = c.stable
    figures: dict[str, float | int | bool | None] = {
        "essays": c.essay_count,
        "wave": c.current_wave,
        "submitted": c.submitted,
        "succeeded": c.succeeded,
        "failed": c.failed,
        "pending": c.pending,
        "budget_left": c.budget_left,
        "success_rate": success_rate(c.succeeded, c.failed),
        "wave_succeeded": c.last_wave.succeeded,
        "wave_failed": c.last_wave.failed,
        "stable": stable,
        "max_score_change": (
            max_score_change(c.scores_now, c.scores_previous)
            if c.scores_now is not None and c.scores_previous is not None
            else None
        ),
        "small_net": c.is_small_net,
        "coverage_pairs_available": c.availability.coverage,
        "resampling_pairs_available": c.availability.resampling,
    }

    def result(action: Action, reason: Reason, passes: int = c.resampling_pass_count) -> Decision:
        limit = c.wave_limit if action.mode is not None else 0
        return Decision(action, reason, passes, c.coverage, limit, figures)

    if c.essay_count < 2:
        return result(Action.FINALIZE_SCORING, Reason.INSUFFICIENT_ESSAYS)
    if c.pending > 0:
        return result(Action.WAIT, Reason.WAVE_IN_FLIGHT)
    if c.last_wave.judge_failed_all:
        return result(Action.FINALIZE_FAILURE, Reason.JUDGE_FAILED_WAVE)
    if clearly_below_guard(c.succeeded, c.failed, s.min_success_rate):
        return result(Action.FINALIZE_FAILURE, Reason.LOW_SUCCESS_RATE)

    budget_exhausted = c.budget_left <= 0
    out_of_iterations = c.current_wave >= s.max_iterations
    next_step = _next_step(c, stable)
    cap_fired = budget_exhausted or out_of_iterations or next_step.action.finalizes
    if cap_fired and not passes_success_guard(c.succeeded, c.failed, s.min_success_rate):
        return result(Action.FINALIZE_FAILURE, Reason.LOW_SUCCESS_RATE)
    if stable:
        return result(Action.FINALIZE_SCORING, Reason.STABLE)
    if budget_exhausted:
        return result(Action.FINALIZE_SCORING, Reason.BUDGET_EXHAUSTED)
    if out_of_iterations:
        return result(Action.FINALIZE_SCORING, Reason.MAX_ITERATIONS)
    passes = c.resampling_pass_count + (next_step.action is Action.REQUEST_RESAMPLING_WAVE)
    return result(next_step.action, next_step.reason, passes)


@dataclass(frozen=True)
class _Step:
    action: Action
    reason: Reason


def _next_step(c: ContinuationContext, stable: bool) -> _Step:
    """Steps 5-8: where Phase 1 / Phase 2 would go next if no earlier rule stops the batch."""
    s = c.settings
    complete = c.coverage.unique_coverage_complete
    if c.is_small_net and complete and not stable:
        if c.resampling_pass_count >= s.max_resampling_passes_for_small_net:
            return _Step(Action.FINALIZE_SCORING, Reason.SMALL_NET_RESAMPLING_CAP)
        if c.availability.resampling > 0:
            return _Step(Action.REQUEST_RESAMPLING_WAVE, Reason.SMALL_NET_PHASE2)
        return _Step(Action.FINALIZE_SCORING, Reason.NO_PAIRS_LEFT)
    if not complete:
        if c.availability.coverage > 0:
            return _Step(Action.REQUEST_COVERAGE_WAVE, Reason.COVERAGE_INCOMPLETE)
        return _Step(Action.FINALIZE_SCORING, Reason.NO_PAIRS_LEFT)
    if c.resampling_pass_count >= s.max_resampling_passes_for_regular_net:
        return _Step(Action.FINALIZE_SCORING, Reason.RESAMPLING_CAP)
    if c.availability.resampling > 0:
        return _Step(Action.REQUEST_RESAMPLING_WAVE, Reason.REGULAR_RESAMPLING)
    return _Step(Action.FINALIZE_SCORING, Reason.NO_PAIRS_LEFT)
