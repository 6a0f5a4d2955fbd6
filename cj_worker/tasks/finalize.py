"""``cj.finalize_scoring`` and ``cj.finalize_failure``: end a batch exactly once.

Both lock the batch, return if it is already terminal, and write the results, the terminal
state and the result event (outbox) in one transaction; the outbox relay is nudged after
commit. Counts in results and events are the actual rows, never n-choose-2 estimates.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from cj_worker import task_names
from cj_worker.config import AlgorithmSettings
from cj_worker.core.bt import BTFit, fit_bradley_terry
from cj_worker.core.decision import Reason
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, BatchResult, Essay, EssayResult
from cj_worker.db.states import BatchState, OutboxEventType
from cj_worker.tasks.base import Message, cj_task, database_url, log, send_after_commit


@cj_task(task_names.FINALIZE_SCORING)
def finalize_scoring(batch_id: str) -> str:
    with session_scope(database_url()) as session:
        outcome, messages = finish(session, uuid.UUID(batch_id), BatchState.COMPLETED)
    send_after_commit(messages)
    return outcome


@cj_task(task_names.FINALIZE_FAILURE)
def finalize_failure(batch_id: str) -> str:
    with session_scope(database_url()) as session:
        outcome, messages = finish(session, uuid.UUID(batch_id), BatchState.FAILED)
    send_after_commit(messages)
    return outcome


def finish(session: Session, batch_id: uuid.UUID, state: BatchState) -> tuple[str, list[Message]]:
    """Score (or fail) the batch inside the caller's transaction; a no-op once terminal."""
    batch = repositories.lock_batch(session, batch_id)
    if batch is None:
        return "unknown_batch", []
    if batch.state.is_terminal:
        return f"already_{batch.state}", []
    essays = repositories.load_essays(session, batch_id)
    history = repositories.load_history(session, batch_id, len(essays))
    counts = repositories.counters_from_rows(session, batch_id)
    settings = AlgorithmSettings.model_validate(batch.settings)
    reason = batch.final_reason or (
        Reason.LOW_SUCCESS_RATE if state is BatchState.FAILED else Reason.STABLE
    )
    now = utc_now()

    fit: BTFit | None = None
    if state is BatchState.COMPLETED:
        winners, losers = history.outcomes()
        fit = fit_bradley_terry(len(essays), winners, losers, settings.bt_prior_precision)
        wins = np.bincount(winners, minlength=len(essays))
        _store_essay_results(
            session, batch, essays, fit, history.appearances(history.succeeded), wins
        )

    summary: dict[str, Any] = {
        "batch_id": str(batch_id),
        "external_ref": batch.external_ref,
        "tenant": batch.tenant,
        "state": state.value,
        "stop_reason": str(reason),
        "essays": len(essays),
        "comparisons_made": counts.submitted,
        "comparisons_succeeded": counts.succeeded,
        "comparisons_failed": counts.failed,
        "waves": batch.current_wave,
        "ssr": None if fit is None else fit.ssr,
    }
    session.add(
        BatchResult(
            batch_id=batch_id,
            stop_reason=str(reason),
            state=state,
            comparisons_made=counts.submitted,
            comparisons_succeeded=counts.succeeded,
            comparisons_failed=counts.failed,
            waves=batch.current_wave,
            ssr=summary["ssr"],
            duration_seconds=(now - batch.created_at).total_seconds(),
            summary=summary,
        )
    )
    batch.state = state
    batch.final_reason = str(reason)
    batch.completed_at = now
    batch.last_activity_at = now
    messages: list[Message] = []
    if batch.result_task:
        event = (
            OutboxEventType.BATCH_COMPLETED
            if state is BatchState.COMPLETED
            else OutboxEventType.BATCH_FAILED
        )
        repositories.add_outbox_event(
            session,
            batch_id,
            event,
            batch.result_task,
            batch.result_queue or task_names.RESULTS_QUEUE,
            summary,
        )
        messages.append(Message(task_names.RELAY_OUTBOX, {}))
    log.info(
        "batch finalized",
        extra={"batch_id": str(batch_id), "state": state.value, "reason": str(reason)},
    )
    return state.value, messages


def _store_essay_results(
    session: Session,
    batch: Batch,
    essays: list[Essay],
    fit: BTFit,
    successes: np.ndarray[Any, np.dtype[np.int64]],
    wins: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    # Rank 1 is the best; equal scores are ordered by position so ranks are deterministic.
    order = np.lexsort((np.arange(len(essays)), -fit.scores))
    rank = np.empty(len(essays), dtype=np.int64)
    rank[order] = np.arange(1, len(essays) + 1)
    for essay in essays:
        i = essay.position
        essay.score = float(fit.scores[i])
        essay.standard_error = float(fit.standard_errors[i])
        essay.comparison_count = int(successes[i])
        session.add(
            EssayResult(
                batch_id=batch.id,
                essay_id=essay.id,
                rank=int(rank[i]),
                score=float(fit.scores[i]),
                standard_error=float(fit.standard_errors[i]),
                comparisons=int(successes[i]),
                wins=int(wins[i]),
                details={"is_anchor": essay.is_anchor, "grade": essay.grade},
            )
        )
