"""One chat-completions call: limits, timeouts, bounded retries that honour ``Retry-After``.

The retry policy is tenacity's (stop after ``max_retries`` retries or before the call's
deadline, exponential back-off with full jitter) with one wait of our own: a 429 or 503
that says ``Retry-After`` (or OpenAI's ``retry-after-ms``) is waited out as asked, and the
wait is shared through the limiter so other processes hold off too. A wait longer than
the limits' ``max_wait_seconds`` is not slept in a worker process: :class:`NoPermitError` tells
the task to re-queue itself for then. What is retried:
429, 408, 409, 5xx, timeouts and connection errors, which say nothing about the request.
What is not: a 401/403 (:class:`AuthFailedError`: the key is wrong, and every later request
would be refused too) and any other 4xx (:class:`RequestRejectedError`: the request itself is
wrong). Every attempt first reserves a start under the rate limit and holds a concurrency
permit while in flight; back-off sleeps hold neither.

The API key goes only into the ``Authorization`` header of the request; error details are
scrubbed of it, since some providers echo a key they refuse.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from cj_worker.errors import CJWorkerError
from cj_worker.judges.llm.limits import Limiter, NoPermitError, concurrency_slot

RETRIED_STATUSES = frozenset({408, 409, 429})
"""Besides every 5xx."""
_DETAIL = 300


class JudgeHttpError(CJWorkerError):
    """The call failed for good; ``error_code`` is the comparison's error code."""

    error_code = "judge_http_failed"

    def __init__(self, detail: str, attempts: int = 0, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attempts = attempts
        self.status = status


class AuthFailedError(JudgeHttpError):
    """401 or 403: the endpoint refused the key. Not retried; fails the batch's judge."""

    error_code = "judge_auth_failed"


class RequestRejectedError(JudgeHttpError):
    """Another 4xx: the request is wrong (unknown model, unsupported parameter)."""

    error_code = "judge_request_rejected"

    def mentions(self, *words: str) -> bool:
        return any(word in self.detail for word in words)


class RetriesExhaustedError(JudgeHttpError):
    """TransientError failures until the retries or the deadline ran out."""

    def __init__(self, last: TransientError, attempts: int) -> None:
        super().__init__(f"{last.detail} (after {attempts} attempts)", attempts, last.status)
        self.error_code = f"judge_{last.kind}"


class MalformedResponseError(JudgeHttpError):
    """A 2xx whose body is not JSON: not a chat completion at all."""

    error_code = "judge_response_malformed"


class TransientError(CJWorkerError):
    """A failure worth another attempt: ``kind`` is rate_limited, server_error, timeout or
    unreachable."""

    def __init__(
        self, kind: str, detail: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    body: Any
    """The decoded JSON body of the 2xx response."""
    latency_seconds: float
    """Round trip of the request that was answered."""
    attempts: int


@dataclass(frozen=True)
class Limits:
    """The shared limits one call obeys (see :mod:`cj_worker.judges.llm.limits`)."""

    limiter: Limiter
    key: str
    requests_per_minute: float | None
    concurrency: int
    max_wait_seconds: float
    """Longest wait for a permit before :class:`NoPermitError` re-queues the task."""


class _WaitRetryAfterOrBackoff(wait_base):
    """The server's ``Retry-After`` if it sent one, else jittered exponential back-off."""

    def __init__(self, backoff: wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            return error.retry_after
        return float(self.backoff(retry_state))


class ChatClient:
    """Sends chat-completions requests to one endpoint under shared limits."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        *,
        api_key: str | None,
        timeout_seconds: float,
        max_retries: int,
        limits: Limits,
        deadline_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        backoff: wait_base | None = None,
    ) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._max_retries = max_retries
        self._limits = limits
        self._deadline = deadline_seconds
        self._sleep = sleep
        self._clock = clock
        self._backoff = backoff or wait_random_exponential(multiplier=0.5, max=20)

    def complete(self, body: dict[str, Any]) -> Answer:
        """POST ``body``: the decoded answer, or :class:`JudgeHttpError` (failed for good)
        or :class:`NoPermitError` (come back later)."""
        started = self._clock()
        attempts = 0
        retrying = Retrying(
            stop=stop_after_attempt(self._max_retries + 1) | stop_before_delay(self._deadline),
            wait=_WaitRetryAfterOrBackoff(self._backoff),
            retry=retry_if_exception_type(TransientError),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    remaining = self._deadline - (self._clock() - started)
                    return self._send(body, max(1.0, min(self._timeout, remaining)), attempts)
        except TransientError as last:
            raise RetriesExhaustedError(last, attempts) from None
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    def _send(self, body: dict[str, Any], timeout: float, attempts: int) -> Answer:
        limits = self._limits
        interval = 60.0 / limits.requests_per_minute if limits.requests_per_minute else 0.0
        granted, wait = limits.limiter.reserve(limits.key, interval, limits.max_wait_seconds)
        if not granted:
            raise NoPermitError(wait)
        if wait > 0:
            self._sleep(wait)
        with concurrency_slot(
            limits.limiter,
            limits.key,
            limits.concurrency,
            lease_seconds=timeout + 30.0,
            max_wait_seconds=limits.max_wait_seconds,
            sleep=self._sleep,
            clock=self._clock,
        ):
            sent = self._clock()
            try:
                response = self._client.post(
                    self._url,
                    json=body,
                    headers=self._headers(),
                    timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
                )
            except httpx.TimeoutException:
                raise TransientError("timeout", f"no answer within {timeout:.0f}s") from None
            except httpx.TransportError as error:
                detail = self._scrub(type(error).__name__)
                raise TransientError("unreachable", detail) from None
            latency = self._clock() - sent
        return self._classify(response, latency, attempts)

    def _classify(self, response: httpx.Response, latency: float, attempts: int) -> Answer:
        status = response.status_code
        if status in (401, 403):
            raise AuthFailedError(
                f"HTTP {status}: the endpoint refused the API key"
                + (" (none was sent)" if self._api_key is None else ""),
                attempts,
                status,
            )
        if status in RETRIED_STATUSES or status >= 500:
            retry_after = retry_after_seconds(response.headers)
            if retry_after is not None and status in (429, 503):
                self._limits.limiter.hold_off(self._limits.key, retry_after)
                if retry_after > self._limits.max_wait_seconds:
                    raise NoPermitError(retry_after)
            kind = "rate_limited" if status == 429 else "server_error"
            detail = f"HTTP {status}: {self._excerpt(response)}"
            raise TransientError(kind, detail, status, retry_after)
        if status >= 400:
            detail = f"HTTP {status}: {self._excerpt(response)}"
            raise RequestRejectedError(detail, attempts, status)
        try:
            decoded = response.json()
        except ValueError:
            raise MalformedResponseError(
                f"HTTP {status} with a body that is not JSON: {self._excerpt(response)}",
                attempts,
                status,
            ) from None
        return Answer(decoded, latency, attempts)

    def _headers(self) -> dict[str, str]:
        if self._api_key is None:
            return {}
        return {"Authorization": f"Bearer {self._api_key}"}

    def _excerpt(self, response: httpx.Response) -> str:
        text = " ".join(response.text.split())
        return self._scrub(text if len(text) <= _DETAIL else text[:_DETAIL] + "...")

    def _scrub(self, text: str) -> str:
        return scrub(text, self._api_key)


def scrub(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` (nor any long part of it a provider may echo)."""
    if not secret:
        return text
    text = text.replace(secret, "[redacted]")
    if len(secret) >= 16:  # "sk-abc...xyz": a masked echo still shows both ends
        for part in (secret[:8], secret[-8:]):
            text = text.replace(part, "[redacted]")
    return text


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``Retry-After`` as seconds
    or an HTTP date; none if absent or unreadable."""
    value: float | None = None
    if "retry-after-ms" in headers:
        try:
            value = float(headers["retry-after-ms"]) / 1000
        except ValueError:
            value = None
    if value is None and "retry-after" in headers:
        raw = headers["retry-after"].strip()
        try:
            value = float(raw)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            value = (when - datetime.now(UTC)).total_seconds()
    if value is None or not math.isfinite(value):
        return None
    return max(0.0, value)
