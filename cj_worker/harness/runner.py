"""Drive one synthetic net through the engine's waves with the production decision core.

Only the judge and the transport are simulated. Every wave follows the worker's path: fit
all succeeded comparisons (``bt_prior_precision``, warm-started from the previous scores),
build the :class:`ContinuationContext`, call ``decide``; on a wave request call
``plan_wave`` with the decision's wave limit (carrying the selection prior between waves),
judge the pairs, append them to the history; on a finalize, stop. The first decision is at
wave 0 with an empty history, exactly as at intake.

The core functions are looked up on their modules at call time (``pairing.plan_wave``
rather than a name bound at import), so the harness cannot drift onto a private copy and
a test can observe that the production functions are the ones called.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cj_worker.core import bt, decision, pairing
from cj_worker.core.decision import ContinuationContext
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.reliability import split_half_reliability
from cj_worker.core.stability import max_score_change
from cj_worker.harness.config import HarnessConfig
from cj_worker.harness.judges import judge_wave
from cj_worker.harness.metrics import accuracy
from cj_worker.harness.result import (
    DecisionRecord,
    HarnessResult,
    SESummary,
    TrajectoryPoint,
    cap_label,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


class HarnessError(RuntimeError):
    """The core asked for something a harness run cannot do (e.g. WAIT with nothing pending)."""


def run_harness(config: HarnessConfig) -> HarnessResult:
    """Run one net until ``decide`` finalizes it and measure the outcome against the truth."""
    settings = config.settings
    streams = config.streams()
    truth = config.draw_truth(streams.truth)
    n = config.essay_count
    checkpoints = sorted(config.split_half_at)

    def split_half(winners: IntArray, losers: IntArray) -> float:
        return split_half_reliability(
            n,
            winners,
            losers,
            settings.bt_prior_precision,
            streams.analysis,
            config.split_half_splits,
        )

    history = ComparisonHistory.empty(n)
    wave = 0
    passes = 0
    selection_precision = pairing.INITIAL_SELECTION_PRECISION
    previous: FloatArray | None = None
    trajectory: list[TrajectoryPoint] = []
    decisions: list[DecisionRecord] = []

    while True:
        winners, losers = history.outcomes()
        fit = bt.fit_bradley_terry(
            n, winners, losers, settings.bt_prior_precision, initial_scores=previous
        )
        context = ContinuationContext.from_history(
            history,
            current_wave=wave,
            total_budget=config.total_budget,
            resampling_pass_count=passes,
            scores_now=fit.scores,
            scores_previous=previous,
            settings=settings,
        )
        verdict = decision.decide(context)
        if wave > 0:
            k = 2.0 * history.size / n
            due = config.split_half_every_wave or bool(checkpoints and k >= checkpoints[0])
            while checkpoints and k >= checkpoints[0]:
                checkpoints.pop(0)
            measured = split_half(winners, losers) if due else float("nan")
            trajectory.append(_point(wave, context, fit, truth, measured))

        planned: list[pairing.PlannedComparison] = []
        if verdict.action.mode is not None:
            plan = pairing.plan_wave(
                verdict.action.mode,
                history,
                verdict.wave_limit,
                streams.pairing,
                settings,
                selection_precision,
            )
            planned, selection_precision = plan.comparisons, plan.selection_precision
            if not planned:
                verdict = decision.decide_without_pairs(context)
        passes = verdict.resampling_pass_count
        action, reason = verdict.action, verdict.reason
        if action.mode is None and not action.finalizes:
            raise HarnessError(f"decide() returned {action} with nothing pending")
        decisions.append(DecisionRecord(wave, action, reason, passes, len(planned)))
        if action.finalizes:
            break

        slot_a = np.fromiter((p.slot_a for p in planned), dtype=np.intp, count=len(planned))
        slot_b = np.fromiter((p.slot_b for p in planned), dtype=np.intp, count=len(planned))
        judged = judge_wave(slot_a, slot_b, truth, config.judges, streams.judges)
        history = history.extended(judged.slot_a, judged.slot_b, judged.status, judged.a_won)
        wave += 1
        previous = fit.scores

    final = accuracy(fit.scores, truth)
    last_split_half = trajectory[-1].split_half if trajectory else float("nan")
    return HarnessResult(
        essay_count=n,
        true_abilities=truth,
        scores=fit.scores,
        standard_errors=fit.standard_errors,
        stability_achieved=context.stable,
        cap_reason=cap_label(reason),
        final_reason=reason,
        final_action=action,
        iterations=wave,
        comparisons_per_wave=tuple(d.wave_size for d in decisions if d.wave_size),
        comparisons_total=history.size,
        succeeded=context.succeeded,
        failed=context.failed,
        resampling_pass_count=passes,
        se_summary=SESummary.of(fit.standard_errors),
        spearman=final.spearman,
        kendall=final.kendall,
        rmse=final.rmse,
        ssr=fit.ssr,
        true_reliability=final.true_reliability,
        split_half_reliability=(
            split_half(winners, losers) if np.isnan(last_split_half) else last_split_half
        ),
        trajectory=tuple(trajectory),
        decisions=tuple(decisions),
        history=history,
    )


def _point(
    wave: int,
    context: ContinuationContext,
    fit: bt.BTFit,
    truth: FloatArray,
    split_half: float,
) -> TrajectoryPoint:
    measured = accuracy(fit.scores, truth)
    previous = context.scores_previous
    return TrajectoryPoint(
        wave=wave,
        comparisons=context.submitted,
        succeeded=context.succeeded,
        comparisons_per_essay=2.0 * context.submitted / context.essay_count,
        spearman=measured.spearman,
        kendall=measured.kendall,
        true_reliability=measured.true_reliability,
        rmse=measured.rmse,
        ssr=fit.ssr,
        split_half=split_half,
        max_score_change=(
            max_score_change(fit.scores, previous) if previous is not None else float("nan")
        ),
    )
