"""The pipeline benchmark's external judge: answers every request at once, or at a set rate.

Run by ``benchmarks/pipeline.py`` as a process of its own (``python
benchmarks/pipeline_judge.py``, settings from the ``CJ_*`` environment). It is a producer's
judge as the README describes one: it consumes the batch's judge queue and answers each
:class:`~cj_worker.payloads.ComparisonRequest` by sending ``cj.record_comparison_result``
through :func:`cj_worker.client.record_result`, echoing the request's ``token``. The winner
is a coin seeded by the comparison id (``pipeline_support.coin``).

Why a plain kombu consumer and not a Celery worker: the judge shares the two cores with the
worker being measured, and a consumer that only pops, answers and publishes costs a
fraction of a Celery task's overhead. Messages are taken without acknowledgement
(``no_ack``): this judge never fails, and nothing here is under test.

For the latency section it paces its answers to the rate in Redis (``JUDGE_RATE_KEY``,
read twice a second; 0 is no limit), and it records when it sent each callback (hash
``JUDGE_SENT_KEY``, written every 0.2 s in one pipeline) for the callback-to-commit
latency. It prints ``judge ready`` once it consumes, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from kombu import Exchange, Message, Queue
from pipeline_support import (
    JUDGE_ANSWERED_KEY,
    JUDGE_ID,
    JUDGE_QUEUE,
    JUDGE_RATE_KEY,
    JUDGE_SENT_KEY,
    coin,
    redis_client,
)

from cj_worker.celery_app import app
from cj_worker.client import record_result
from cj_worker.config import get_settings

FLUSH_SECONDS = 0.2
RATE_POLL_SECONDS = 0.5


class Judge:
    """Answers requests; paces them; remembers when each answer left."""

    def __init__(self, broker_url: str) -> None:
        self.redis = redis_client(broker_url)
        self.sent: dict[str, str] = {}
        self.answered = 0
        self.rate = 0.0
        self.next_send = 0.0
        self.last_flush = self.last_rate_poll = 0.0
        self.stopping = False

    def on_message(self, body: Any, message: Message) -> None:
        request = _request_of(body)
        comparison_id = uuid.UUID(str(request["comparison_id"]))
        self._pace()
        self.sent[str(comparison_id)] = repr(time.time())
        record_result(
            comparison_id,
            token=str(request.get("token") or ""),
            winner=coin(comparison_id),
            judge_id=JUDGE_ID,
        )
        self.answered += 1
        self.tick()

    def _pace(self) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        self.next_send = max(self.next_send, now)
        if self.next_send > now:
            time.sleep(self.next_send - now)
        self.next_send += 1.0 / self.rate

    def tick(self) -> None:
        """Flush the send times and re-read the rate when they are due."""
        now = time.monotonic()
        if now - self.last_rate_poll >= RATE_POLL_SECONDS:
            self.last_rate_poll = now
            raw = self.redis.get(JUDGE_RATE_KEY)
            rate = float(raw) if raw else 0.0
            if rate != self.rate:
                self.rate, self.next_send = rate, now
        if now - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.sent:
            return
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(JUDGE_SENT_KEY, mapping=self.sent)  # type: ignore[arg-type]
            pipe.incrby(JUDGE_ANSWERED_KEY, len(self.sent))
            pipe.execute()
        self.sent = {}


def _request_of(body: Any) -> dict[str, Any]:
    """The ``request`` keyword of a Celery task message (protocol 2, or 1)."""
    kwargs = body[1] if isinstance(body, list | tuple) else body.get("kwargs", {})
    request: dict[str, Any] = kwargs["request"]
    return request


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--queue", default=JUDGE_QUEUE)
    arguments = parser.parse_args(argv)
    judge = Judge(get_settings().broker_url)

    def stop(*_: Any) -> None:
        judge.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    name: str = arguments.queue
    queue = Queue(name, Exchange(name, "direct"), routing_key=name)
    with (
        app.connection_for_read() as connection,
        connection.Consumer(queue, callbacks=[judge.on_message], accept=["json"], no_ack=True),
    ):
        print("judge ready", flush=True)
        while not judge.stopping:
            with suppress(TimeoutError):  # socket.timeout: nothing arrived
                connection.drain_events(timeout=RATE_POLL_SECONDS)
            judge.tick()
    judge.flush()
    print(f"judge stopped after {judge.answered} answers", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
