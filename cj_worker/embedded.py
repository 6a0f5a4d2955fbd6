"""Run whole batches in this process on SQLite: the embedded default, no servers needed.

The same task bodies as a deployment run here; only the transport differs. Messages go to
an in-memory FIFO that one loop drains in order, instead of to Redis and worker processes,
so a wave's judge requests, their callbacks and the continuation follow each other exactly
as they would on a worker with one process.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable

from cj_worker import task_names
from cj_worker.celery_app import app
from cj_worker.config import get_settings
from cj_worker.db.migrate import upgrade
from cj_worker.payloads import BatchRequest, ExternalJudge
from cj_worker.tasks import base

Progress = Callable[[int, int], None]
"""Called with (comparisons answered so far, batch budget) after every answer."""


class EmbeddedRunError(RuntimeError):
    """The batch cannot run in-process (e.g. it names an external judge)."""


class LocalTransport:
    """A FIFO of messages for this process's loop."""

    def __init__(self) -> None:
        self.queue: deque[base.Message] = deque()

    def send(self, message: base.Message) -> None:
        if message.task not in app.tasks:
            raise EmbeddedRunError(
                f"the embedded runner has no task {message.task!r}; run a worker for it"
            )
        self.queue.append(message)


def run_batch(request: BatchRequest, progress: Progress | None = None) -> uuid.UUID:
    """Create the batch and drive it to its end; returns the batch id.

    The database is the configured one (``CJ_DATABASE_URL``, SQLite by default), migrated
    to the current schema first.
    """
    if isinstance(request.judge, ExternalJudge):
        raise EmbeddedRunError("judge: the embedded runner only has the simulated judge")
    settings = get_settings()
    upgrade(settings.database_url)
    app.loader.import_default_modules()  # registers the cj.* tasks, as a worker would
    transport = LocalTransport()
    previous = base.set_transport(transport)
    budget = (
        request.budget or settings.algorithm().override(request.settings).max_pairwise_comparisons
    )
    answered = 0
    try:
        transport.send(
            base.Message(task_names.CREATE_BATCH, {"request": request.model_dump(mode="json")})
        )
        while transport.queue:
            message = transport.queue.popleft()
            app.tasks[message.task].run(**message.kwargs)
            if message.task == task_names.RECORD_COMPARISON_RESULT:
                answered += 1
                if progress is not None:
                    progress(answered, budget)
    finally:
        base.set_transport(previous)
    return request.batch_id
