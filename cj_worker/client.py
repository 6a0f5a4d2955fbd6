"""The producer API: submit batches, record judges' answers, read status and results.

Sending enqueues by stable task name (``cj.create_batch``, ``cj.record_comparison_result``)
on the configured broker, always naming the task's queue (a message without one would sit
in Celery's default ``celery`` queue, which no cj worker consumes), with argument reprs that
show monitoring ids, never essays (:mod:`cj_worker.redaction`). A producer needs this
package (or just the names and JSON shapes in the README), not the worker code. Payloads
are validated here first, so a bad request fails in the producer with an error naming the
field instead of in a worker.

Reading goes to the database (``CJ_DATABASE_URL``). A read that names a ``tenant`` sees
only that tenant's batches; another tenant's batch is reported as unknown, exactly like a
batch that does not exist.
"""

from __future__ import annotations

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
    BatchRequest,
    ComparisonResult,
    EssayIn,
    ExternalJudge,
    GradeScaleIn,
    SimulatedJudge,
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
    "record_result",
    "submit_batch",
]


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
    essays. The other arguments are :func:`batch_request`'s.
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
    _send(app, task_names.CREATE_BATCH, {"request": request.model_dump(mode="json")})
    return request.batch_id


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
