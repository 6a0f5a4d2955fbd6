"""``cj.llm_judge_comparison``: the built-in LLM judge, on the ``cj.judge`` queue.

A thin shell around :func:`cj_worker.judges.llm.judge.judge`: validate the ticket, read
the two texts and the batch's spec (:func:`load_request`, one short read; the message
carries ids only), judge, send the result to the callback. Each worker process keeps one
HTTP client (connections are reused between comparisons) and one limiter; both are built
lazily after the fork, and tests swap them with :func:`use_http_transport` and
:func:`use_limiter`.

When no rate or concurrency permit can be had within ``CJ_LLM_MAX_QUEUE_WAIT_SECONDS``, the
task re-queues itself for later instead of holding a worker process, up to
:data:`MAX_REQUEUES` times; after that, or when Redis is unreachable as long, the
comparison fails with ``judge_rate_limited`` / ``judge_limiter_unavailable`` so the batch
is never left waiting on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx
import redis

from cj_worker import task_names, tokens
from cj_worker.config import get_settings
from cj_worker.db import repositories
from cj_worker.db.engine import session_scope
from cj_worker.judges.llm import judge as llm
from cj_worker.judges.llm.config import LlmWorkerSettings
from cj_worker.judges.llm.limits import Limiter, LocalLimiter, NoPermitError, RedisLimiter
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import (
    ComparisonRequest,
    ComparisonResult,
    EssayView,
    JudgeTicket,
    JudgeUsage,
    parse,
)
from cj_worker.tasks.base import cj_task, database_url, log, send
from cj_worker.tasks.judging import result_message

DEADLINE_MARGIN_SECONDS = 20.0
"""A judgement (every retry and wait) ends this long before the task's soft time limit."""
MAX_REQUEUES = 20
LIMITER_RETRY_SECONDS = 5.0


@dataclass
class _Process:
    pid: int
    services: llm.Services


_process: _Process | None = None
_transport: httpx.BaseTransport | None = None
_limiter: Limiter | None = None


def use_http_transport(transport: httpx.BaseTransport | None) -> None:
    """Send this process's requests through ``transport`` (tests); None: the network."""
    global _transport, _process
    _transport, _process = transport, None


def use_limiter(limiter: Limiter | None) -> None:
    """Keep this process's limits in ``limiter``; None: as ``CJ_LLM_LIMITER_URL`` says."""
    global _limiter, _process
    _limiter, _process = limiter, None


def services() -> llm.Services:
    """This process's HTTP client, limiter and settings (rebuilt after a fork)."""
    global _process
    if _process is None or _process.pid != os.getpid():
        settings = LlmWorkerSettings()
        _process = _Process(
            os.getpid(),
            llm.Services(
                http=httpx.Client(transport=_transport, follow_redirects=False),
                limiter=_limiter or _configured_limiter(settings),
                settings=settings,
                environ=os.environ,
            ),
        )
    return _process.services


def _configured_limiter(settings: LlmWorkerSettings) -> Limiter:
    url = settings.limiter_url
    if url is None:
        broker = get_settings().broker_url
        url = broker if broker.startswith(("redis://", "rediss://")) else "local"
    return LocalLimiter() if url == "local" else RedisLimiter.from_url(url)


@cj_task(task_names.LLM_JUDGE_COMPARISON)
def llm_judge_comparison(ticket: dict[str, Any]) -> str:
    """Judge one comparison with the batch's LLM judge and send the result back."""
    loaded = load_request(parse(JudgeTicket, ticket))
    if isinstance(loaded, str):
        return loaded
    spec, parsed = loaded
    deadline = max(5.0, get_settings().task_soft_time_limit_seconds - DEADLINE_MARGIN_SECONDS)
    requeues = llm_judge_comparison.request.retries or 0
    try:
        result = llm.judge(spec, parsed, services(), deadline)
    except NoPermitError as busy:
        if requeues >= MAX_REQUEUES:
            result = _gave_up(spec, parsed, "judge_rate_limited", f"{busy} ({requeues} re-queues)")
        else:
            raise llm_judge_comparison.retry(countdown=busy.wait, max_retries=None) from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        if requeues >= MAX_REQUEUES:
            detail = f"the shared limits' Redis is unreachable: {type(error).__name__}"
            result = _gave_up(spec, parsed, "judge_limiter_unavailable", detail)
        else:
            raise llm_judge_comparison.retry(
                countdown=LIMITER_RETRY_SECONDS, max_retries=None
            ) from None
    result = result.model_copy(update={"token": parsed.token})  # the callback checks it
    usage = result.usage or JudgeUsage()
    log.info(
        "llm judgement",
        extra={
            "batch_id": str(parsed.batch_id),
            "comparison_id": str(parsed.comparison_id),
            "judge_id": result.judge_id,
            "status": result.status,
            "error_code": result.error_code,
            "attempts": usage.attempts,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "latency_seconds": round(usage.latency_seconds, 3),
        },
    )
    send([result_message(result)])
    return result.status


SKIPPED = "skipped"
"""Returned for a ticket that is not judged (and paid for): forged, its comparison gone
or already answered, or its batch ended."""


def load_request(ticket: JudgeTicket) -> tuple[LlmJudge, ComparisonRequest] | str:
    """The batch's LLM spec and the request with both texts, read in a short transaction.

    The ticket carries ids only (:class:`JudgeTicket`). Its token is checked first, so a
    forged ticket costs no query and no model call; a comparison already answered, or of
    a batch that ended, is not judged again. Returns :data:`SKIPPED` then, or an error
    from the spec stored with a batch this judge cannot read.
    """
    refusal: str | None = None
    if not tokens.verify(ticket.comparison_id, ticket.token):
        refusal = "token is not the one issued"
    else:
        with session_scope(database_url()) as session:
            material = repositories.judge_material(session, ticket.comparison_id, ticket.batch_id)
        if material is None:
            refusal = "no such comparison in the batch"
        elif material.batch_ended or material.answered:
            refusal = "batch ended" if material.batch_ended else "already answered"
    if refusal is not None or material is None:
        log.info(
            "llm ticket skipped",
            extra={"comparison_id": str(ticket.comparison_id), "reason": refusal},
        )
        return SKIPPED
    request = ComparisonRequest(
        comparison_id=ticket.comparison_id,
        batch_id=ticket.batch_id,
        token=ticket.token,
        essay_a=EssayView(text=material.text_a),
        essay_b=EssayView(text=material.text_b),
    )
    return parse(LlmJudge, material.judge), request


def _gave_up(
    spec: LlmJudge, request: ComparisonRequest, error_code: str, detail: str
) -> ComparisonResult:
    member = spec.member_for(request.comparison_id)
    return ComparisonResult(
        comparison_id=request.comparison_id,
        status="failed",
        judge_id=member.judge_id,
        error_code=error_code,
        error_detail=detail,
        usage=JudgeUsage(model=member.model, attempts=0),
    )
