"""Budgets from targets, and what the settings let a batch spend (cj_worker.budget)."""

from __future__ import annotations

import itertools

import pytest

from cj_worker import budget
from cj_worker.budget import BudgetError, FieldNames, capacity, plan_budget
from cj_worker.core.settings import AlgorithmSettings

DEFAULTS = AlgorithmSettings()


def settings(**changes: object) -> AlgorithmSettings:
    return DEFAULTS.override(dict(changes))


# ------------------------------------------------------------------ targets to budgets


@pytest.mark.parametrize(
    ("per_essay", "essays", "expected"),
    [(10, 40, 200), (12, 25, 150), (2.5, 3, 4), (0.1, 30, 2), (0.01, 2, 1), (4, 1, 2)],
)
def test_a_budget_from_comparisons_per_essay_is_ceil_k_n_over_2(
    per_essay: float, essays: int, expected: int
) -> None:
    assert budget.budget_for_comparisons_per_essay(per_essay, essays) == expected


@pytest.mark.parametrize("per_essay", [0.0, -1.0, float("nan"), float("inf")])
def test_comparisons_per_essay_must_be_positive(per_essay: float) -> None:
    with pytest.raises(BudgetError, match=r"^--k: must be a positive number") as error:
        budget.budget_for_comparisons_per_essay(per_essay, 10, field="--k")
    assert (error.value.field, error.value.exit_code) == ("--k", 2)


def test_the_reliability_relation_passes_through_its_published_points() -> None:
    for per_essay, reliability in budget.RELIABILITY_POINTS:
        assert budget.comparisons_per_essay_for(reliability) == pytest.approx(per_essay)
        assert budget.reliability_for(per_essay) == pytest.approx(reliability)
    assert budget.budget_for_reliability(0.9, 40) == 600
    assert budget.budget_for_reliability(0.7, 12) == 60


def test_the_reliability_relation_is_increasing_and_its_own_inverse() -> None:
    targets = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    needed = [budget.comparisons_per_essay_for(r) for r in targets]
    assert needed == sorted(needed)
    assert len(set(needed)) == len(needed)
    for reliability, per_essay in zip(targets, needed, strict=True):
        assert budget.reliability_for(per_essay) == pytest.approx(reliability)
    assert budget.reliability_for(0) == 0.0


@pytest.mark.parametrize("reliability", [0.49, 0.96, 1.0, 0.0, -0.5])
def test_a_target_outside_the_published_range_is_refused(reliability: float) -> None:
    with pytest.raises(BudgetError, match=r"target_reliability: must be between 0.50 and 0.95"):
        budget.comparisons_per_essay_for(reliability)


# ------------------------------------------------------------- what the settings allow


@pytest.mark.parametrize(
    ("essays", "changes", "wave", "most"),
    [
        # 40 essays: 39 waves of 20 to judge 780 pairs once; max_iterations 30 binds first.
        (40, {}, 20, 600),
        # 12 essays: 66 pairs in 11 waves, then 1 resampling pass of every pair.
        (12, {}, 6, 132),
        # a small net (6 <= 10 essays): 15 pairs, then 2 resampling passes.
        (6, {}, 3, 45),
        (7, {}, 3, 63),
        (40, {"comparisons_per_stability_check_iteration": 5}, 5, 150),
        (12, {"max_iterations": 5}, 6, 30),
        (12, {"max_iterations": 12, "comparisons_per_stability_check_iteration": 4}, 4, 48),
        (1, {}, 0, 0),
    ],
)
def test_capacity(essays: int, changes: dict[str, int], wave: int, most: int) -> None:
    room = capacity(essays, settings(**changes))
    assert (room.wave_size, room.most_comparisons) == (wave, most)


def test_iterations_needed_is_the_least_max_iterations_that_spends_the_budget() -> None:
    for essays, cap, spend in itertools.product((2, 5, 11, 30), (None, 3), (1, 7, 40, 90, 400)):
        base = settings(comparisons_per_stability_check_iteration=cap)
        needed = capacity(essays, base).iterations_needed(spend)
        most_ever = capacity(
            essays, settings(comparisons_per_stability_check_iteration=cap, max_iterations=10_000)
        ).most_comparisons
        if needed is None:
            assert most_ever < spend, (essays, cap, spend)
            continue
        with_needed = settings(comparisons_per_stability_check_iteration=cap, max_iterations=needed)
        assert capacity(essays, with_needed).most_comparisons >= spend, (essays, cap, spend)
        if needed > 1:
            fewer = settings(
                comparisons_per_stability_check_iteration=cap, max_iterations=needed - 1
            )
            assert capacity(essays, fewer).most_comparisons < spend, (essays, cap, spend)


