"""What one harness run simulates: the net, the truth, the judges, the engine settings.

The engine part is the same :class:`~cj_worker.config.AlgorithmSettings` a batch stores, so a
harness run and a production batch with the same settings follow the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cj_worker.core.array_types import FloatArray
from cj_worker.core.reliability import DEFAULT_SPLITS
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.harness.judges import JUDGE_PROFILES, SimulatedJudge


@dataclass(frozen=True)
class RandomStreams:
    """Independent generators, so changing one part of a run never shifts another's draws.

    The truth depends on the seed only, so the same seed gives every pairing policy the same
    essays and a comparison across policies is paired.
    """

    truth: np.random.Generator
    judges: np.random.Generator
    analysis: np.random.Generator
    """Split-half splits: measurement must not perturb what it measures."""


@dataclass(frozen=True)
class HarnessConfig:
    """One synthetic net run through the engine's waves."""

    essay_count: int
    true_sd: float = 1.5
    """SD of the true abilities (logits), drawn N(0, true_sd^2) unless given."""
    budget: int | None = None
    """Comparison budget (MAX_PAIRWISE_COMPARISONS); None takes the settings' default."""
    settings: AlgorithmSettings = field(default_factory=AlgorithmSettings)
    seed: int = 0
    judges: tuple[SimulatedJudge, ...] = JUDGE_PROFILES["exact"]
    """The pool; each comparison goes to one drawn uniformly."""
    true_abilities: tuple[float, ...] | None = None
    """Explicit truth (overrides ``true_sd``), for hand-made nets in tests."""
    split_half_splits: int = DEFAULT_SPLITS
    split_half_at: tuple[float, ...] = ()
    """Comparisons per essay at which the trajectory also records split-half reliability
    (at the first decision that reaches each); it costs 2 * splits fits, so it is opt-in."""
    split_half_every_wave: bool = False

    def __post_init__(self) -> None:
        if self.essay_count < 0:
            raise ValueError(f"essay_count must be >= 0, got {self.essay_count}")
        if not np.isfinite(self.true_sd) or self.true_sd < 0:
            raise ValueError(f"true_sd must be finite and >= 0, got {self.true_sd}")
        if self.budget is not None and self.budget < 0:
            raise ValueError(f"budget must be >= 0, got {self.budget}")
        if not self.judges:
            raise ValueError("at least one judge is needed")
        if self.true_abilities is not None and len(self.true_abilities) != self.essay_count:
            raise ValueError("true_abilities must have one value per essay")
        if self.split_half_splits < 1:
            raise ValueError("split_half_splits must be >= 1")

    @property
    def total_budget(self) -> int:
        return self.settings.max_pairwise_comparisons if self.budget is None else self.budget

    @property
    def pair_seed(self) -> int:
        """The batch's pair seed (as the worker) or the run seed; each wave's pairing
        generator is ``wave_rng(pair_seed, wave)``, exactly as in the worker."""
        return self.seed if self.settings.pair_seed is None else self.settings.pair_seed

    def streams(self) -> RandomStreams:
        """Truth, judges and analysis spawned from the run seed (pairing: ``pair_seed``)."""
        truth, judges, analysis = np.random.SeedSequence(self.seed).spawn(3)
        return RandomStreams(
            truth=np.random.default_rng(truth),
            judges=np.random.default_rng(judges),
            analysis=np.random.default_rng(analysis),
        )

    def draw_truth(self, rng: np.random.Generator) -> FloatArray:
        if self.true_abilities is not None:
            return np.asarray(self.true_abilities, dtype=np.float64)
        return rng.normal(0.0, self.true_sd, size=self.essay_count)


def trajectory_settings(
    base: AlgorithmSettings, max_comparisons_per_essay: float
) -> AlgorithmSettings:
    """Settings that let every policy run to the same K for accuracy-vs-K curves.

    Stability stopping is off (threshold 0), and iterations and resampling passes are large
    enough that only the budget (K * n / 2 comparisons) ends the run; with waves of about
    n/2 comparisons that is about K waves, but late COVERAGE waves on small nets can be
    smaller, hence the margin.
    """
    waves = int(np.ceil(max_comparisons_per_essay))
    return base.override(
        {
            "score_stability_threshold": 0.0,
            "max_iterations": max(10 * waves, 100),
            "max_resampling_passes_for_regular_net": 10 * waves + 100,
            "max_resampling_passes_for_small_net": 10 * waves + 100,
        }
    )


def budget_for(essay_count: int, comparisons_per_essay: float) -> int:
    """Comparisons that give each essay ``comparisons_per_essay`` on average (K * n / 2)."""
    return int(np.ceil(comparisons_per_essay * essay_count / 2.0))
