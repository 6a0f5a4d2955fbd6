"""The producer API: submit batches, record judges' answers, read status and results.

Sending enqueues by stable task name (``cj.create_batch``, ``cj.record_comparison_result``)
on the configured broker, always naming the task's queue (a message without one would sit
in Celery's default ``celery`` queue, which no cj worker consumes), with argument reprs that
show monitoring ids, never essays (:mod:`cj_worker.redaction`). A producer needs this
package (or just the names and JSON shapes in the README), not the worker code. Payloads
are validated here first, so a bad request fails in the producer with an error naming the
field instead of in a worker.

A batch larger than :data:`MAX_MESSAGE_BYTES` of JSON is split (:func:`intake_messages`):
``cj.create_batch`` with ``essay_count``, the digest of every essay and the first essays,
then ``cj.add_essays`` chunks with the rest, none of them larger than that (an essay too
long to share a message travels alone). A smaller batch is one message, as it always was.

Reading goes to the database (``CJ_DATABASE_URL``). A read that names a ``tenant`` sees
only that tenant's batches; another tenant's batch is reported as unknown, exactly like a
batch that does not exist.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from celery import Celery

from cj_worker import task_names
from cj_worker.celery_app import app as default_app
from cj_worker.config import get_settings
from cj_worker.db.engine import session_scope
from cj_worker.db.repositories.reports import (
    BatchResults,
    BatchStatus,
    batch_results,
    batch_status,
)
from cj_worker.db.repositories.tenancy import visible_to
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import (
    MAX_CHUNK_TEXT_CHARS,
    MAX_ESSAYS_PER_CHUNK,
    BatchRequest,
    ComparisonResult,
    EssayChunk,
    EssayIn,
    ExternalJudge,
    GradeScaleIn,
    SimulatedJudge,
    essays_sha256,
    parse,
)
from cj_worker.redaction import redacted_repr

__all__ = [
    "BatchResults",
    "BatchStatus",
    "UnknownBatchError",
    "batch_request",
    "get_results",
    "get_status",
    "intake_messages",
    "record_result",
    "submit_batch",
]


MAX_MESSAGE_BYTES = 1_000_000
"""Largest intake message :func:`submit_batch` sends, in bytes of the JSON body the broker
carries; a larger batch goes in chunks. The one exception is an essay whose JSON alone is
larger (up to 100,000 characters, which non-ASCII text escapes to several bytes each): it
travels in a chunk of its own."""
MAX_ESSAYS_PER_MESSAGE = MAX_ESSAYS_PER_CHUNK // 2
"""Most essays the client puts in one chunk: 1,000, half what the worker takes."""
ENVELOPE_BYTES = 256
"""Room for Celery's body around the keyword arguments (``[[], {...}, {"callbacks": ...}]``,
about 90 bytes) and the chunk's own fields."""

CHUNKED_FIELDS = frozenset({"essay_count", "essays_sha256"})
"""Fields only a chunked request carries: left out of a request sent whole, so a worker of
an earlier version, which refuses fields it does not know, still takes it."""


class UnknownBatchError(CJWorkerError, LookupError, exit_code=EXIT_USER_ERROR):
    """No batch with that id in the database."""


def submit_batch(
    essays: Sequence[EssayIn | dict[str, Any]],
    *,
    budget: int | None = None,
    judge: SimulatedJudge | ExternalJudge | LlmJudge | None = None,
    settings: dict[str, Any] | None = None,
    tenant: str | None = None,
    external_ref: str | None = None,
    result_task: str | None = None,
    result_queue: str | None = None,
    grade_scale: str | GradeScaleIn | dict[str, Any] | None = None,
    assignment: str | None = None,
    rubric: str | None = None,
    batch_id: uuid.UUID | None = None,
    app: Celery | None = None,
) -> uuid.UUID:
    """Validate and enqueue a batch; returns its id (pass ``batch_id`` to make retries safe).

    ``result_task`` receives the result event on ``result_queue`` (default ``cj.results``).
    ``grade_scale`` names a built-in scale or defines one (``{"grades": [...], "priors":
    [...]}``); it defaults to ``swedish_8_anchor``. Anchors' grades must be in it.
    ``assignment`` and ``rubric`` are shown to an LLM judge (:class:`LlmJudge`) before the
    essays. The other arguments are :func:`batch_request`'s. A batch of more than
    :data:`MAX_MESSAGE_BYTES` is sent in chunks (:func:`intake_messages`), in order.
    """
    request = batch_request(
        essays,
        budget=budget,
        judge=judge,
        settings=settings,
        tenant=tenant,
        external_ref=external_ref,
        result_task=result_task,
        result_queue=result_queue,
        grade_scale=grade_scale,
        assignment=assignment,
        rubric=rubric,
        batch_id=batch_id,
    )
    for task, kwargs in intake_messages(request):
        _send(app, task, kwargs)
    return request.batch_id