# ------------------------------------------------------------------------- the plan


def test_without_a_target_the_default_budget_is_used_quietly() -> None:
    plan = plan_budget(40, DEFAULTS)
    assert (plan.budget, plan.warnings, plan.comparisons_per_essay) == (300, (), 15.0)
    assert plan.origin == "the default budget (max_pairwise_comparisons=300)"


def test_a_small_net_running_out_of_pairs_under_the_default_budget_is_no_warning() -> None:
    plan = plan_budget(6, DEFAULTS)
    assert (plan.budget, plan.spendable, plan.warnings) == (300, 45, ())


def test_a_budget_the_iterations_cannot_spend_is_a_warning_with_the_fix() -> None:
    # 40 waves: 39 judge the 780 pairs once, the 40th re-judges 420 of them.
    [warning] = plan_budget(40, DEFAULTS, budget=1200).warnings
    assert warning == (
        "the budget cannot be spent: it is 1200 comparisons, but 40 essays allow at most 20 "
        "comparisons per wave (a wave pairs each essay at most once) and max_iterations=30 "
        "waves: at most 600 comparisons; raise max_iterations to at least 40 "
        "(--set max_iterations=N), or lower the budget"
    )


def test_a_budget_beyond_every_pair_judged_names_the_resampling_setting() -> None:
    [warning] = plan_budget(12, DEFAULTS, budget=500).warnings
    assert "at most 132 comparisons" in warning
    assert "every pair judged 2 times: raise max_resampling_passes_for_regular_net" in warning


def test_a_wave_cap_that_starves_the_default_budget_is_a_warning() -> None:
    [warning] = plan_budget(40, settings(comparisons_per_stability_check_iteration=5)).warnings
    assert "at most 5 comparisons per wave (comparisons_per_stability_check_iteration)" in warning
    assert "raise max_iterations to at least 60" in warning


def test_too_few_comparisons_per_essay_is_a_warning_with_its_source() -> None:
    [warning] = plan_budget(200, DEFAULTS).warnings
    assert warning.startswith("300 comparisons for 200 essays is 3.0 per essay: below 10")
    assert "Verhavert et al. 2019" in warning
    assert warning.endswith("a budget of 1000 gives 10")
    assert plan_budget(200, DEFAULTS, budget=1000).warnings == ()


def test_a_budget_below_the_stability_minimum_is_a_warning() -> None:
    warnings = plan_budget(40, DEFAULTS, budget=10).warnings
    assert any(w.startswith("stability can never stop this batch") for w in warnings)


def test_a_target_the_settings_cannot_reach_is_an_error_naming_it() -> None:
    names = FieldNames("--budget", "--comparisons-per-essay", "--target-reliability")
    with pytest.raises(BudgetError) as error:
        plan_budget(40, settings(max_iterations=10), target_reliability=0.9, names=names)
    assert error.value.field == "--target-reliability"
    assert str(error.value) == (
        "--target-reliability: it needs 600 comparisons, but 40 essays allow at most 20 "
        "comparisons per wave (a wave pairs each essay at most once) and max_iterations=10 "
        "waves: at most 200 comparisons; raise max_iterations to at least 30 "
        "(--set max_iterations=N), or lower the target"
    )
    with pytest.raises(BudgetError, match=r"^comparisons_per_essay: it needs 600 comparisons"):
        plan_budget(12, DEFAULTS, comparisons_per_essay=100)


def test_targets_give_their_budgets_and_say_how() -> None:
    plan = plan_budget(40, DEFAULTS, comparisons_per_essay=12)
    assert (plan.budget, plan.origin) == (240, "comparisons_per_essay 12 for 40 essays")
    plan = plan_budget(40, DEFAULTS, target_reliability=0.8)
    assert plan.budget == 311
    assert plan.origin.startswith("target_reliability 0.8: about 15.5 comparisons per essay")
    assert "random-like pairing" in plan.origin


def test_one_way_at_a_time_and_a_budget_of_at_least_one() -> None:
    with pytest.raises(BudgetError, match=r"^comparisons_per_essay: give one of budget, "):
        plan_budget(10, DEFAULTS, budget=10, comparisons_per_essay=3)
    with pytest.raises(BudgetError, match=r"^budget: must be at least 1, got 0"):
        plan_budget(10, DEFAULTS, budget=0)


def test_one_essay_has_nothing_to_warn_about() -> None:
    assert plan_budget(1, DEFAULTS, budget=5).warnings == ()
