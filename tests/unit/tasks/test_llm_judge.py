"""``cj.llm_judge_comparison`` in eager mode: from a stored batch's wave to its callbacks.

The endpoint is httpx's ``MockTransport``; limits are in-process. What is checked here is
the shell: dispatch of an LLM batch's wave to this task on ``cj.judge`` as tickets (ids
only), the texts read by the task, forged or stale tickets not judged, the result sent
to the callback, the re-queueing when no permit is free, and that nothing about
an essay but its text leaves for the endpoint.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from celery import Celery
from celery.exceptions import Retry

from cj_worker import task_names
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, Essay
from cj_worker.db.states import BatchState, ComparisonRowStatus
from cj_worker.judges.llm.limits import LocalLimiter, limit_key
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import ComparisonResult
from cj_worker.tasks import llm_judge
from cj_worker.tasks.judging import Outgoing, dispatches
from cj_worker.tasks.llm_judge import MAX_REQUEUES, llm_judge_comparison
from tests.builders.db import add_comparison, make_batch
from tests.unit.judges.llm.fakes import ScriptedEndpoint, ok
from tests.unit.tasks.transports import CapturingTransport

KEY = "sk-task-test-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SPEC = LlmJudge(
    base_url="http://llm.test/v1",
    model="m1",
    api_key_env="TASK_TEST_API_KEY",
    requests_per_minute=None,
    assignment="Describe a storm.",
)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedEndpoint]:
    """The endpoint this process's LLM judge talks to, with its key in the environment."""
    monkeypatch.setenv("TASK_TEST_API_KEY", KEY)
    scripted = ScriptedEndpoint(ok("A"))
    llm_judge.use_http_transport(scripted.transport())
    llm_judge.use_limiter(LocalLimiter())
    yield scripted
    llm_judge.use_http_transport(None)
    llm_judge.use_limiter(None)


def stored_ticket(
    database_url: str, *, status: ComparisonRowStatus = ComparisonRowStatus.PENDING
) -> dict[str, Any]:
    """The ticket of a pending comparison of a stored batch judged by ``SPEC``."""
    with session_scope(database_url) as session:
        batch = make_batch(session, 2)
        batch.judge = SPEC.model_dump(mode="json")
        texts = ("Thunder rolled.", "Rain fell.")
        for essay in session.scalars(sa.select(Essay).where(Essay.batch_id == batch.id)):
            essay.text = texts[essay.position]
        row = add_comparison(session, batch, 0, 1, status=status)
        session.flush()
        [dispatch] = dispatches(session, batch, [Outgoing(row.id, 0, 1, 0)])
    ticket: dict[str, Any] = dispatch.message.kwargs["ticket"]
    return ticket


def run(ticket: dict[str, Any]) -> str:
    status: str = llm_judge_comparison.delay(ticket).get()
    return status


def results(sent: CapturingTransport) -> list[ComparisonResult]:
    return [ComparisonResult.model_validate(m.kwargs["result"]) for m in sent.take()]


def test_the_task_is_routed_to_the_judge_queue() -> None:
    assert task_names.ROUTES[task_names.LLM_JUDGE_COMPARISON] == task_names.JUDGE_QUEUE


def test_the_verdict_goes_to_the_callback_with_its_usage(
    database_url: str, endpoint: ScriptedEndpoint, sent: CapturingTransport
) -> None:
    ticket = stored_ticket(database_url)
    assert set(ticket) == {"comparison_id", "batch_id", "token"}, "ids only, never texts"
    assert run(ticket) == "succeeded"
    (message,) = sent.messages
    assert (message.task, message.route) == (
        task_names.RECORD_COMPARISON_RESULT,
        task_names.ROUTES[task_names.RECORD_COMPARISON_RESULT],
    )
    (result,) = results(sent)
    assert (str(result.comparison_id), result.winner, result.judge_id) == (
        ticket["comparison_id"],
        "A",
        "llm:m1",
    )
    assert result.usage is not None
    assert result.usage.attempts == 1
    assert result.usage.prompt_tokens == 120
    assert endpoint.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(message.kwargs)


def test_an_unusable_answer_is_sent_back_as_a_failed_comparison(
    database_url: str, endpoint: ScriptedEndpoint, sent: CapturingTransport
) -> None:
    endpoint.replies = [httpx.Response(200, json={"choices": [{"message": {"content": "A!"}}]})]
    assert run(stored_ticket(database_url)) == "failed"
    (result,) = results(sent)
    assert (result.status, result.winner, result.error_code) == (
        "failed",
        None,
        "judge_output_unparseable",
    )


