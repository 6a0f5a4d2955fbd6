"""Answers from strangers and careless judges: without the comparison's token, for another
batch, or after the batch ended, an answer changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cj_worker import task_names
from tests.integration.hostile.conftest import (
    CompletedBatch,
    Deployment,
    RunningBatch,
    sign,
)

pytestmark = pytest.mark.integration


def answer(comparison_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "comparison_id": str(comparison_id),
        "token": sign(comparison_id),
        "status": "succeeded",
        "winner": "A",
        "judge_id": "stranger",
    }
    result.update(changes)
    return {k: v for k, v in result.items() if v is not None}


def record(deployment: Deployment, result: Any) -> str:
    return deployment.send(task_names.RECORD_COMPARISON_RESULT, {"result": result})


@pytest.mark.parametrize(
    ("token", "says"),
    [
        pytest.param(None, "token is missing", id="no-token"),
        pytest.param("", "token is missing", id="empty-token"),
        pytest.param("0" * 64, "token is not the one issued", id="guessed-token"),
        pytest.param("not hex at all", "token is not the one issued", id="garbage-token"),
    ],
)
def test_a_stranger_s_answer_for_another_tenant_s_comparison_is_refused(
    deployment: Deployment, running: RunningBatch, token: str | None, says: str
) -> None:
    [target, *_] = running.pending
    with deployment.unchanged():
        outcome = record(deployment, answer(target, token=token or None) | {"token": token})
    assert f"result refused: {says} for comparison {target}" in outcome


def test_the_token_of_one_comparison_does_not_answer_another(
    deployment: Deployment, running: RunningBatch
) -> None:
    first, second = running.pending
    with deployment.unchanged():
        outcome = record(deployment, answer(second, token=sign(first)))
    assert f"result refused: token is not the one issued for comparison {second}" in outcome


def test_a_token_signed_with_another_secret_is_refused(
    deployment: Deployment, running: RunningBatch
) -> None:
    from cj_worker.tokens import token_for

    [target, *_] = running.pending
    with deployment.unchanged():
        outcome = record(deployment, answer(target, token=token_for(target, [b"guess"])))
    assert "token is not the one issued" in outcome


def test_an_answer_naming_another_batch_is_refused(
    deployment: Deployment, running: RunningBatch, completed: CompletedBatch
) -> None:
    [target, *_] = running.pending
    with deployment.unchanged():
        outcome = record(deployment, answer(target, batch_id=str(completed.id)))
    assert f"result refused: comparison {target} is not of batch {completed.id}" in outcome


def test_an_answer_after_the_batch_ended_is_not_counted(
    deployment: Deployment, completed: CompletedBatch
) -> None:
    target = completed.comparisons[0]
    with deployment.unchanged():
        outcome = record(deployment, answer(target, winner="B"))
    assert outcome.endswith("'batch_closed'")


def test_a_second_answer_for_an_answered_comparison_is_a_duplicate(
    deployment: Deployment, running: RunningBatch
) -> None:
    with deployment.unchanged():
        outcome = record(deployment, answer(running.answered, winner="B"))
    assert outcome.endswith("'duplicate'")


def test_an_unknown_comparison_with_a_valid_looking_answer_is_refused(
    deployment: Deployment,
) -> None:
    unknown = uuid.uuid4()
    with deployment.unchanged():
        outcome = record(deployment, answer(unknown, token=None))
    assert f"token is missing for comparison {unknown}" in outcome


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        pytest.param(
            {"status": "maybe"}, "status: Input should be 'succeeded' or 'failed'", id="status"
        ),
        pytest.param({"winner": None}, "a succeeded comparison needs winner", id="no-winner"),
        pytest.param({"winner": "C"}, "winner: Input should be 'A' or 'B'", id="winner-c"),
        pytest.param(
            {"confidence": "0.9"},
            "confidence: Input should be a valid number",
            id="confidence-string",
        ),
        pytest.param(
            {"confidence": 3},
            "confidence: Input should be less than or equal to 1",
            id="confidence-3",
        ),
        pytest.param(
            {"comparison_id": "c-1"}, "comparison_id: Input should be a valid UUID", id="id"
        ),
        pytest.param({"batch_id": "b-1"}, "batch_id: Input should be a valid UUID", id="batch-id"),
        pytest.param({"cost": 1}, "cost: Extra inputs are not permitted", id="extra"),
    ],
)
def test_a_malformed_answer_is_refused_naming_the_field(
    deployment: Deployment, running: RunningBatch, changes: dict[str, Any], says: str
) -> None:
    [target, *_] = running.pending
    with deployment.unchanged():
        outcome = record(deployment, {**answer(target), **changes})
    assert "invalid ComparisonResult: " in outcome
    assert says in outcome


@pytest.mark.parametrize("result", [["a", "list"], "text", 7, None], ids=str)
def test_an_answer_that_is_not_an_object_is_refused(deployment: Deployment, result: Any) -> None:
    with deployment.unchanged():
        outcome = record(deployment, result)
    assert "invalid ComparisonResult: (payload)" in outcome


# ---------------------------------------------------------------------- judge tasks


def test_a_forged_request_to_the_simulated_judge_earns_an_answer_that_is_refused(
    deployment: Deployment, running: RunningBatch
) -> None:
    """A stranger asks the built-in judge about a real comparison: the judge answers, but
    without the token of the real request its answer changes nothing."""
    [target, *_] = running.pending
    forged = {"comparison_id": str(target), "batch_id": str(running.id), "simulation": [5.0, -5.0]}
    with deployment.unchanged():
        after = deployment.log_offset()
        outcome = deployment.send(
            task_names.JUDGE_COMPARISON, {"tickets": [forged], "judge": {"kind": "simulated"}}
        )
        refusal = deployment.wait_for_log(lambda r: "result refused" in r.get("message", ""), after)
    assert outcome.endswith("'answered 1'")
    assert refusal["reason"] == "unauthenticated"
    assert f"token is missing for comparison {target}" in refusal["error"]


@pytest.mark.parametrize(
    ("task", "kwargs", "says"),
    [
        pytest.param(
            task_names.JUDGE_COMPARISON,
            {"tickets": [{"comparison_id": "x"}], "judge": {}},
            "invalid TicketBundle: tickets.0.comparison_id",
            id="simulated-bad-ticket",
        ),
        pytest.param(
            task_names.JUDGE_COMPARISON,
            {"tickets": "garbage", "judge": {}},
            "invalid TicketBundle: tickets",
            id="simulated-not-a-bundle",
        ),
        pytest.param(
            task_names.JUDGE_COMPARISON,
            {
                "tickets": [{"comparison_id": str(uuid.uuid4()), "batch_id": str(uuid.uuid4())}],
                "judge": {"kind": "simulated", "error_rate": 7},
            },
            "invalid SimulatedJudge: error_rate",
            id="simulated-bad-judge",
        ),
        pytest.param(
            task_names.LLM_JUDGE_COMPARISON,
            {"ticket": "garbage"},
            "invalid JudgeTicket: (payload)",
            id="llm-bad-ticket",
        ),
        pytest.param(
            task_names.LLM_JUDGE_COMPARISON,
            {
                "ticket": {
                    "comparison_id": str(uuid.uuid4()),
                    "batch_id": str(uuid.uuid4()),
                    "essay_a": {"text": "a"},
                }
            },
            "essay_a: Extra inputs are not permitted",
            id="llm-texts-in-ticket",
        ),
    ],
)
def test_a_malformed_judge_request_is_refused(
    deployment: Deployment, task: str, kwargs: dict[str, Any], says: str
) -> None:
    with deployment.unchanged():
        outcome = deployment.send(task, kwargs)
    assert " raised unexpected: " in outcome
    assert says in outcome
