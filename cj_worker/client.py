"""The producer API: submit batches, record judges' answers, read status and results.

Sending enqueues by stable task name (``cj.create_batch``, ``cj.record_comparison_result``)
on the configured broker, so a producer needs this package (or just the names and JSON
shapes in the README), not the worker code. Payloads are validated here first, so a bad
request fails in the producer with an error naming the field instead of in a worker.
Reading goes to the database (``CJ_DATABASE_URL``).
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
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.payloads import (
    BatchRequest,
    ComparisonResult,
    EssayIn,
    ExternalJudge,
    GradeScaleIn,
    SimulatedJudge,
    parse,
)

__all__ = [
    "BatchResults",
    "BatchStatus",
    "UnknownBatchError",
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
    judge: SimulatedJudge | ExternalJudge | None = None,
    settings: dict[str, Any] | None = None,
    tenant: str | None = None,
    external_ref: str | None = None,
    result_task: str | None = None,
    result_queue: str | None = None,
    grade_scale: str | GradeScaleIn | dict[str, Any] | None = None,
    batch_id: uuid.UUID | None = None,
    app: Celery | None = None,
) -> uuid.UUID:
    """Validate and enqueue a batch; returns its id (pass ``batch_id`` to make retries safe).

    ``result_task`` receives the result event on ``result_queue`` (default ``cj.results``).
    ``grade_scale`` names a built-in scale or defines one (``{"grades": [...], "priors":
    [...]}``); it defaults to ``swedish_8_anchor``. Anchors' grades must be in it.
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
    if batch_id is not None:
        fields["batch_id"] = batch_id
    request = parse(BatchRequest, fields)
    (app or default_app).signature(
        task_names.CREATE_BATCH, kwargs={"request": request.model_dump(mode="json")}
    ).apply_async(queue=task_names.INTAKE_QUEUE)
    return request.batch_id


def record_result(
    comparison_id: uuid.UUID,
    *,
    winner: str | None,
    judge_id: str | None = None,
    confidence: float | None = None,
    justification: str | None = None,
    error_code: str | None = None,
    error_detail: str | None = None,
    app: Celery | None = None,
) -> None:
    """Answer a comparison request: ``winner`` "A" or "B", or None with an error code."""
    result = parse(
        ComparisonResult,
        {
            "comparison_id": comparison_id,
            "status": "failed" if winner is None else "succeeded",
            "winner": winner,
            "judge_id": judge_id,
            "confidence": confidence,
            "justification": justification,
            "error_code": error_code,
            "error_detail": error_detail,
        },
    )
    (app or default_app).signature(
        task_names.RECORD_COMPARISON_RESULT, kwargs={"result": result.model_dump(mode="json")}
    ).apply_async(queue=task_names.CALLBACKS_QUEUE)


def get_status(batch_id: uuid.UUID, *, database_url: str | None = None) -> BatchStatus:
    with session_scope(database_url or get_settings().database_url) as session:
        status = batch_status(session, batch_id)
    if status is None:
        raise UnknownBatchError(f"no batch {batch_id}")
    return status


def get_results(batch_id: uuid.UUID, *, database_url: str | None = None) -> BatchResults:
    with session_scope(database_url or get_settings().database_url) as session:
        results = batch_results(session, batch_id)
    if results is None:
        raise UnknownBatchError(f"no batch {batch_id}")
    return results
