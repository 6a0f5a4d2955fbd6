"""Internal tasks sent by name by a stranger: none of them can end, advance or touch a batch
that its own records do not say should move."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cj_worker import task_names
from tests.integration.hostile.conftest import CompletedBatch, Deployment, RunningBatch

pytestmark = pytest.mark.integration

FINALIZERS = [task_names.FINALIZE_SCORING, task_names.FINALIZE_FAILURE]


@pytest.mark.parametrize("task", FINALIZERS)
def test_finalizing_a_running_batch_is_refused(
    deployment: Deployment, running: RunningBatch, task: str
) -> None:
    with deployment.unchanged():
        after = deployment.log_offset()
        outcome = deployment.send(task, {"batch_id": str(running.id)})
        refusal = deployment.wait_for_log(
            lambda r: r.get("message", "").startswith("finalization refused"), after
        )
    assert outcome.endswith("'not_decided'")
    assert (refusal["batch_id"], refusal["task"], refusal["batch_state"]) == (
        str(running.id),
        task,
        "collecting",
    )


@pytest.mark.parametrize("task", FINALIZERS)
def test_finalizing_a_finished_batch_again_changes_nothing(
    deployment: Deployment, completed: CompletedBatch, task: str
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task, {"batch_id": str(completed.id)})
    assert outcome.endswith("'already_completed'")


@pytest.mark.parametrize("task", FINALIZERS)
def test_finalizing_an_unknown_batch_changes_nothing(deployment: Deployment, task: str) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task, {"batch_id": str(uuid.uuid4())})
    assert outcome.endswith("'unknown_batch'")


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        pytest.param({"batch_id": "garbage"}, "batch_id: not a UUID: 'garbage'", id="garbage"),
        pytest.param({"batch_id": 42}, "batch_id: not a UUID: '42'", id="number"),
        pytest.param({}, "missing 1 required positional argument: 'batch_id'", id="none"),
        pytest.param(
            {"batch_id": str(uuid.uuid4()), "force": True},
            "unexpected keyword argument 'force'",
            id="extra",
        ),
    ],
)
def test_finalizing_something_that_is_not_a_batch_id_is_refused(
    deployment: Deployment, kwargs: dict[str, Any], says: str
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task_names.FINALIZE_SCORING, kwargs)
    assert says in outcome


@pytest.mark.parametrize(
    ("wave", "ends"),
    [
        pytest.param(1, "'wave_in_flight'", id="wave-in-flight"),
        pytest.param(5, "'stale_wave'", id="future-wave"),
        pytest.param(0, "'stale_wave'", id="past-wave"),
        pytest.param("1", "'stale_wave'", id="wave-as-a-string"),
    ],
)
def test_a_continuation_for_a_wave_that_is_not_complete_is_a_no_op(
    deployment: Deployment, running: RunningBatch, wave: Any, ends: str
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(
            task_names.CONTINUE_BATCH, {"batch_id": str(running.id), "wave": wave}
        )
    assert outcome.endswith(ends)


def test_a_continuation_for_a_finished_batch_is_ignored(
    deployment: Deployment, completed: CompletedBatch
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(
            task_names.CONTINUE_BATCH, {"batch_id": str(completed.id), "wave": 1}
        )
    assert outcome.endswith("'ignored_completed'")


def test_a_continuation_for_something_that_is_not_a_batch_id_fails(
    deployment: Deployment,
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task_names.CONTINUE_BATCH, {"batch_id": "x", "wave": 1})
    assert " raised unexpected: " in outcome
    assert "badly formed hexadecimal UUID string" in outcome


def test_a_sweep_sent_by_a_stranger_finds_nothing_to_do(
    deployment: Deployment, running: RunningBatch, completed: CompletedBatch
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task_names.SWEEP)
    assert "'timed_out': 0" in outcome
    assert "'stalled': 0" in outcome


def test_an_outbox_relay_sent_by_a_stranger_sends_nothing_twice(
    deployment: Deployment, completed: CompletedBatch
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task_names.RELAY_OUTBOX)
    assert outcome.endswith(": 0")


@pytest.mark.parametrize(
    ("task", "kwargs", "says"),
    [
        pytest.param(task_names.SWEEP, {"now": 1}, "unexpected keyword argument 'now'", id="sweep"),
        pytest.param(
            task_names.RELAY_OUTBOX, {"limit": 5}, "unexpected keyword argument", id="relay"
        ),
    ],
)
def test_a_beat_task_with_arguments_is_refused(
    deployment: Deployment, task: str, kwargs: dict[str, Any], says: str
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task, kwargs)
    assert says in outcome
