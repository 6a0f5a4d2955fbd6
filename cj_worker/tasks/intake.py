"""``cj.create_batch`` and ``cj.add_essays``: store a producer's batch whole, or not at all.

The batch and its essays are inserted in one transaction; the first decision (wave 0) is
taken by ``cj.continue_batch`` like every later one, so there is one path for data.

A large batch may come in chunks (:mod:`cj_worker.tasks.chunks`): a request with
``essay_count`` stores the batch and its first essays and waits in ``created``; each
``cj.add_essays`` adds a chunk, and only the chunk that completes the batch (its essays
matching the declared ``essays_sha256``) sends the wave-0 trigger. A chunk that arrives
before its batch is stored (two intake workers took the create and the chunk at once) is
retried for a few seconds (:data:`UNKNOWN_BATCH_RETRY_DELAYS`) before it is refused.

Idempotent means *the same request*: a resubmission with the same ``batch_id`` and the same
payload and tenant (the same :meth:`BatchRequest.fingerprint`) changes nothing and returns
the same id (re-sending the wave-0 trigger if the batch never got its first decision, e.g.
the first delivery died after commit). The same ``batch_id`` with another payload or
tenant is refused with :class:`BatchConflictError`: accepting it silently would tell its
producer that *its* essays are being judged.

A refused request (invalid, or a conflict) changes nothing, fails the task with the error,
and, when it names a ``result_task`` that can be read from it, sends that task a
``batch.rejected`` event with the errors, so a producer hears about it without reading the
worker's logs. A refused chunk of a batch still waiting for chunks sends the batch's
result task ``batch.chunk_rejected`` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.budget import plan_budget
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.db import repositories
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Essay
from cj_worker.db.progress import BatchProgress
from cj_worker.db.repositories import chunks as stored_chunks
from cj_worker.db.states import BatchState
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.payloads import (
    MAX_ID_LENGTH,
    RESERVED_TASK_PREFIX,
    BatchRequest,
    EssayChunk,
    PayloadError,
    batch_id_of,
    parse,
)
from cj_worker.tasks import base, unit_of_work
from cj_worker.tasks.base import Message, cj_task, log
from cj_worker.tasks.chunks import (
    UNKNOWN_BATCH,
    ChunkRefusedError,
    Producer,
    producer_of,
    store_chunk,
)
from cj_worker.tasks.messages import continue_batch_message, result_event_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.unit_of_work import Effects

BATCH_REJECTED = "batch.rejected"
"""Type of the event a refused request's ``result_task`` receives."""
CHUNK_REJECTED = "batch.chunk_rejected"
"""Type of the event a waiting batch's ``result_task`` receives for a refused chunk."""
UNKNOWN_BATCH_RETRY_DELAYS = (1, 2, 4, 8)
"""Seconds before each retry of a chunk whose batch is not stored (yet): 15 s in all, for
the create to commit when another worker took it at the same moment. Then it is refused."""
CONFLICT = "conflict"
"""``cj_refused_messages_total`` reason of a resubmitted batch id with another request."""


class BatchConflictError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """The batch id exists and was created by another payload or tenant."""


@cj_task(task_names.CREATE_BATCH)
def create_batch(request: dict[str, Any]) -> str:
    """Store the batch described by ``request`` (a :class:`BatchRequest`); returns its id."""
    try:
        parsed = parse(BatchRequest, request)
        settings = base.settings().algorithm().override(parsed.settings)
        unit_of_work.run(lambda session: store_batch(session, parsed, settings))
    except (PayloadError, BatchConflictError) as error:
        if isinstance(error, BatchConflictError):
            metrics.observe_refused(task_names.CREATE_BATCH, CONFLICT)
        problems = error.problems if isinstance(error, PayloadError) else [str(error)]
        log.warning("batch request refused", extra={"errors": problems})
        _tell_the_producer(request, problems)
        raise
    return str(parsed.batch_id)


def store_batch(session: Session, request: BatchRequest, settings: AlgorithmSettings) -> Effects:
    """Insert the batch and its essays inside the caller's transaction."""
    batch_id = request.batch_id
    fingerprint = request.fingerprint()
    seed = settings.pair_seed if settings.pair_seed is not None else batch_id.int % 2**63
    trigger = continue_batch_message(batch_id, 0)
    essays = len(request.essays)
    created = repositories.insert_batch(
        session,
        {
            "id": batch_id,
            "external_ref": request.external_ref,
            "tenant": request.tenant,
            "request_fingerprint": fingerprint,
            "essays_expected": request.essay_count,
            "essays_sha256": request.essays_sha256,
            "state": BatchState.CREATED,
            "total_budget": request.budget or settings.max_pairwise_comparisons,
            "settings": settings.model_dump(mode="json"),
            "judge": request.judge.model_dump(mode="json"),
            "grade_scale": request.scale().as_json(),
            "result_task": request.result_task,
            "result_queue": request.result_queue,
            "seed": seed,
            "processing_metadata": BatchProgress().as_metadata(),
        },
        (
            Essay(
                batch_id=batch_id,
                external_id=essay.id,
                position=position,
                text=essay.text,
                is_anchor=essay.is_anchor,
                grade=essay.grade,
                true_score=essay.true_score,
            )
            for position, essay in enumerate(request.essays)
        ),
    )
    if not created:
        existing = repositories.get_batch(session, batch_id)
        if existing is not None and existing.request_fingerprint not in (None, fingerprint):
            raise BatchConflictError(
                f"batch_id: batch {batch_id} already exists with another payload or tenant;"
                " resubmit the same request to retry it, or choose a new batch_id"
            )
        log.info("batch already exists; nothing stored", extra={"batch_id": str(batch_id)})
        # Never decided yet: re-send the wave-0 trigger the first delivery may have lost
        # (a batch still waiting for chunks gets it from the chunk that completes it).
        undecided = (
            existing is not None
            and existing.state is BatchState.CREATED
            and not stored_chunks.awaits_essays(session, existing)
        )
        return Effects(Outcome.DUPLICATE, [trigger] if undecided else [])
    log.info(
        "batch created",
        extra={
            "batch_id": str(batch_id),
            "essays": essays,
            "essays_expected": request.essay_count,
            "budget": request.budget,
        },
    )
    # The same arithmetic the CLI warns with: a budget the caps cannot spend, or too few
    # comparisons per essay for a useful ranking, is accepted (a budget is a ceiling) and said.
    plan = plan_budget(request.essay_count or essays, settings, budget=request.budget)
    for warning in plan.warnings:
        log.warning("budget_warning", extra={"batch_id": str(batch_id), "warning": warning})
    return Effects(Outcome.CREATED, [] if request.chunked else [trigger])


