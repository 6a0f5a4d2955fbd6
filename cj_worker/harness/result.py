"""What a harness run returns: the outcome as the engine would publish it, and its accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.decision import Action, Reason
from cj_worker.core.history import ComparisonHistory
from cj_worker.harness.metrics import interval_coverage

_CAP_LABELS: dict[Reason, str] = {
    Reason.STABLE: "stability",
    Reason.MAX_ITERATIONS: "iterations",
    Reason.BUDGET_EXHAUSTED: "budget",
}


def cap_label(reason: Reason) -> str:
    """The harness's name for why a run stopped (SPEC section 10): the three classic caps
    get their short names, every other reason ``decide`` can give keeps its own."""
    return _CAP_LABELS.get(reason, reason.value)


@dataclass(frozen=True)
class SESummary:
    mean: float
    median: float
    max: float

    @classmethod
    def of(cls, standard_errors: FloatArray) -> SESummary:
        if standard_errors.size == 0:
            nan = float("nan")
            return cls(nan, nan, nan)
        return cls(
            float(np.mean(standard_errors)),
            float(np.median(standard_errors)),
            float(np.max(standard_errors)),
        )


@dataclass(frozen=True)
class TrajectoryPoint:
    """The state after one judged wave (at the decision that follows it)."""

    wave: int
    comparisons: int
    """Comparisons dispatched so far (every attempt: what the budget counts)."""
    succeeded: int
    comparisons_per_essay: float
    """2 * comparisons / n."""
    spearman: float
    kendall: float
    true_reliability: float
    rmse: float
    ssr: float
    split_half: float
    """NaN unless requested at this point (``HarnessConfig.split_half_at``)."""
    max_score_change: float
    reliability: float = float("nan")
    """The fit's headline reliability (``BTFit.reliability``); NaN if the runner did not
    record it."""
    coverage: float = float("nan")
    """Share of 95 % intervals holding the true ability (``metrics.interval_coverage``)."""
    prior_sd: float = float("nan")
    """The fit's tau (``BTFit.prior_sd``)."""


@dataclass(frozen=True)
class DecisionRecord:
    """One entry of the decision log, as the worker persists it."""

    wave: int
    action: Action
    reason: Reason
    resampling_pass_count: int
    wave_size: int
    """Comparisons dispatched by this decision (0 when it finalized)."""


@dataclass(frozen=True)
class HarnessResult:
    """Outcome and accuracy of one synthetic net."""

    essay_count: int
    true_abilities: FloatArray
    scores: FloatArray
    standard_errors: FloatArray
    stability_achieved: bool
    cap_reason: str
    """``stability``, ``budget``, ``iterations`` or the final reason's own name."""
    final_reason: Reason
    final_action: Action
    iterations: int
    """Waves run."""
    comparisons_per_wave: tuple[int, ...]
    comparisons_total: int
    succeeded: int
    failed: int
    resampling_pass_count: int
    se_summary: SESummary
    spearman: float
    kendall: float
    rmse: float
    ssr: float
    true_reliability: float
    split_half_reliability: float
    trajectory: tuple[TrajectoryPoint, ...]
    decisions: tuple[DecisionRecord, ...]
    history: ComparisonHistory = field(repr=False)
    """Every comparison of the run, for analyses the summary does not cover."""
    judges: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.intp), repr=False)
    """Index in the pool of the judge of each comparison of ``history``."""
    reliability: float = float("nan")
    """The headline reliability the engine reports (``BTFit.reliability``); NaN if the
    runner did not record it."""
    prior_sd: float = float("nan")
    """tau of the final fit (``BTFit.prior_sd``)."""
    judge_scale: float = 1.0
    """The judges' logit scale (``simulated_judge.logit_scale``): scores estimate
    ``judge_scale * true_abilities``, so coverage is measured against that."""

    @property
    def coverage(self) -> float:
        """Share of the final 95 % intervals that hold the (centred) true ability.

        The truth is taken on the scale the abilities were drawn on; for judges of
        discrimination a the judges' scale is a times it (compute with
        ``metrics.interval_coverage`` then).
        """
        return interval_coverage(
            self.scores, self.standard_errors, self.judge_scale * self.true_abilities
        )

    @property
    def reliability_error(self) -> float:
        """Reported (headline) reliability minus the true reliability."""
        return self.reliability - self.true_reliability

    @property
    def comparisons_per_essay(self) -> float:
        return 2.0 * self.comparisons_total / self.essay_count if self.essay_count else 0.0

    @property
    def ssr_inflation(self) -> float:
        """SSR minus the true reliability: how much the Fisher-SE figure overstates."""
        return self.ssr - self.true_reliability

    def summary(self) -> dict[str, float | int | str | bool]:
        """Flat scalar figures for tables, JSON and CSV."""
        return {
            "essays": self.essay_count,
            "cap_reason": self.cap_reason,
            "final_reason": self.final_reason.value,
            "stability_achieved": self.stability_achieved,
            "iterations": self.iterations,
            "comparisons": self.comparisons_total,
            "comparisons_per_essay": self.comparisons_per_essay,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "se_mean": self.se_summary.mean,
            "se_median": self.se_summary.median,
            "se_max": self.se_summary.max,
            "spearman": self.spearman,
            "kendall": self.kendall,
            "rmse": self.rmse,
            "reliability": self.reliability,
            "true_reliability": self.true_reliability,
            "coverage": self.coverage,
            "prior_sd": self.prior_sd,
            "ssr": self.ssr,
            "split_half": self.split_half_reliability,
        }
