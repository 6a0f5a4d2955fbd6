"""One comparison judged by an LLM, end to end, without Celery: request in, result out.

Every way this can end is a :class:`ComparisonResult`: a winner, or ``failed`` with an
``error_code`` and a detail a person can act on; the usage (tokens, latency, attempts,
cost) is attached either way, since a failed answer may still have been paid for. The one
exception is :class:`~cj_worker.judges.llm.limits.NoPermitError`: no permit to send within the
time allowed, which the task answers by re-queueing itself, since nothing went wrong.

A refused key (401/403), a key variable that is not set on the worker or not allowed
there, blocks the batch in the limiter: its other comparisons then fail at once with the
same code instead of each sending a request that will be refused. Every such code is in
:data:`cj_worker.payloads.FATAL_JUDGE_ERROR_CODES`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from cj_worker.judges.llm.config import LlmWorkerSettings
from cj_worker.judges.llm.cost import answer_cost
from cj_worker.judges.llm.http import (
    Answer,
    AuthFailedError,
    ChatClient,
    JudgeHttpError,
    Limits,
    RequestRejectedError,
)
from cj_worker.judges.llm.limits import Limiter, limit_key
from cj_worker.judges.llm.prompt import (
    Nonce,
    OutputMode,
    build_messages,
    random_nonce,
    request_body,
)
from cj_worker.judges.llm.verdict import Unanswered, Verdict, parse_verdict, token_counts
from cj_worker.llm_spec import JudgeMember, LlmJudge
from cj_worker.payloads import ComparisonRequest, ComparisonResult, JudgeUsage

BLOCK_SECONDS = 3600.0
"""How long a batch stays blocked after a fatal failure (longer than any batch waits)."""


@dataclass
class Services:
    """What a judgement needs from the process it runs in; tests pass their own."""

    http: httpx.Client
    limiter: Limiter
    settings: LlmWorkerSettings
    environ: Mapping[str, str]
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    nonce: Nonce = random_nonce
    tool_call_endpoints: set[str] = field(default_factory=set)
    """Limit keys whose server rejected a JSON-schema ``response_format``: asked with a
    tool call from then on (per process)."""


@dataclass(frozen=True)
class _Outcome:
    verdict: Verdict | Unanswered
    answer: Answer | None
    attempts: int


def judge(
    spec: LlmJudge, request: ComparisonRequest, services: Services, deadline_seconds: float
) -> ComparisonResult:
    """Judge ``request`` with the member of ``spec`` its id selects."""
    started = services.clock()
    member = spec.member_for(request.comparison_id)
    block = f"batch:{request.batch_id}"
    blocked = services.limiter.blocked(block)
    if blocked is not None:
        return _failed(
            request,
            member,
            blocked,
            f"not sent: an earlier comparison of this batch failed with {blocked}",
        )
    api_key, refusal = _api_key(spec, services)
    if refusal is not None:
        services.limiter.block(block, refusal.error_code, BLOCK_SECONDS)
        return _failed(request, member, refusal.error_code, refusal.detail)

    outcome = _ask(spec, member, request, services, api_key, deadline_seconds)
    verdict = outcome.verdict
    if isinstance(verdict, Unanswered) and verdict.error_code == "judge_auth_failed":
        services.limiter.block(block, verdict.error_code, BLOCK_SECONDS)
    counts = token_counts(outcome.answer.body) if outcome.answer else None
    usage = JudgeUsage(
        model=member.model,
        prompt_tokens=counts.prompt if counts else None,
        completion_tokens=counts.completion if counts else None,
        latency_seconds=outcome.answer.latency_seconds if outcome.answer else 0.0,
        elapsed_seconds=max(0.0, services.clock() - started),
        attempts=outcome.attempts,
        cost=(
            answer_cost(spec, member.model, counts.prompt, counts.completion) if counts else None
        ),
    )
    if isinstance(verdict, Verdict):
        return ComparisonResult(
            comparison_id=request.comparison_id,
            status="succeeded",
            winner=verdict.winner,
            judge_id=member.judge_id,
            confidence=verdict.confidence,
            justification=verdict.justification,
            usage=usage,
        )
    return _failed(request, member, verdict.error_code, verdict.detail, usage)


def _ask(
    spec: LlmJudge,
    member: JudgeMember,
    request: ComparisonRequest,
    services: Services,
    api_key: str | None,
    deadline_seconds: float,
) -> _Outcome:
    key = limit_key(spec.base_url, member.model, spec.api_key_env)
    limits = Limits(
        services.limiter,
        key,
        spec.requests_per_minute,
        spec.concurrency,
        services.settings.max_queue_wait_seconds,
    )
    started = services.clock()

    def client() -> ChatClient:
        remaining = deadline_seconds - (services.clock() - started)
        return ChatClient(
            services.http,
            spec.base_url,
            api_key=api_key,
            timeout_seconds=spec.timeout_seconds,
            max_retries=spec.max_retries,
            limits=limits,
            deadline_seconds=max(1.0, remaining),
            sleep=services.sleep,
            clock=services.clock,
        )

    messages = build_messages(spec, request.essay_a.text, request.essay_b.text, services.nonce)
    mode: OutputMode = "tool_call" if key in services.tool_call_endpoints else spec.output_mode
    attempts = 0
    while True:
        try:
            answer = client().complete(request_body(member, messages, mode))
        except RequestRejectedError as rejected:
            attempts += rejected.attempts
            if mode == "json_schema" and rejected.mentions("response_format", "json_schema"):
                # A server without JSON-schema output: ask once more with a tool call.
                services.tool_call_endpoints.add(key)
                mode = "tool_call"
                continue
            return _Outcome(Unanswered(rejected.error_code, rejected.detail), None, attempts)
        except AuthFailedError as refused:
            return _Outcome(
                Unanswered(refused.error_code, _auth_detail(refused, spec)),
                None,
                attempts + refused.attempts,
            )
        except JudgeHttpError as failure:
            return _Outcome(
                Unanswered(failure.error_code, failure.detail), None, attempts + failure.attempts
            )
        return _Outcome(parse_verdict(answer.body), answer, attempts + answer.attempts)


@dataclass(frozen=True)
class _Refusal:
    error_code: str
    detail: str


def _api_key(spec: LlmJudge, services: Services) -> tuple[str | None, _Refusal | None]:
    name = spec.api_key_env
    if name is None:
        return None, None
    if not services.settings.key_env_allowed(name):
        return None, _Refusal(
            "judge_api_key_not_allowed",
            f"api_key_env {name!r} is not one this worker may read "
            "(CJ_LLM_API_KEY_ENVS lists them; by default names ending in _API_KEY)",
        )
    key = services.environ.get(name, "").strip()
    if not key:
        return None, _Refusal(
            "judge_api_key_missing", f"the worker's environment has no {name} (api_key_env)"
        )
    return key, None


def _auth_detail(refused: AuthFailedError, spec: LlmJudge) -> str:
    source = f"the key in {spec.api_key_env}" if spec.api_key_env else "no key"
    return f"{refused.detail}; sent {source} to {spec.base_url}"


def _failed(
    request: ComparisonRequest,
    member: JudgeMember,
    error_code: str,
    detail: str,
    usage: JudgeUsage | None = None,
) -> ComparisonResult:
    return ComparisonResult(
        comparison_id=request.comparison_id,
        status="failed",
        judge_id=member.judge_id,
        error_code=error_code,
        error_detail=detail,
        usage=usage or JudgeUsage(model=member.model, attempts=0),
    )