@cj_task(task_names.ADD_ESSAYS)
def add_essays(chunk: dict[str, Any]) -> str:
    """Add one chunk (an :class:`EssayChunk`) to a batch waiting for it; returns the outcome."""
    try:
        parsed = parse(EssayChunk, chunk)
        effects = unit_of_work.run(lambda session: store_chunk(session, parsed))
    except ChunkRefusedError as error:
        retries = add_essays.request.retries or 0
        if error.reason == UNKNOWN_BATCH and retries < len(UNKNOWN_BATCH_RETRY_DELAYS):
            countdown = UNKNOWN_BATCH_RETRY_DELAYS[retries]
            raise add_essays.retry(
                countdown=countdown, max_retries=len(UNKNOWN_BATCH_RETRY_DELAYS), exc=error
            ) from None
        if error.reason is not None:
            metrics.observe_refused(task_names.ADD_ESSAYS, error.reason)
        _chunk_refused(chunk, error.problems, error.producer)
        raise
    except PayloadError as error:
        _chunk_refused(chunk, error.problems, _waiting_producer(chunk))
        raise
    return effects.outcome.value


def _chunk_refused(chunk: Any, problems: list[str], producer: Producer | None) -> None:
    """Log a refused chunk and tell the producer of the batch it names, if it waits."""
    fields = chunk if isinstance(chunk, Mapping) else {}
    offset = fields.get("offset") if type(fields.get("offset")) is int else None
    log.warning(
        "essay chunk refused",
        extra={
            "batch_id": _name(fields.get("batch_id")),
            "offset": offset,
            "errors": problems,
        },
    )
    if producer is None:
        return
    event = {
        "batch_id": _name(fields.get("batch_id")),
        "external_ref": producer.external_ref,
        "tenant": _name(fields.get("tenant")),
        "offset": offset,
        "errors": problems,
    }
    message = result_event_message(
        producer.result_task, producer.result_queue, CHUNK_REJECTED, event
    )
    try:
        base.send([message])
    except Exception as error:  # the refusal stands; the producer just hears nothing
        log.error("could not send batch.chunk_rejected", extra={"error": repr(error)[:200]})


def _waiting_producer(chunk: Any) -> Producer | None:
    """The producer of the waiting batch a malformed chunk names (batch id and tenant).

    Best effort: if the database cannot be read the refusal stands and nobody is told (a
    malformed chunk must not become a retried task).
    """
    if not isinstance(chunk, Mapping):
        return None
    try:
        batch_id = batch_id_of(chunk.get("batch_id"))
    except PayloadError:
        return None
    try:
        with session_scope(base.database_url()) as session:
            batch = repositories.get_batch(session, batch_id)
            if batch is None or batch.tenant != chunk.get("tenant"):
                return None
            return producer_of(batch)
    except Exception as error:
        log.error("could not read the batch of a refused chunk", extra={"error": repr(error)[:200]})
        return None


def _tell_the_producer(request: Any, problems: list[str]) -> None:
    """Send ``batch.rejected`` to the request's result task, if one can be read from it.

    The request was refused, so nothing in it is trusted beyond what addressing the event
    needs: a task name and queue of the right shape that are not cj-worker's own (the
    event must never reach a cj worker), and short strings echoed back.
    """
    if not isinstance(request, Mapping):
        return
    task = _name(request.get("result_task"))
    queue = _name(request.get("result_queue", task_names.RESULTS_QUEUE))
    if task is None or queue is None or task.startswith(RESERVED_TASK_PREFIX):
        return
    if queue in task_names.QUEUES:
        return
    event = {
        "batch_id": _name(request.get("batch_id")),
        "external_ref": _name(request.get("external_ref")),
        "tenant": _name(request.get("tenant")),
        "errors": problems,
    }
    message: Message = result_event_message(task, queue, BATCH_REJECTED, event)
    try:
        base.send([message])
    except Exception as error:  # the refusal stands; the producer just hears nothing
        log.error("could not send batch.rejected", extra={"task": task, "error": repr(error)[:200]})


def _name(value: Any) -> str | None:
    """A short string from a refused request, or None."""
    if isinstance(value, str) and 0 < len(value.strip()) <= MAX_ID_LENGTH:
        return value.strip()
    return None
