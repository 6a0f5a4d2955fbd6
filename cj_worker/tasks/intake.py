"""``cj.create_batch``: validate a producer's batch and store it whole, or not at all.

The batch and its essays are inserted in one transaction; the first decision (wave 0) is
taken by ``cj.continue_batch`` like every later one, so there is one path for data. A
resubmission with the same ``batch_id`` changes nothing (and re-sends the wave-0 trigger
if the batch never got its first decision, e.g. the first delivery died after commit).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cj_worker import task_names
from cj_worker.config import AlgorithmSettings, get_settings
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, Essay
from cj_worker.db.repositories.conflicts import insert_unless_exists
from cj_worker.db.states import BatchState
from cj_worker.payloads import BatchRequest, parse
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit


@cj_task(task_names.CREATE_BATCH)
def create_batch(request: dict[str, Any]) -> str:
    """Store the batch described by ``request`` (a :class:`BatchRequest`); returns its id."""
    parsed = parse(BatchRequest, request)
    settings = get_settings().algorithm().override(parsed.settings)
    with session_scope(database_url()) as session:
        messages = store_batch(session, parsed, settings)
    send_after_commit(messages)
    return str(parsed.batch_id)


def store_batch(
    session: Session, request: BatchRequest, settings: AlgorithmSettings
) -> list[Message]:
    """Insert the batch and its essays inside the caller's transaction."""
    batch_id = request.batch_id
    seed = settings.pair_seed if settings.pair_seed is not None else batch_id.int % 2**63
    created = insert_unless_exists(
        session,
        Batch,
        {
            "id": batch_id,
            "external_ref": request.external_ref,
            "tenant": request.tenant,
            "state": BatchState.CREATED,
            "total_budget": request.budget or settings.max_pairwise_comparisons,
            "settings": settings.model_dump(mode="json"),
            "judge": request.judge.model_dump(mode="json"),
            "grade_scale": request.scale().as_json(),
            "result_task": request.result_task,
            "result_queue": request.result_queue,
            "seed": seed,
            "processing_metadata": {},
        },
        unique_key=("id",),
    )
    trigger = Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": 0})
    if not created:
        state = session.get(Batch, batch_id)
        log.info("batch already exists; nothing stored", extra={"batch_id": str(batch_id)})
        return [trigger] if state is not None and state.state is BatchState.CREATED else []
    session.add_all(
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
    )
    log.info(
        "batch created",
        extra={"batch_id": str(batch_id), "essays": len(request.essays), "budget": request.budget},
    )
    return [trigger]