def test_without_a_free_permit_the_task_requeues_itself_then_fails_the_comparison(
    database_url: str,
    endpoint: ScriptedEndpoint,
    sent: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CJ_LLM_MAX_QUEUE_WAIT_SECONDS", "0")
    limiter = LocalLimiter()
    llm_judge.use_limiter(limiter)
    key = limit_key(SPEC.base_url, "m1", SPEC.api_key_env)
    for holder in range(SPEC.concurrency):
        assert limiter.try_acquire(key, f"busy-{holder}", SPEC.concurrency, 3600.0)
    payload = stored_ticket(database_url)
    with pytest.raises(Retry) as requeued:
        run(payload)
    assert requeued.value.when == pytest.approx((SPEC.timeout_seconds + 30) / 4)
    assert sent.messages == []
    last_try = llm_judge_comparison.apply(kwargs={"ticket": payload}, retries=MAX_REQUEUES)
    assert last_try.get() == "failed"
    (result,) = results(sent)
    assert result.error_code == "judge_rate_limited"
    assert f"{MAX_REQUEUES} re-queues" in (result.error_detail or "")
    assert endpoint.requests == [], "nothing was sent without a permit"


def test_an_llm_batch_wave_is_dispatched_to_this_task_which_loads_the_texts(
    database_url: str,
    eager_app: Celery,
    endpoint: ScriptedEndpoint,
    sent: CapturingTransport,
) -> None:
    with session_scope(database_url) as session:
        batch = make_batch(session, 4, n_anchors=2)
        batch.judge = SPEC.model_dump(mode="json")
        for position, essay in enumerate(
            session.scalars(
                sa.select(Essay).where(Essay.batch_id == batch.id).order_by(Essay.position)
            )
        ):
            essay.external_id = f"student-id-{position}-zq"
            essay.grade = "GRADE-XQ" if essay.is_anchor else None
            essay.text = f"Storm essay {position}."
        pending = ComparisonRowStatus.PENDING
        rows = [
            add_comparison(session, batch, 0, 2, status=pending),
            add_comparison(session, batch, 3, 1, status=pending),
        ]
        session.flush()
        outgoing = [Outgoing(row.id, row.essay_a, row.essay_b, 0) for row in rows]
        messages = [dispatch.message for dispatch in dispatches(session, batch, outgoing)]
        row_ids = [row.id for row in rows]
    assert [m.task for m in messages] == [task_names.LLM_JUDGE_COMPARISON] * 2
    assert {m.route for m in messages} == {task_names.JUDGE_QUEUE}
    assert "Storm essay" not in json.dumps([m.kwargs for m in messages])
    for message in messages:
        llm_judge_comparison.delay(**message.kwargs).get()
    assert sorted(str(r.comparison_id) for r in results(sent)) == sorted(map(str, row_ids))
    sent_texts = [r.content.decode() for r in endpoint.requests]
    assert "Storm essay 0." in sent_texts[0]
    assert "Storm essay 2." in sent_texts[0]
    assert "Describe a storm." in sent_texts[0]
    for text in sent_texts:
        for private in ("student-id-", "GRADE-XQ", "anchor", str(batch.id), *map(str, row_ids)):
            assert private.lower() not in text.lower(), private


def test_a_forged_ticket_costs_no_query_and_no_model_call(
    database_url: str, endpoint: ScriptedEndpoint, sent: CapturingTransport
) -> None:
    ticket = stored_ticket(database_url)
    forged = {**ticket, "token": "0" * 64}
    assert run(forged) == llm_judge.SKIPPED
    assert run({k: v for k, v in ticket.items() if k != "token"}) == llm_judge.SKIPPED
    assert endpoint.requests == []
    assert sent.messages == []


@pytest.mark.parametrize(
    "status", [ComparisonRowStatus.SUCCEEDED, ComparisonRowStatus.FAILED], ids=str
)
def test_an_answered_comparison_is_not_judged_and_paid_for_again(
    database_url: str,
    endpoint: ScriptedEndpoint,
    sent: CapturingTransport,
    status: ComparisonRowStatus,
) -> None:
    ticket = stored_ticket(database_url, status=status)
    assert run(ticket) == llm_judge.SKIPPED
    assert endpoint.requests == []


def test_a_ticket_of_an_ended_or_unknown_batch_is_not_judged(
    database_url: str, endpoint: ScriptedEndpoint, sent: CapturingTransport
) -> None:
    ticket = stored_ticket(database_url)
    with session_scope(database_url) as session:
        session.execute(
            sa.update(Batch)
            .where(Batch.id == uuid.UUID(ticket["batch_id"]))
            .values(state=BatchState.CANCELLED)
        )
    assert run(ticket) == llm_judge.SKIPPED
    other = stored_ticket(database_url)
    assert run({**other, "batch_id": str(uuid.uuid4())}) == llm_judge.SKIPPED
    assert endpoint.requests == []
