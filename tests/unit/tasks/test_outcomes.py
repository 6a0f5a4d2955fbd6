"""Outcomes keep the strings the tasks returned before the enum, which logs and tests read."""

from __future__ import annotations

import pytest

from cj_worker.db.states import BatchState
from cj_worker.tasks.outcomes import Outcome


@pytest.mark.parametrize(
    ("outcome", "value"),
    [
        (Outcome.RECORDED, "recorded"),
        (Outcome.LATE_SUCCESS, "late_success"),
        (Outcome.DUPLICATE, "duplicate"),
        (Outcome.BATCH_CLOSED, "batch_closed"),
        (Outcome.UNKNOWN_BATCH, "unknown_batch"),
        (Outcome.STALE_WAVE, "stale_wave"),
    ],
)
def test_values_are_the_strings_the_tasks_returned(outcome: Outcome, value: str) -> None:
    assert outcome == value
    assert str(outcome) == value


@pytest.mark.parametrize(
    "state",
    [BatchState.SCORING, BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED],
)
def test_a_continuation_ignored_in_any_later_state_has_an_outcome(state: BatchState) -> None:
    assert Outcome.ignored_in(state) == f"ignored_{state}"


@pytest.mark.parametrize("state", [s for s in BatchState if s.is_terminal])
def test_a_finalization_of_any_ended_batch_has_an_outcome(state: BatchState) -> None:
    assert Outcome.already(state) == f"already_{state}"


@pytest.mark.parametrize("state", [BatchState.COMPLETED, BatchState.FAILED])
def test_a_finalization_s_outcome_is_the_state_it_reached(state: BatchState) -> None:
    assert Outcome.finalized(state) == state.value


def test_a_batch_still_waiting_for_a_decision_is_never_ignored() -> None:
    with pytest.raises(ValueError, match="ignored_collecting"):
        Outcome.ignored_in(BatchState.COLLECTING)
