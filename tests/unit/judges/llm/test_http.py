"""One call: what is retried and how long it waits, what fails at once, what is sent."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest
from tenacity import wait_fixed

from cj_worker.judges.llm.http import (
    Answer,
    AuthFailedError,
    ChatClient,
    Limits,
    MalformedResponseError,
    RequestRejectedError,
    RetriesExhaustedError,
    retry_after_seconds,
    scrub,
)
from cj_worker.judges.llm.limits import LocalLimiter, NoPermitError
from tests.unit.judges.llm.fakes import FakeClock, ScriptedEndpoint, completion, ok

KEY = "sk-test-0123456789abcdef0123456789abcdef"
BODY: dict[str, Any] = {"model": "m", "messages": []}


def make_client(
    endpoint: ScriptedEndpoint,
    clock: FakeClock,
    *,
    limiter: LocalLimiter | None = None,
    rpm: float | None = None,
    concurrency: int = 4,
    max_retries: int = 3,
    api_key: str | None = KEY,
    deadline: float = 200.0,
    max_wait: float = 30.0,
) -> ChatClient:
    return ChatClient(
        endpoint.client(),
        "http://llm.test/v1/",
        api_key=api_key,
        timeout_seconds=20.0,
        max_retries=max_retries,
        limits=Limits(limiter or LocalLimiter(clock), "k", rpm, concurrency, max_wait),
        deadline_seconds=deadline,
        sleep=clock.sleep,
        clock=clock,
        backoff=wait_fixed(2),
    )


def test_an_answer_is_posted_to_chat_completions_with_the_key_as_bearer() -> None:
    endpoint, clock = ScriptedEndpoint(ok("B")), FakeClock()
    answer = make_client(endpoint, clock).complete(BODY)
    assert isinstance(answer, Answer)
    assert answer.attempts == 1
    assert answer.body["choices"][0]["message"]["content"].startswith('{"winner": "B"')
    (request,) = endpoint.requests
    assert str(request.url) == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert endpoint.bodies() == [BODY]


def test_without_a_key_no_authorization_header_is_sent() -> None:
    endpoint = ScriptedEndpoint(ok())
    make_client(endpoint, FakeClock(), api_key=None).complete(BODY)
    assert "authorization" not in endpoint.requests[0].headers


def test_a_429_is_retried_after_the_servers_retry_after_which_every_process_honours() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    endpoint = ScriptedEndpoint(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"}), ok()
    )
    answer = make_client(endpoint, clock, limiter=limiter).complete(BODY)
    assert answer.attempts == 2
    assert clock.sleeps == [7.0], "waited as asked, not the back-off"
    # The hold-off is shared: another caller reserving now is told to wait it out too.
    assert limiter.reserve("k", 0.0, 60.0) == (True, 0.0), "the retry started after it"
    limiter.hold_off("k", 5.0)
    assert limiter.reserve("k", 0.0, 60.0) == (True, 5.0)


def test_server_errors_timeouts_and_broken_connections_are_retried_with_back_off() -> None:
    clock = FakeClock()
    endpoint = ScriptedEndpoint(
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        ok(),
    )
    answer = make_client(endpoint, clock).complete(BODY)
    assert answer.attempts == 4
    assert clock.sleeps == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (httpx.Response(500, text="boom"), "judge_server_error"),
        (httpx.Response(429), "judge_rate_limited"),
        (httpx.ReadTimeout("slow"), "judge_timeout"),
        (httpx.ConnectError("refused"), "judge_unreachable"),
    ],
)
def test_retries_are_bounded_and_end_in_a_failure_naming_the_last_cause(
    reply: Any, code: str
) -> None:
    endpoint, clock = ScriptedEndpoint(reply), FakeClock()
    with pytest.raises(RetriesExhaustedError) as failure:
        make_client(endpoint, clock, max_retries=2).complete(BODY)
    assert failure.value.error_code == code
    assert failure.value.attempts == 3
    assert len(endpoint.requests) == 3


def test_no_retry_goes_past_the_deadline() -> None:
    endpoint = ScriptedEndpoint(httpx.Response(429, headers={"Retry-After": "25"}))
    with pytest.raises(RetriesExhaustedError):
        make_client(endpoint, FakeClock(), max_retries=10, deadline=1.0).complete(BODY)
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_fails_at_once_and_the_detail_never_shows_the_key(status: int) -> None:
    echo = f"Incorrect API key provided: {KEY[:8]}****{KEY[-8:]} ({KEY})"
    endpoint = ScriptedEndpoint(httpx.Response(status, json={"error": echo}))
    with pytest.raises(AuthFailedError) as failure:
        make_client(endpoint, FakeClock()).complete(BODY)
    assert failure.value.error_code == "judge_auth_failed"
    assert len(endpoint.requests) == 1
    assert KEY not in str(failure.value)
    assert KEY[:8] not in str(failure.value)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_another_4xx_is_not_retried(status: int) -> None:
    endpoint = ScriptedEndpoint(httpx.Response(status, json={"error": f"key {KEY} bad model"}))
    with pytest.raises(RequestRejectedError) as failure:
        make_client(endpoint, FakeClock()).complete(BODY)
    assert failure.value.status == status
    assert len(endpoint.requests) == 1
    assert "bad model" in failure.value.detail
    assert KEY not in failure.value.detail


def test_a_2xx_that_is_not_json_is_a_malformed_response() -> None:
    endpoint = ScriptedEndpoint(httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(MalformedResponseError):
        make_client(endpoint, FakeClock()).complete(BODY)


def test_a_retry_after_longer_than_a_task_should_wait_hands_the_task_back() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    endpoint = ScriptedEndpoint(httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(NoPermitError) as busy:
        make_client(endpoint, clock, limiter=limiter, max_wait=30.0).complete(BODY)
    assert busy.value.wait == 120.0
    assert clock.sleeps == []
    assert limiter.reserve("k", 0.0, 1000.0) == (True, 120.0), "everyone holds off"


def test_each_attempt_waits_for_its_start_under_the_rate_limit() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    client = make_client(ScriptedEndpoint(ok()), clock, limiter=limiter, rpm=30)
    for _ in range(3):
        client.complete(BODY)
    assert clock.sleeps == [2.0, 2.0], "30 per minute: starts 2 s apart"


def test_with_every_concurrency_permit_held_the_call_is_handed_back() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    assert limiter.try_acquire("k", "other", 1, 1000.0)
    endpoint = ScriptedEndpoint(ok())
    with pytest.raises(NoPermitError):
        make_client(endpoint, clock, limiter=limiter, concurrency=1, max_wait=3.0).complete(BODY)
    assert endpoint.requests == []
    limiter.release("k", "other")
    make_client(endpoint, clock, limiter=limiter, concurrency=1).complete(BODY)
    assert limiter.try_acquire("k", "next", 1, 10.0), "the permit was given back"


def test_retry_after_is_read_as_seconds_milliseconds_or_a_date() -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    from_date = retry_after_seconds(httpx.Headers({"Retry-After": later}))
    assert from_date is not None
    assert 25 < from_date <= 30
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None
    assert retry_after_seconds(httpx.Headers({"Retry-After": "-4"})) == 0.0


def test_scrub_removes_the_key_and_a_masked_echo_of_it() -> None:
    text = f"bad key {KEY}; you sent {KEY[:8]}...{KEY[-8:]}"
    cleaned = scrub(text, KEY)
    assert KEY[:8] not in cleaned
    assert KEY[-8:] not in cleaned
    assert scrub("nothing here", None) == "nothing here"


def test_usage_numbers_survive_the_round_trip() -> None:
    endpoint = ScriptedEndpoint(
        httpx.Response(200, json=completion('{"x": 1}', prompt_tokens=5, completion_tokens=2))
    )
    answer = make_client(endpoint, FakeClock()).complete(BODY)
    assert answer.body["usage"]["prompt_tokens"] == 5
