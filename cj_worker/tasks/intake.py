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
from cj_worker.config import AlgorithmSettings
from cj_worker.db import repositories
from cj_worker.db.models import Essay
from cj_worker.db.progress import BatchProgress
from cj_worker.db.states import BatchState
from cj_worker.payloads import BatchRequest, parse
from cj_worker.tasks import base, unit_of_work
from cj_worker.tasks.base import cj_task, log
from cj_worker.tasks.messages import continue_batch_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.unit_of_work import Effects


@cj_task(task_names.CREATE_BATCH)
def create_batch(request: dict[str, Any]) -> str:
    """Store the batch described by ``request`` (a :class:`BatchRequest`); returns its id."""
    parsed = parse(BatchRequest, request)
    settings = base.settings().algorithm().override(parsed.settings)
    unit_of_work.run(lambda session: store_batch(session, parsed, settings))
    return str(parsed.batch_id)


def store_batch(session: Session, request: BatchRequest, settings: AlgorithmSettings) -> Effects:
    """Insert the batch and its essays inside the caller's transaction."""
    batch_id = request.batch_id
    seed = settings.pair_seed if settings.pair_seed is not None else batch_id.int % 2**63
    trigger = continue_batch_message(batch_id, 0)
    created = repositories.insert_batch(
        session,
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
        log.info("batch already exists; nothing stored", extra={"batch_id": str(batch_id)})
        # Never decided yet: re-send the wave-0 trigger the first delivery may have lost.
        undecided = existing is not None and existing.state is BatchState.CREATED
        return Effects(Outcome.DUPLICATE, [trigger] if undecided else [])
    log.info(
        "batch created",
        extra={"batch_id": str(batch_id), "essays": len(request.essays), "budget": request.budget},
    )
    return Effects(Outcome.CREATED, [trigger])
