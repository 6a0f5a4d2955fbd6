"""The continuation decision (SPEC section 6): every reason code, and the decision order.

The table below gives, for each situation, what a small net (6 essays) and a regular net
(24 essays) must do; both are built by the same ``context`` builder, so the net size is
the only difference between the two runs of a case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from cj_worker.core.coverage import max_possible_pairs
from cj_worker.core.decision import Action, ContinuationContext, Decision, Reason, decide
from cj_worker.core.success_guard import WaveCounts
from tests.builders.core import (
    REGULAR_NET,
    SMALL_NET,
    by_net_size,
    context,
    make_settings,
)

Outcome = tuple[Action, Reason]

COVERAGE_WAVE: Outcome = (Action.REQUEST_COVERAGE_WAVE, Reason.COVERAGE_INCOMPLETE)
SMALL_NET_PHASE2: Outcome = (Action.REQUEST_RESAMPLING_WAVE, Reason.SMALL_NET_PHASE2)
REGULAR_RESAMPLING: Outcome = (Action.REQUEST_RESAMPLING_WAVE, Reason.REGULAR_RESAMPLING)
WAIT: Outcome = (Action.WAIT, Reason.WAVE_IN_FLIGHT)
STABLE: Outcome = (Action.FINALIZE_SCORING, Reason.STABLE)
BUDGET: Outcome = (Action.FINALIZE_SCORING, Reason.BUDGET_EXHAUSTED)
MAX_ITERATIONS: Outcome = (Action.FINALIZE_SCORING, Reason.MAX_ITERATIONS)
SMALL_CAP: Outcome = (Action.FINALIZE_SCORING, Reason.SMALL_NET_RESAMPLING_CAP)
REGULAR_CAP: Outcome = (Action.FINALIZE_SCORING, Reason.RESAMPLING_CAP)
NO_PAIRS: Outcome = (Action.FINALIZE_SCORING, Reason.NO_PAIRS_LEFT)
FAILURE: Outcome = (Action.FINALIZE_FAILURE, Reason.LOW_SUCCESS_RATE)
JUDGE_FAILED: Outcome = (Action.FINALIZE_FAILURE, Reason.JUDGE_FAILED_WAVE)
INSUFFICIENT: Outcome = (Action.FINALIZE_SCORING, Reason.INSUFFICIENT_ESSAYS)

DEFAULTS = make_settings()
MANY_FAILED = 1000
"""Far more failures than successes on either net: below the default guard of 0.8."""


@dataclass(frozen=True)
class Case:
    """A situation, built for an ``n``-essay net, and its outcome on each net size."""

    name: str
    build: Callable[[int], ContinuationContext]
    small: Outcome
    regular_if_different: Outcome | None = None

    @property
    def regular(self) -> Outcome:
        return self.small if self.regular_if_different is None else self.regular_if_different


CASES = [
    Case("coverage incomplete", lambda n: context(n, coverage_complete=False), COVERAGE_WAVE),
    Case(
        "coverage complete, first pass", lambda n: context(n), SMALL_NET_PHASE2, REGULAR_RESAMPLING
    ),
    Case(
        "coverage complete, second pass",
        lambda n: context(n, resampling_pass_count=1),
        SMALL_NET_PHASE2,
        REGULAR_CAP,
    ),
    Case(
        "coverage complete, passes used up",
        lambda n: context(n, resampling_pass_count=DEFAULTS.max_resampling_passes_for_small_net),
        SMALL_CAP,
        REGULAR_CAP,
    ),
    Case("wave in flight", lambda n: context(n, pending=3), WAIT),
    Case("in flight beats budget", lambda n: context(n, pending=3, budget_left=0), WAIT),
    Case("stable", lambda n: context(n, settled=True), STABLE),
    Case(
        "stable while coverage incomplete",
        lambda n: context(n, coverage_complete=False, settled=True),
        STABLE,
    ),
    Case("budget exhausted", lambda n: context(n, budget_left=0), BUDGET),
    Case(
        "budget exhausted, coverage incomplete",
        lambda n: context(n, coverage_complete=False, budget_left=0),
        BUDGET,
    ),
    Case(
        "max iterations",
        lambda n: context(n, coverage_complete=False, current_wave=DEFAULTS.max_iterations),
        MAX_ITERATIONS,
    ),
    Case(
        "one wave before max iterations",
        lambda n: context(n, coverage_complete=False, current_wave=DEFAULTS.max_iterations - 1),
        COVERAGE_WAVE,
    ),
    Case(
        "no coverage pairs left",
        lambda n: context(n, coverage_complete=False, coverage_available=0),
        NO_PAIRS,
    ),
    Case("no resampling pairs left", lambda n: context(n, resampling_available=0), NO_PAIRS),
    Case(
        "low success rate at the budget cap",
        lambda n: context(n, budget_left=0, failed=MANY_FAILED),
        FAILURE,
    ),
    Case(
        "low success rate at max iterations",
        lambda n: context(n, current_wave=DEFAULTS.max_iterations, failed=MANY_FAILED),
        FAILURE,
    ),
    Case(
        "low success rate at a resampling cap",
        lambda n: context(
            n,
            resampling_pass_count=DEFAULTS.max_resampling_passes_for_small_net,
            failed=MANY_FAILED,
        ),
        FAILURE,
    ),
    Case(
        "low success rate with no pairs left",
        lambda n: context(n, coverage_complete=False, coverage_available=0, failed=MANY_FAILED),
        FAILURE,
    ),
    Case(
        "success rate clearly below the guard, no cap: fail at once (SPEC section 6)",
        lambda n: context(n, coverage_complete=False, failed=MANY_FAILED),
        FAILURE,
    ),
    Case(
        "success rate below the guard but not clearly, no cap: keep going",
        lambda n: context(n, coverage_complete=False, covered=4, succeeded=15, failed=5),
        COVERAGE_WAVE,
    ),
    Case(
        "the judge failed every comparison of a wave: fail at that wave",
        lambda n: context(n, coverage_complete=False, failed=3, last_wave=WaveCounts(3, 0, 3)),
        JUDGE_FAILED,
    ),
    Case(
        "a wave of two failed whole: too small to condemn the judge",
        lambda n: context(n, coverage_complete=False, failed=2, last_wave=WaveCounts(2, 0, 2)),
        COVERAGE_WAVE,
    ),
    Case(
        "settled scores after a wave that came back mostly failed: silence, not stability",
        lambda n: context(n, settled=True, failed=3, last_wave=WaveCounts(5, 2, 3)),
        SMALL_NET_PHASE2,
        REGULAR_RESAMPLING,
    ),
    Case(
        "low success rate, settled scores, budget cap",
        lambda n: context(n, budget_left=0, settled=True, failed=MANY_FAILED),
        FAILURE,
    ),
    Case(
        "zero successes at the budget cap",
        lambda n: context(n, coverage_complete=False, covered=0, succeeded=0, budget_left=0),
        FAILURE,
    ),
    Case(
        "zero successes at the cap, guard of 0",
        lambda n: context(
            n,
            covered=0,
            succeeded=0,
            failed=2,
            budget_left=0,
            settings=make_settings(min_success_rate=0.0),
            last_wave=WaveCounts(2, 0, 2),
        ),
        FAILURE,
    ),
    Case(
        "success rate exactly at the guard at a cap",
        lambda n: context(
            n, budget_left=0, succeeded=4 * max_possible_pairs(n), failed=max_possible_pairs(n)
        ),
        BUDGET,
    ),
    Case("stable beats budget", lambda n: context(n, settled=True, budget_left=0), STABLE),
    Case(
        "stable beats max iterations and the resampling caps",
        lambda n: context(
            n, settled=True, current_wave=DEFAULTS.max_iterations, resampling_pass_count=5
        ),
        STABLE,
    ),
    Case(
        "budget beats max iterations",
        lambda n: context(n, budget_left=0, current_wave=DEFAULTS.max_iterations),
        BUDGET,
    ),
    Case(
        "max iterations beats resampling",
        lambda n: context(n, current_wave=DEFAULTS.max_iterations),
        MAX_ITERATIONS,
    ),
    Case(
        "settled scores below the success floor are not stable",
        lambda n: context(n, coverage_complete=False, covered=3, succeeded=11, settled=True),
        COVERAGE_WAVE,
    ),
    Case(
        "no previous scores are not stable",
        lambda n: context(n, coverage_complete=False, settled=None),
        COVERAGE_WAVE,
    ),
    Case(
        "small-net bound is a setting",
        lambda n: context(n, settings=make_settings(min_resampling_net_size=REGULAR_NET)),
        SMALL_NET_PHASE2,
    ),
]


@by_net_size
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_decision_table(n: int, case: Case) -> None:
    decision = decide(case.build(n))
    expected = case.small if n == SMALL_NET else case.regular
    assert (decision.action, decision.reason) == expected


@pytest.mark.parametrize("essays", [0, 1])
def test_fewer_than_two_essays_finalize_as_insufficient(essays: int) -> None:
    decision = decide(context(essays, coverage_complete=False, succeeded=0, pending=0))
    assert (decision.action, decision.reason) == INSUFFICIENT
    assert decision.wave_limit == 0


def test_every_reason_code_has_a_case() -> None:
    """A reason added to the enum without a row in this file fails here."""
    covered = {outcome[1] for case in CASES for outcome in (case.small, case.regular)}
    # ``stalled`` is the sweep's reason (tests/unit/tasks/test_sweep.py), ``judge_unauthorized``
    # the callback's (tests/unit/tasks/test_callbacks.py), ``essays_digest_mismatch`` and
    # ``intake_incomplete`` chunked intake's (tests/unit/tasks/test_intake_chunks.py), never
    # decide()'s.
    assert covered | {INSUFFICIENT[1]} == set(Reason) - {
        Reason.STALLED,
        Reason.JUDGE_UNAUTHORIZED,
        Reason.ESSAYS_DIGEST_MISMATCH,
        Reason.INTAKE_INCOMPLETE,
    }


# ------------------------------------------------------------- the three small-net rules


def test_small_net_with_complete_coverage_and_budget_requests_resampling_not_finalize() -> None:
    """Rule 5: coverage complete, not stable, budget left: Phase 2, not finalization."""
    decision = decide(context(SMALL_NET, settled=False, budget_left=50))
    assert decision.action is Action.REQUEST_RESAMPLING_WAVE
    assert not decision.action.finalizes
    assert decision.reason is Reason.SMALL_NET_PHASE2


@by_net_size
def test_resampling_wave_increments_the_pass_count(n: int) -> None:
    decision = decide(context(n, resampling_pass_count=0))
    assert decision.action is Action.REQUEST_RESAMPLING_WAVE
    assert decision.resampling_pass_count == 1
    assert decision.metadata_updates["resampling_pass_count"] == 1


def test_small_net_second_pass_increments_from_the_stored_count() -> None:
    decision = decide(context(SMALL_NET, resampling_pass_count=1))
    assert decision.resampling_pass_count == 2


@pytest.mark.parametrize(
    ("failed", "expected"),
    [
        pytest.param(0, SMALL_CAP, id="guard holds"),
        pytest.param(100, FAILURE, id="guard fails"),
    ],
)
def test_small_net_at_the_resampling_cap_finalizes_without_more_comparisons(
    failed: int, expected: Outcome
) -> None:
    cap = DEFAULTS.max_resampling_passes_for_small_net
    decision = decide(context(SMALL_NET, resampling_pass_count=cap, failed=failed))
    assert (decision.action, decision.reason) == expected
    assert decision.action.mode is None
    assert decision.wave_limit == 0
    assert decision.resampling_pass_count == cap


# ------------------------------------------------------------------ persisted figures


@by_net_size
@pytest.mark.parametrize("complete", [True, False])
def test_metadata_updates_are_exactly_the_four_coverage_keys(n: int, complete: bool) -> None:
    decision = decide(context(n, coverage_complete=complete))
    covered = max_possible_pairs(n) if complete else max_possible_pairs(n) // 2
    assert decision.metadata_updates == {
        "max_possible_pairs": max_possible_pairs(n),
        "successful_pairs_count": covered,
        "unique_coverage_complete": complete,
        "resampling_pass_count": 1 if complete else 0,
    }


def test_finalizing_decisions_keep_the_pass_count() -> None:
    decision = decide(context(REGULAR_NET, resampling_pass_count=1, budget_left=0))
    assert decision.action.finalizes
    assert decision.metadata_updates["resampling_pass_count"] == 1


# ------------------------------------------------------------------------ wave limit


@by_net_size
@pytest.mark.parametrize(
    ("budget_left", "wave_cap", "limit"),
    [(7, None, 7), (7, 5, 5), (7, 10, 7), (1, 12, 1), (500, None, 500)],
)
def test_wave_limit_is_budget_left_capped_by_the_wave_setting(
    n: int, budget_left: int, wave_cap: int | None, limit: int
) -> None:
    settings = make_settings(comparisons_per_stability_check_iteration=wave_cap)
    for complete in (True, False):
        decision = decide(
            context(n, coverage_complete=complete, budget_left=budget_left, settings=settings)
        )
        assert decision.action.mode is not None
        assert decision.wave_limit == limit


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: context(pending=2), id="wait"),
        pytest.param(lambda: context(settled=True), id="finalize"),
        pytest.param(lambda: context(budget_left=0, failed=MANY_FAILED), id="failure"),
    ],
)
def test_wave_limit_is_zero_without_a_wave_request(
    build: Callable[[], ContinuationContext],
) -> None:
    assert decide(build()).wave_limit == 0


def test_figures_record_the_inputs_of_the_decision() -> None:
    decision: Decision = decide(context(SMALL_NET, budget_left=9, succeeded=16, failed=4))
    assert decision.figures["budget_left"] == 9
    assert decision.figures["success_rate"] == 0.8
    assert decision.figures["small_net"] is True
    assert decision.figures["stable"] is False
