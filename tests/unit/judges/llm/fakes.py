"""A scripted chat-completions endpoint for httpx's ``MockTransport``, and a fake clock.

The endpoint answers each request with the next scripted reply (the last one repeats) and
keeps every request, so a test can read what was sent: URL, headers, JSON body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response] | Exception


def completion(
    content: str | None = None,
    *,
    tool_arguments: str | None = None,
    finish_reason: str = "stop",
    refusal: str | None = None,
    prompt_tokens: int | None = 120,
    completion_tokens: int | None = 30,
) -> dict[str, Any]:
    """A chat-completions response body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    if tool_arguments is not None:
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "record_verdict", "arguments": tool_arguments},
            }
        ]
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if prompt_tokens is not None:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + (completion_tokens or 0),
        }
    return body


def verdict_json(winner: str = "A", confidence: float = 0.8, why: str = "Clearer argument.") -> str:
    return json.dumps({"winner": winner, "justification": why, "confidence": confidence})


def ok(winner: str = "A", **fields: Any) -> httpx.Response:
    return httpx.Response(200, json=completion(verdict_json(winner), **fields))


class ScriptedEndpoint:
    """Answers with ``replies`` in turn (the last repeats); records every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [ok()]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport())

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


class FakeClock:
    """Monotonic time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
