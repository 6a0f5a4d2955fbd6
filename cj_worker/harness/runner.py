"""Drive one synthetic net through the engine's waves with the production wave step.

Only the judge and the transport are simulated. The loop is *step -> judge -> extend*: the
same :func:`cj_worker.core.wave.step` as the worker's continuation (fit, count coverage,
decide, plan, carry the state), with the same per-wave pairing generator
(:func:`~cj_worker.core.wave.wave_rng` of the pair seed and the wave). The first decision is
at wave 0 with an empty history, exactly as at intake.

The step is looked up on its module at call time (``wave.step``), so the harness cannot
drift onto a private copy and a test can observe that the production functions are called.
"""

from __future__ import annotations

import numpy as np

from cj_worker.core import bt, wave
from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.decision import ContinuationContext
from cj_worker.core.errors import CJWorkerError
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.judge_screen import fit_setting_aside_noise
from cj_worker.core.judgements import Judgements
from cj_worker.core.reliability import split_half_reliability
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.core.simulated_judge import logit_scale
from cj_worker.core.stability import max_score_change
from cj_worker.harness.config import HarnessConfig
from cj_worker.harness.judges import judge_wave
from cj_worker.harness.metrics import accuracy, interval_coverage
from cj_worker.harness.result import (
    DecisionRecord,
    HarnessResult,
    SESummary,
    TrajectoryPoint,
    cap_label,
)


class HarnessError(CJWorkerError, RuntimeError):
    """The core asked for something a harness run cannot do (e.g. WAIT with nothing pending)."""


def run_harness(config: HarnessConfig) -> HarnessResult:
    """Run one net until the wave step finalizes it and measure the outcome against the truth."""
    settings = config.settings
    streams = config.streams()
    truth = config.draw_truth(streams.truth)
    n = config.essay_count
    checkpoints = sorted(config.split_half_at)
    scale = logit_scale(config.judges)
    pair_seed = config.pair_seed

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
    judged_by: list[IntArray] = []
    state = wave.WaveState()
    trajectory: list[TrajectoryPoint] = []
    decisions: list[DecisionRecord] = []

    while True:
        result = wave.step(
            state,
            history,
            total_budget=config.total_budget,
            settings=settings,
            rng=wave.wave_rng(pair_seed, state.wave),
        )
        context, verdict = result.context, result.decision
        fit = result.fit if result.fit is not None else _empty_fit(history, settings)
        if state.wave > 0:
            winners, losers = history.outcomes()
            k = 2.0 * history.size / n
            due = config.split_half_every_wave or bool(checkpoints and k >= checkpoints[0])
            while checkpoints and k >= checkpoints[0]:
                checkpoints.pop(0)
            measured = split_half(winners, losers) if due else float("nan")
            trajectory.append(_point(state.wave, context, fit, truth, scale, measured))

        action, reason = verdict.action, verdict.reason
        passes = verdict.resampling_pass_count
        if action.mode is None and not action.finalizes:
            raise HarnessError(f"the wave step returned {action} with nothing pending")
        decisions.append(DecisionRecord(state.wave, action, reason, passes, len(result.planned)))
        if action.finalizes:
            break

        planned = result.planned
        slot_a = np.fromiter((p.slot_a for p in planned), dtype=np.intp, count=len(planned))
        slot_b = np.fromiter((p.slot_b for p in planned), dtype=np.intp, count=len(planned))
        judged = judge_wave(slot_a, slot_b, truth, config.judges, streams.judges)
        history = history.extended(judged.slot_a, judged.slot_b, judged.status, judged.a_won)
        judged_by.append(judged.judge)
        state = result.next_state

    judges = np.concatenate(judged_by) if judged_by else np.zeros(0, dtype=np.intp)
    fit, scale, (winners, losers) = _finalized(history, judges, config, fit)
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
        iterations=state.wave,
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
        judges=judges,
        reliability=fit.reliability,
        prior_sd=fit.prior_sd,
        judge_scale=scale,
    )


def _finalized(
    history: ComparisonHistory, judges: IntArray, config: HarnessConfig, fit: bt.BTFit
) -> tuple[bt.BTFit, float, tuple[IntArray, IntArray]]:
    """The fit finalization would report, the judges' scale of its decisions, and them.

    As in finalization, judges whose decisions are noise are set aside
    (``core.judge_screen``); the last wave's ``fit`` is that fit when nobody is. The truth's
    scale is then the mean discrimination of the judges whose decisions were kept."""
    ok = history.succeeded
    decided = Judgements(
        history.n_essays,
        history.slot_a[ok],
        history.slot_b[ok],
        history.a_won[ok],
        judges[ok],
        len(config.judges),
    )

    def refit(decisions: Judgements) -> bt.BTFit:
        if decisions is decided:
            return fit
        settings = config.settings
        return bt.fit_bradley_terry(
            history.n_essays,
            *decisions.outcomes(),
            settings.bt_prior_precision,
            prior_mode=settings.bt_prior_mode,
        )

    screened = fit_setting_aside_noise(decided, refit)
    if screened.set_aside.size == 0:
        return fit, logit_scale(config.judges), history.outcomes()
    scale = logit_scale(config.judges, screened.judgements.judge)
    return screened.fit, scale, screened.judgements.outcomes()


def _empty_fit(history: ComparisonHistory, settings: AlgorithmSettings) -> bt.BTFit:
    """The fit of a net with no success yet (every score 0, SEs from the prior alone): the
    worker stores nothing then, but the harness still reports a result for the run."""
    empty = np.zeros(0, dtype=np.intp)
    return bt.fit_bradley_terry(
        history.n_essays,
        empty,
        empty,
        settings.bt_prior_precision,
        prior_mode=settings.bt_prior_mode,
    )


def _point(
    wave: int,
    context: ContinuationContext,
    fit: bt.BTFit,
    truth: FloatArray,
    scale: float,
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
        reliability=fit.reliability,
        coverage=interval_coverage(fit.scores, fit.standard_errors, scale * truth),
        prior_sd=fit.prior_sd,
    )
