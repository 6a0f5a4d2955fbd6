"""Run whole batches in this process on SQLite: the embedded default, no servers needed.

The same task bodies as a deployment run here; only the transport differs. Messages go to
an in-memory FIFO that one loop drains in order, instead of to Redis and worker processes,
so a wave's judge requests, their callbacks and the continuation follow each other exactly
as they would on a worker with one process.

The settings, the database URL among them, are a value the caller passes (the environment's
by default): the demo runs on a database of its own without touching ``CJ_DATABASE_URL``.

Runs are reproducible: a request that does not choose its ``batch_id`` gets one derived
from its content (:func:`content_batch_id`), and since comparison ids derive from the batch
id, the pairing seed from the batch's settings (or its id) and the simulated judge from
the comparison id, the same request gives the same comparisons, answers and results, byte
for byte. Running the same request again on the same database finds the batch it already
ran (intake is idempotent on the batch id) and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import deque
from collections.abc import Callable

from cj_worker import task_names
from cj_worker.celery_app import app
from cj_worker.config import Settings, get_settings
from cj_worker.db.migrate import upgrade
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.payloads import BatchRequest, ExternalJudge
from cj_worker.tasks import base

BATCH_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "cj-worker:embedded-batch")
"""The UUID namespace of content-derived batch ids."""

Progress = Callable[[int, int], None]
"""Called with (comparisons answered so far, batch budget) after every answer."""


class EmbeddedRunError(CJWorkerError, RuntimeError, exit_code=EXIT_USER_ERROR):
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


def content_batch_id(request: BatchRequest) -> uuid.UUID:
    """A batch id that is a pure function of everything else in ``request``.

    The essays (ids, texts, true scores), budget, settings (the pairing seed among them),
    judge (its seed among them) and grade scale are hashed in a canonical JSON form, so a
    different file, seed or option gives a different batch.
    """
    content = request.model_dump(mode="json", exclude={"batch_id"})
    digest = hashlib.sha256(
        json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return uuid.uuid5(BATCH_NAMESPACE, digest)


def run_batch(
    request: BatchRequest, progress: Progress | None = None, *, settings: Settings | None = None
) -> uuid.UUID:
    """Create the batch and drive it to its end; returns the batch id.

    A request without an explicit ``batch_id`` runs as :func:`content_batch_id`'s, so the
    same request gives the same batch and the same results.
    The database is ``settings.database_url``, migrated to the current schema first;
    without ``settings`` it is the configured one (``CJ_DATABASE_URL``, SQLite by default).
    The task bodies run with ``settings`` for the length of the call, and with the
    process's own settings and transport again afterwards, also when the run fails.
    """
    if isinstance(request.judge, ExternalJudge):
        raise EmbeddedRunError("judge: the embedded runner only has the simulated judge")
    if "batch_id" not in request.model_fields_set:
        request = request.model_copy(update={"batch_id": content_batch_id(request)})
    settings = get_settings() if settings is None else settings
    upgrade(settings.database_url)
    app.loader.import_default_modules()  # registers the cj.* tasks, as a worker would
    budget = (
        request.budget or settings.algorithm().override(request.settings).max_pairwise_comparisons
    )
    transport = LocalTransport()
    previous = base.set_transport(transport)
    previous_settings = base.set_settings(settings)
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
        base.set_settings(previous_settings)
    return request.batch_id
