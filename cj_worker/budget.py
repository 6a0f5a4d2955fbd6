"""Budgets a user can reason about: from a target, and checked against what the settings allow.

A budget is a number of comparisons, which means little to a teacher; "each essay judged
about 12 times" or "a reliability of about 0.8" means something. This module turns either
target into a budget, and says at intake, with the numbers, when the budget and the
settings disagree: a batch whose ``max_iterations`` and wave size cannot spend its budget
used to stop early without a word (issue 15: any budget above ~600 for 40 essays).

Pure arithmetic on plain values and :class:`~cj_worker.config.AlgorithmSettings`: the
command line calls it before submitting, and intake (``cj.create_batch``) can call
:func:`plan_budget` on a request the same way to log or store the warnings.

**Comparisons per essay and reliability.** Verhavert, Bouwer, Donche & De Maeyer (2019, "A
meta-analysis on the reliability of comparative judgement", Assessment in Education
26(5), 541-562) found that about 10-14 comparisons per essay reach a scale separation
reliability of 0.70 and 26-37 reach 0.90; Kinnear, Jones & Davies (2025, Behavior Research
Methods 57, 222; 101 data sets) found 10 comparisons per essay generally sufficient. This
engine reproduces those figures under random pairing (issue 10: 0.70 at 8.5-11, 0.90 at
29-33). :data:`RELIABILITY_POINTS` takes 10 and 30, the round numbers inside both the
published and the measured ranges, and :func:`comparisons_per_essay_for` interpolates
between them with the odds of the reliability a power of the comparisons per essay (a
straight line in log-odds against log comparisons; Spearman-Brown is the special case of
power 1). The relation assumes random-like pairing and judges like those of the studies;
under adaptive pairing SSR overstates the truth, so read the derived budget as the least
that should reach the target, not a guarantee (the engine's honest headline reliability is
being built under issue 10; check the figure the batch reports).

**What the settings allow.** A COVERAGE wave pairs each essay at most once, so it has at
most ``n // 2`` comparisons (fewer under ``comparisons_per_stability_check_iteration``);
once every pair is judged, the regular (small) net may run
``max_resampling_passes_for_regular_net`` (``..._small_net``) RESAMPLING waves of at most
every pair each; and there are at most ``max_iterations`` waves. :func:`capacity` is the
most a batch can spend under those rules when every comparison succeeds (failed
comparisons are retried and spend budget too, so a judge that fails can spend more). It is
an upper bound: late in Phase 1 a wave rarely pairs every essay (measured: 40 essays and
40 waves made 775-778 comparisons, not the 780 pairs and a resampling pass counted here),
so warnings and errors fire only for budgets certainly out of reach, and the
``max_iterations`` they suggest is a lower bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cj_worker.core.coverage import is_small_net
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError

RELIABILITY_POINTS: tuple[tuple[float, float], tuple[float, float]] = ((10.0, 0.70), (30.0, 0.90))
"""(comparisons per essay, reliability) the interpolation passes through (see above)."""
TARGET_RELIABILITY_RANGE = (0.50, 0.95)
"""Targets outside it are refused: the published data hardly reach beyond it."""
MIN_USEFUL_COMPARISONS_PER_ESSAY = 10.0
"""Below this many comparisons per essay a ranking is rarely reliable: Verhavert et al.
(2019) put 0.70 at 10-14 per essay, Kinnear et al. (2025) recommend 10."""
SOURCE = "Verhavert et al. 2019: 10-14 per essay for reliability 0.70, 26-37 for 0.90"
"""The citation a warning or a derived budget names."""


class BudgetError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """A budget or target that cannot work; ``field`` names the option or setting to change."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class FieldNames:
    """How the caller names the three ways to set a budget (options, or payload fields)."""

    budget: str = "budget"
    comparisons_per_essay: str = "comparisons_per_essay"
    target_reliability: str = "target_reliability"


# ------------------------------------------------------------------ targets to budgets


def budget_for_comparisons_per_essay(
    per_essay: float, essays: int, *, field: str = "comparisons_per_essay"
) -> int:
    """ceil(per_essay * essays / 2): each comparison gives two essays one comparison each."""
    if not (math.isfinite(per_essay) and per_essay > 0):
        raise BudgetError(field, f"must be a positive number, got {per_essay:g}")
    # Rounded first so that 0.1 * 30 / 2 = 1.5000000000000002 is not taken up to 2.
    return max(1, math.ceil(round(per_essay * essays / 2, 9)))


def comparisons_per_essay_for(reliability: float, *, field: str = "target_reliability") -> float:
    """Comparisons per essay that reach ``reliability`` (random-like pairing; see above)."""
    low, high = TARGET_RELIABILITY_RANGE
    if not low <= reliability <= high:
        raise BudgetError(
            field,
            f"must be between {low:.2f} and {high:.2f} (the range the published relation "
            f"covers), got {reliability:g}",
        )
    (k1, r1), _ = RELIABILITY_POINTS
    return k1 * math.exp((_logit(reliability) - _logit(r1)) / _power())


