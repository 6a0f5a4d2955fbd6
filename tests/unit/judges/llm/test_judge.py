"""One comparison end to end without Celery: every ending is a result with a reason."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from cj_worker.judges.llm.config import LlmWorkerSettings
from cj_worker.judges.llm.judge import Services, judge
from cj_worker.judges.llm.limits import LocalLimiter
from cj_worker.llm_spec import LlmJudge, PanelMember, TokenPrice
from cj_worker.payloads import ComparisonRequest, EssayView
from tests.unit.judges.llm.fakes import FakeClock, ScriptedEndpoint, completion, ok, verdict_json

KEY = "sk-unit-feedfacecafebeef0123456789"
ENV = {"UNIT_API_KEY": KEY}


def spec(**fields: Any) -> LlmJudge:
    values: dict[str, Any] = {
        "base_url": "http://llm.test/v1",
        "model": "m1",
        "api_key_env": "UNIT_API_KEY",
        "requests_per_minute": None,
        "max_retries": 1,
        "prices": {"m1": TokenPrice(prompt=2.0, completion=8.0)},
    }
    values.update(fields)
    return LlmJudge.model_validate(values)


def comparison(batch_id: uuid.UUID | None = None) -> ComparisonRequest:
    return ComparisonRequest(
        comparison_id=uuid.uuid4(),
        batch_id=batch_id or uuid.uuid4(),
        essay_a=EssayView(text="The sea is blue."),
        essay_b=EssayView(text="Waves crash on rocks at dawn."),
    )


def services(
    endpoint: ScriptedEndpoint, environ: dict[str, str] | None = None, **settings: Any
) -> Services:
    clock = FakeClock()
    return Services(
        http=endpoint.client(),
        limiter=LocalLimiter(clock),
        settings=LlmWorkerSettings(**settings),
        environ=ENV if environ is None else environ,
        sleep=clock.sleep,
        clock=clock,
    )


def test_a_verdict_is_a_succeeded_result_with_tokens_latency_and_cost() -> None:
    endpoint = ScriptedEndpoint(
        ok("B", prompt_tokens=1000, completion_tokens=50),
    )
    request = comparison()
    result = judge(spec(), request, services(endpoint), 200.0)
    assert result.status == "succeeded"
    assert (result.comparison_id, result.winner, result.judge_id) == (
        request.comparison_id,
        "B",
        "llm:m1",
    )
    assert (result.confidence, result.justification) == (0.8, "Clearer argument.")
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1000, 50)
    assert result.usage.cost == pytest.approx((1000 * 2 + 50 * 8) / 1e6)
    assert result.usage.attempts == 1
    assert result.usage.model == "m1"


def test_a_malformed_answer_is_a_failed_comparison_that_still_counts_its_tokens() -> None:
    endpoint = ScriptedEndpoint(httpx.Response(200, json=completion("A is better")))
    result = judge(spec(), comparison(), services(endpoint), 200.0)
    assert (result.status, result.winner, result.error_code) == (
        "failed",
        None,
        "judge_output_unparseable",
    )
    assert result.usage is not None
    assert result.usage.prompt_tokens == 120
    assert len(endpoint.requests) == 1, "an unusable answer is not asked again here"


def test_retries_are_counted_in_the_usage() -> None:
    endpoint = ScriptedEndpoint(httpx.Response(502), ok())
    result = judge(spec(), comparison(), services(endpoint), 200.0)
    assert result.status == "succeeded"
    assert result.usage is not None
    assert result.usage.attempts == 2


def test_exhausted_retries_fail_the_comparison_with_the_cause() -> None:
    endpoint = ScriptedEndpoint(httpx.Response(503))
    result = judge(spec(max_retries=2), comparison(), services(endpoint), 200.0)
    assert (result.status, result.error_code) == ("failed", "judge_server_error")
    assert result.usage is not None
    assert result.usage.attempts == 3


def test_a_refused_key_fails_its_batch_fast_and_no_other_request_is_sent() -> None:
    endpoint = ScriptedEndpoint(httpx.Response(401, json={"error": f"bad key {KEY}"}))
    shared = services(endpoint)
    batch_id = uuid.uuid4()
    first = judge(spec(), comparison(batch_id), shared, 200.0)
    assert (first.status, first.error_code) == ("failed", "judge_auth_failed")
    assert "UNIT_API_KEY" in (first.error_detail or "")
    later = [judge(spec(), comparison(batch_id), shared, 200.0) for _ in range(5)]
    assert {r.error_code for r in later} == {"judge_auth_failed"}
    assert len(endpoint.requests) == 1, "one refusal, not one per comparison"
    assert all(KEY not in r.model_dump_json() for r in [first, *later])
    other_batch = judge(spec(), comparison(), shared, 200.0)
    assert other_batch.error_code == "judge_auth_failed"
    assert len(endpoint.requests) == 2, "another batch asks for itself"


def test_a_missing_key_variable_fails_without_a_request() -> None:
    endpoint = ScriptedEndpoint(ok())
    result = judge(spec(), comparison(), services(endpoint, environ={}), 200.0)
    assert (result.status, result.error_code) == ("failed", "judge_api_key_missing")
    assert "UNIT_API_KEY" in (result.error_detail or "")
    assert endpoint.requests == []


def test_a_key_variable_the_worker_does_not_allow_is_never_read() -> None:
    endpoint = ScriptedEndpoint(ok())
    result = judge(
        spec(api_key_env="HOME"), comparison(), services(endpoint, environ={"HOME": "/root"}), 200.0
    )
    assert result.error_code == "judge_api_key_not_allowed"
    assert endpoint.requests == []


def test_a_server_without_json_schema_output_is_asked_with_a_tool_call_from_then_on() -> None:
    rejected = httpx.Response(400, json={"error": "response_format json_schema not supported"})
    tool_answer = httpx.Response(200, json=completion(None, tool_arguments=verdict_json("A")))
    endpoint = ScriptedEndpoint(rejected, tool_answer)
    shared = services(endpoint)
    first = judge(spec(), comparison(), shared, 200.0)
    assert (first.status, first.winner) == ("succeeded", "A")
    assert first.usage is not None
    assert first.usage.attempts == 2
    judge(spec(), comparison(), shared, 200.0)
    kinds = ["tools" if "tools" in body else "response_format" for body in endpoint.bodies()]
    assert kinds == ["response_format", "tools", "tools"]


def test_another_rejected_request_fails_with_the_servers_reason() -> None:
    endpoint = ScriptedEndpoint(httpx.Response(404, json={"error": "model m1 does not exist"}))
    result = judge(spec(), comparison(), services(endpoint), 200.0)
    assert result.error_code == "judge_request_rejected"
    assert "does not exist" in (result.error_detail or "")
    assert len(endpoint.requests) == 1


def test_each_panel_member_answers_under_its_own_judge_id() -> None:
    endpoint = ScriptedEndpoint(ok())
    panel = spec(model=None, panel=[PanelMember(model="m1"), PanelMember(model="m2")])
    shared = services(endpoint)
    results = [judge(panel, comparison(), shared, 200.0) for _ in range(40)]
    models = [body["model"] for body in endpoint.bodies()]
    assert {r.judge_id for r in results} == {"llm:m1", "llm:m2"}
    assert [f"llm:{m}" for m in models] == [r.judge_id for r in results]


def test_the_request_carries_only_the_essay_texts_and_the_prompt() -> None:
    endpoint = ScriptedEndpoint(ok())
    request = comparison()
    judge(spec(assignment="Describe the sea."), request, services(endpoint), 200.0)
    sent = endpoint.requests[0].content.decode()
    assert "The sea is blue." in sent
    assert "Waves crash on rocks at dawn." in sent
    assert "Describe the sea." in sent
    for private in (str(request.comparison_id), str(request.batch_id), KEY):
        assert private not in sent
    assert json.loads(sent)["response_format"]["type"] == "json_schema"