def intake_messages(
    request: BatchRequest, *, max_bytes: int = MAX_MESSAGE_BYTES
) -> list[tuple[str, dict[str, Any]]]:
    """The intake messages of ``request`` (task name and kwargs), in the order to send them.

    One ``cj.create_batch`` with every essay if its JSON fits ``max_bytes``. Otherwise the
    create carries ``essay_count``, ``essays_sha256`` of the whole list and as many essays
    as fit, and ``cj.add_essays`` chunks carry the rest, each within ``max_bytes``, at most
    :data:`MAX_ESSAYS_PER_MESSAGE` essays and the worker's characters per chunk.
    """
    whole = request.model_dump(mode="json", exclude=set(CHUNKED_FIELDS))
    if _size({"request": whole}) + ENVELOPE_BYTES <= max_bytes:
        return [(task_names.CREATE_BATCH, {"request": whole})]
    essays = [essay.model_dump(mode="json") for essay in request.essays]
    head = {
        **whole,
        "essays": [],
        "essay_count": len(essays),
        "essays_sha256": essays_sha256(request.essays),
    }
    first = _take(essays, 0, max_bytes - _size({"request": head}) - ENVELOPE_BYTES)
    create = {**head, "essays": essays[:first]}
    parse(BatchRequest, create)  # the first chunk obeys the worker's chunk limits
    messages = [(task_names.CREATE_BATCH, {"request": create})]
    offset = first
    while offset < len(essays):
        chunk: dict[str, Any] = {
            "batch_id": str(request.batch_id),
            "tenant": request.tenant,
            "offset": offset,
            "essays": [],
        }
        stop = _take(essays, offset, max_bytes - _size({"chunk": chunk}) - ENVELOPE_BYTES)
        chunk["essays"] = essays[offset:stop]
        parse(EssayChunk, chunk)
        messages.append((task_names.ADD_ESSAYS, {"chunk": chunk}))
        offset = stop
    return messages


def _take(essays: list[dict[str, Any]], start: int, room: int) -> int:
    """The end of the run of essays from ``start`` that fits ``room`` bytes (at least one)."""
    stop, used, chars = start, 0, 0
    while stop < len(essays) and stop - start < MAX_ESSAYS_PER_MESSAGE:
        size = _size(essays[stop]) + 2  # the ", " between items
        length = len(essays[stop]["text"])
        if stop > start and (used + size > room or chars + length > MAX_CHUNK_TEXT_CHARS):
            break
        used, chars, stop = used + size, chars + length, stop + 1
    return stop


def _size(value: Any) -> int:
    """Bytes of ``value`` as the broker carries it (kombu's JSON: ASCII, default spacing)."""
    return len(json.dumps(value))


def batch_request(
    essays: Sequence[EssayIn | dict[str, Any]],
    *,
    budget: int | None = None,
    judge: SimulatedJudge | ExternalJudge | LlmJudge | None = None,
    settings: dict[str, Any] | None = None,
    tenant: str | None = None,
    external_ref: str | None = None,
    result_task: str | None = None,
    result_queue: str | None = None,
    grade_scale: str | GradeScaleIn | dict[str, Any] | None = None,
    assignment: str | None = None,
    rubric: str | None = None,
    batch_id: uuid.UUID | None = None,
) -> BatchRequest:
    """The validated request :func:`submit_batch` would send, without sending it.

    What ``submit --dry-run`` estimates the cost of; a bad field raises
    :class:`~cj_worker.payloads.PayloadError` naming it.
    """
    fields: dict[str, Any] = {
        "essays": [e.model_dump() if isinstance(e, EssayIn) else e for e in essays],
        "budget": budget,
        "settings": settings or {},
        "tenant": tenant,
        "external_ref": external_ref,
        "result_task": result_task,
    }
    if result_queue is not None:
        fields["result_queue"] = result_queue
    if grade_scale is not None:
        fields["grade_scale"] = (
            grade_scale.model_dump() if isinstance(grade_scale, GradeScaleIn) else grade_scale
        )
    if judge is not None:
        fields["judge"] = judge.model_dump()
    if assignment is not None:
        fields["assignment"] = assignment
    if rubric is not None:
        fields["rubric"] = rubric
    if batch_id is not None:
        fields["batch_id"] = batch_id
    return parse(BatchRequest, fields)


def _send(app: Celery | None, task: str, kwargs: dict[str, Any]) -> None:
    (app or default_app).signature(task, kwargs=kwargs).apply_async(
        queue=task_names.ROUTES[task], argsrepr="()", kwargsrepr=redacted_repr(kwargs)
    )


def record_result(
    comparison_id: uuid.UUID,
    *,
    token: str,
    winner: str | None,
    judge_id: str | None = None,
    confidence: float | None = None,
    justification: str | None = None,
    error_code: str | None = None,
    error_detail: str | None = None,
    app: Celery | None = None,
) -> None:
    """Answer a comparison request: ``winner`` "A" or "B", or None with an error code.

    ``token`` is the request's ``token``: without it the worker refuses the answer.
    """
    result = parse(
        ComparisonResult,
        {
            "comparison_id": comparison_id,
            "token": token,
            "status": "failed" if winner is None else "succeeded",
            "winner": winner,
            "judge_id": judge_id,
            "confidence": confidence,
            "justification": justification,
            "error_code": error_code,
            "error_detail": error_detail,
        },
    )
    _send(app, task_names.RECORD_COMPARISON_RESULT, {"result": result.model_dump(mode="json")})


def get_status(
    batch_id: uuid.UUID, *, tenant: str | None = None, database_url: str | None = None
) -> BatchStatus:
    """The batch's status; with ``tenant``, only if the batch was submitted under it."""
    with session_scope(database_url or get_settings().database_url) as session:
        status = batch_status(session, batch_id) if visible_to(session, batch_id, tenant) else None
    if status is None:
        raise UnknownBatchError(_unknown(batch_id, tenant))
    return status


def get_results(
    batch_id: uuid.UUID, *, tenant: str | None = None, database_url: str | None = None
) -> BatchResults:
    """The batch's results; with ``tenant``, only if the batch was submitted under it."""
    with session_scope(database_url or get_settings().database_url) as session:
        results = (
            batch_results(session, batch_id) if visible_to(session, batch_id, tenant) else None
        )
    if results is None:
        raise UnknownBatchError(_unknown(batch_id, tenant))
    return results


def _unknown(batch_id: uuid.UUID, tenant: str | None) -> str:
    return f"no batch {batch_id}" + (f" of tenant {tenant!r}" if tenant is not None else "")