def reliability_for(per_essay: float) -> float:
    """The reliability the relation expects from ``per_essay`` comparisons per essay."""
    if per_essay <= 0:
        return 0.0
    (k1, r1), _ = RELIABILITY_POINTS
    log_odds = _logit(r1) + _power() * math.log(per_essay / k1)
    return 1.0 / (1.0 + math.exp(-log_odds))


def budget_for_reliability(
    reliability: float, essays: int, *, field: str = "target_reliability"
) -> int:
    return budget_for_comparisons_per_essay(
        comparisons_per_essay_for(reliability, field=field), essays, field=field
    )


def average_per_essay(comparisons: int, essays: int) -> float:
    """Average comparisons per essay: every comparison counts for two essays."""
    return 2.0 * comparisons / essays if essays > 0 else 0.0


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _power() -> float:
    """Slope of log-odds of reliability against log comparisons per essay."""
    (k1, r1), (k2, r2) = RELIABILITY_POINTS
    return (_logit(r2) - _logit(r1)) / math.log(k2 / k1)


# ------------------------------------------------------------- what the settings allow


@dataclass(frozen=True)
class Capacity:
    """The most comparisons a batch of ``essays`` can make under its settings."""

    essays: int
    wave_size: int
    """Most comparisons of one COVERAGE wave."""
    wave_size_capped: bool
    """``comparisons_per_stability_check_iteration`` is below ``essays // 2``."""
    max_iterations: int
    all_pairs: int
    coverage_waves: int
    """Waves needed to judge every pair once at ``wave_size`` a wave (at least)."""
    small_net: bool
    """The resampling passes are ``max_resampling_passes_for_small_net``'s."""
    resampling_passes: int
    """RESAMPLING waves the settings allow once every pair is judged."""
    resampling_wave_size: int
    most_comparisons: int

    @property
    def passes_setting(self) -> str:
        return f"max_resampling_passes_for_{'small' if self.small_net else 'regular'}_net"

    def describe(self) -> str:
        """The capacity in one clause with its numbers, for warnings and errors."""
        if self.essays < 2:
            return f"{self.essays} essay cannot be compared"
        reason = (
            "comparisons_per_stability_check_iteration"
            if self.wave_size_capped
            else "a wave pairs each essay at most once"
        )
        if self.max_iterations <= self.coverage_waves:
            return (
                f"{self.essays} essays allow at most {self.wave_size} comparisons per wave "
                f"({reason}) and max_iterations={self.max_iterations} waves: at most "
                f"{self.most_comparisons} comparisons"
            )
        passes = "pass" if self.resampling_passes == 1 else "passes"
        return (
            f"{self.essays} essays have {self.all_pairs} pairs, each judged once and then "
            f"again in at most {self.resampling_passes} resampling {passes} "
            f"({self.passes_setting}): at most {self.most_comparisons} comparisons"
        )

    def iterations_needed(self, budget: int) -> int | None:
        """Smallest ``max_iterations`` that lets ``budget`` be spent; None if none does."""
        if self.essays < 2:
            return None
        if budget <= self.all_pairs:
            return math.ceil(budget / self.wave_size)
        extra_waves = math.ceil((budget - self.all_pairs) / self.resampling_wave_size)
        if extra_waves > self.resampling_passes:
            return None
        return self.coverage_waves + extra_waves


def capacity(essays: int, settings: AlgorithmSettings) -> Capacity:
    """The most comparisons ``settings`` let a batch of ``essays`` make (all succeeding)."""
    all_pairs = essays * (essays - 1) // 2
    cap = settings.comparisons_per_stability_check_iteration
    natural = essays // 2
    wave_size = natural if cap is None else min(cap, natural)
    small = is_small_net(essays, settings.min_resampling_net_size)
    passes = (
        settings.max_resampling_passes_for_small_net
        if small
        else settings.max_resampling_passes_for_regular_net
    )
    resampling_size = all_pairs if cap is None else min(cap, all_pairs)
    iterations = settings.max_iterations
    if essays < 2:
        coverage_waves, most, resampling = 0, 0, 0
    else:
        coverage_waves = math.ceil(all_pairs / wave_size)
        if iterations <= coverage_waves:
            resampling = 0
            most = min(iterations * wave_size, all_pairs)
        else:
            resampling = min(iterations - coverage_waves, passes)
            most = all_pairs + resampling * resampling_size
    return Capacity(
        essays=essays,
        wave_size=wave_size,
        wave_size_capped=cap is not None and cap < natural,
        max_iterations=iterations,
        all_pairs=all_pairs,
        coverage_waves=coverage_waves,
        small_net=small,
        resampling_passes=passes,
        resampling_wave_size=max(1, resampling_size),
        most_comparisons=most,
    )


