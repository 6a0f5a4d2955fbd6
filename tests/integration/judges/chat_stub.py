"""A local chat-completions server for the LLM judge's end-to-end tests.

It listens on 127.0.0.1 (a free port), checks the bearer key, finds the two essays in the
prompt by their texts, and answers from hidden true qualities: P(first shown wins) is
logistic(quality difference). Faults are injected by arrival order, so a run of N requests
has a known number of each: every ``server_error_every``-th request is a 500, every
``rate_limit_every``-th a 429 with ``Retry-After``, every ``malformed_every``-th a 200 whose
content is prose instead of the JSON asked for. Each request is recorded (arrival and end
time, status, body) and the server tracks how many were in flight at once.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Faults:
    latency_seconds: float = 0.0
    server_error_every: int = 0
    rate_limit_every: int = 0
    retry_after: str = "1"
    malformed_every: int = 0


@dataclass(frozen=True)
class Record:
    arrived: float
    ended: float
    status: int
    outcome: str
    """answered, malformed, server_error, rate_limited, unauthorized, bad_request"""
    model: str
    body: str
    authorization: str


@dataclass
class ChatStub:
    api_key: str
    qualities: dict[str, float]
    """Essay text to hidden quality (logits)."""
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    records: list[Record] = field(default_factory=list)
    max_in_flight: int = 0
    base_url: str = ""
    """Set by :meth:`start`."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._in_flight = 0
        self._random = random.Random(self.seed)
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stub._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self, faults: Faults | None = None) -> None:
        with self._lock:
            self.records = []
            self.max_in_flight = 0
            self._count = 0
            self.faults = faults or Faults()

    # ------------------------------------------------------------------ reading
    def outcomes(self, model: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records:
            if model is None or record.model == model:
                counts[record.outcome] = counts.get(record.outcome, 0) + 1
        return counts

    def for_model(self, model: str) -> list[Record]:
        return [record for record in self.records if record.model == model]

    # ------------------------------------------------------------------ serving
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        with self._lock:
            self._count += 1
            number = self._count
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            faults = self.faults
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode()
        authorization = handler.headers.get("Authorization") or ""
        model = ""
        try:
            body = json.loads(raw)
            model = str(body.get("model", ""))
            if faults.latency_seconds:
                time.sleep(faults.latency_seconds)
            status, outcome, reply, headers = self._answer(number, body, authorization, faults)
        except (ValueError, KeyError, TypeError):
            status, outcome, reply, headers = 400, "bad_request", {"error": "bad request"}, {}
        with self._lock:
            self._in_flight -= 1
            self.records.append(
                Record(arrived, time.monotonic(), status, outcome, model, raw, authorization)
            )
        data = json.dumps(reply).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(
        self, number: int, body: dict[str, Any], authorization: str, faults: Faults
    ) -> tuple[int, str, dict[str, Any], dict[str, str]]:
        if authorization != f"Bearer {self.api_key}":
            sent = authorization.removeprefix("Bearer ")
            # Like hosted APIs, echo a masked form of the key that was refused.
            masked = f"{sent[:8]}****{sent[-4:]}" if len(sent) > 12 else "****"
            return 401, "unauthorized", {"error": {"message": f"Incorrect API key: {masked}"}}, {}
        if faults.server_error_every and number % faults.server_error_every == 0:
            return 500, "server_error", {"error": "internal error"}, {}
        if faults.rate_limit_every and number % faults.rate_limit_every == 0:
            return (
                429,
                "rate_limited",
                {"error": "rate limit reached"},
                {"Retry-After": faults.retry_after},
            )
        prompt = "\n".join(str(message["content"]) for message in body["messages"])
        first, second = self._essays_in(prompt)
        p_first = 1.0 / (1.0 + math.exp(-(self.qualities[first] - self.qualities[second])))
        with self._lock:
            winner = "A" if self._random.random() < p_first else "B"
        verdict = json.dumps(
            {"winner": winner, "justification": "More developed.", "confidence": 0.7}
        )
        outcome = "answered"
        if faults.malformed_every and number % faults.malformed_every == 0:
            verdict, outcome = f"I prefer essay {winner}.", "malformed"
        message: dict[str, Any] = {"role": "assistant", "content": verdict}
        if "tools" in body and outcome == "answered":
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "record_verdict", "arguments": verdict},
                    }
                ],
            }
        reply = {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": len(prompt) // 4,
                "completion_tokens": 20,
                "total_tokens": len(prompt) // 4 + 20,
            },
        }
        return 200, outcome, reply, {}

    def _essays_in(self, prompt: str) -> tuple[str, str]:
        found = sorted(
            (prompt.index(f"\n{text}\n"), text)
            for text in self.qualities
            if f"\n{text}\n" in prompt
        )
        if len(found) != 2:
            raise ValueError(f"expected two known essays in the prompt, found {len(found)}")
        return found[0][1], found[1][1]