# ------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class BudgetPlan:
    """The budget a batch will get, how it was chosen, and what the user should know."""

    budget: int
    essays: int
    origin: str
    """How the budget was chosen, in words (``"--comparisons-per-essay 12"``)."""
    capacity: Capacity
    warnings: tuple[str, ...]

    @property
    def spendable(self) -> int:
        """The part of the budget the settings let a batch spend."""
        return min(self.budget, self.capacity.most_comparisons)

    @property
    def comparisons_per_essay(self) -> float:
        """Average comparisons per essay if the spendable budget is spent."""
        return average_per_essay(self.spendable, self.essays)


def plan_budget(
    essays: int,
    settings: AlgorithmSettings,
    *,
    budget: int | None = None,
    comparisons_per_essay: float | None = None,
    target_reliability: float | None = None,
    names: FieldNames | None = None,
) -> BudgetPlan:
    """The budget for ``essays`` from at most one of the three ways, checked.

    Without any, the budget is ``settings.max_pairwise_comparisons`` (the default). A
    target the settings cannot reach is an error (:class:`BudgetError` naming the target);
    a budget they cannot spend, a budget of too few comparisons per essay and a budget
    below ``min_comparisons_for_stability_check`` are warnings, because a budget is a
    ceiling the user may mean as one.
    """
    names = names or FieldNames()
    given = [
        (field, value)
        for field, value in (
            (names.budget, budget),
            (names.comparisons_per_essay, comparisons_per_essay),
            (names.target_reliability, target_reliability),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise BudgetError(given[1][0], f"give one of {', '.join(f for f, _ in given)}, not both")
    room = capacity(essays, settings)
    target: str | None = None
    if budget is not None:
        if budget < 1:
            raise BudgetError(names.budget, f"must be at least 1, got {budget}")
        chosen, origin = budget, f"{names.budget} {budget}"
    elif comparisons_per_essay is not None:
        target = names.comparisons_per_essay
        chosen = budget_for_comparisons_per_essay(comparisons_per_essay, essays, field=target)
        origin = f"{target} {comparisons_per_essay:g} for {essays} essays"
    elif target_reliability is not None:
        target = names.target_reliability
        per_essay = comparisons_per_essay_for(target_reliability, field=target)
        chosen = budget_for_comparisons_per_essay(per_essay, essays, field=target)
        origin = (
            f"{target} {target_reliability:g}: about {per_essay:.1f} comparisons per essay "
            f"for {essays} essays ({SOURCE}; assumes random-like pairing)"
        )
    else:
        chosen = settings.max_pairwise_comparisons
        origin = f"the default budget (max_pairwise_comparisons={chosen})"
    if essays < 2:
        return BudgetPlan(chosen, essays, origin, room, ())
    if target is not None and chosen > room.most_comparisons:
        raise BudgetError(target, _unreachable(chosen, room, "it needs", "lower the target"))
    warnings = []
    # A default budget beyond what the pairs allow is no one's mistake (a small net simply
    # runs out of pairs, and its stop reason says so); beyond what max_iterations allows it
    # is a settings mismatch the user should hear about.
    chosen_by_user = budget is not None
    if chosen > room.most_comparisons and (
        chosen_by_user or room.iterations_needed(chosen) is not None
    ):
        warnings.append(
            _unreachable(chosen, room, "the budget cannot be spent: it is", "lower the budget")
        )
    spendable = min(chosen, room.most_comparisons)
    per_essay_now = average_per_essay(spendable, essays)
    per_essay_most = average_per_essay(room.most_comparisons, essays)
    if per_essay_now < MIN_USEFUL_COMPARISONS_PER_ESSAY <= per_essay_most:
        useful = budget_for_comparisons_per_essay(MIN_USEFUL_COMPARISONS_PER_ESSAY, essays)
        warnings.append(
            f"{spendable} comparisons for {essays} essays is {per_essay_now:.1f} per essay: "
            f"below {MIN_USEFUL_COMPARISONS_PER_ESSAY:.0f} per essay a ranking is rarely "
            f"reliable ({SOURCE}); a budget of {useful} gives 10"
        )
    if chosen < min(settings.min_comparisons_for_stability_check, room.most_comparisons):
        warnings.append(
            f"stability can never stop this batch: min_comparisons_for_stability_check="
            f"{settings.min_comparisons_for_stability_check} is more than the budget of "
            f"{chosen}"
        )
    return BudgetPlan(chosen, essays, origin, room, tuple(warnings))


def _unreachable(budget: int, room: Capacity, lead: str, alternative: str) -> str:
    """Why ``budget`` is beyond ``room``, and which setting to change."""
    needed = room.iterations_needed(budget)
    if needed is not None:
        # A lower bound: late in Phase 1 a wave rarely pairs every essay, so a batch needs a
        # few waves more than the perfect schedule counted here.
        fix = f"raise max_iterations to at least {needed} (--set max_iterations=N)"
    elif room.wave_size_capped:
        fix = "raise comparisons_per_stability_check_iteration"
    else:
        fix = (
            f"that is more than every pair judged {room.resampling_passes + 1} times: raise "
            f"{room.passes_setting}"
        )
    return f"{lead} {budget} comparisons, but {room.describe()}; {fix}, or {alternative}"
