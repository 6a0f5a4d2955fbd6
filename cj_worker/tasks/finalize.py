"""``cj.finalize_scoring`` and ``cj.finalize_failure``: end a batch exactly once.

Both compute the results in a read-only transaction first (:func:`finalize`), then lock
the batch, return if it is already terminal, and write the results, the terminal state and
the result event (outbox) in one transaction; the outbox relay is nudged after commit.
What the results are is :mod:`cj_worker.tasks.results`' business.

Both are internal, but anyone who can reach the broker can send them by name. So the
message is never the authority to end a batch: under the lock, the batch must be in
``scoring`` and its recorded decision must call for this finalization (the decision logged
after its current wave, or the sweep's ``stalled`` verdict, which calls for a failure).
Anything else (a forged ``cj.finalize_scoring`` for a running batch, a ``finalize_failure``
for a batch decided stable) changes nothing, and is logged and counted
(``cj_refused_messages_total``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.core.decision import Action, Reason
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch
from cj_worker.db.repositories.authority import decision_after
from cj_worker.db.states import BatchState, OutboxEventType
from cj_worker.payloads import batch_id_of
from cj_worker.tasks import unit_of_work
from cj_worker.tasks.base import cj_task, database_url, log
from cj_worker.tasks.messages import relay_outbox_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.results import FinalResults, final_results
from cj_worker.tasks.unit_of_work import Effects

_EVENT = {
    BatchState.COMPLETED: OutboxEventType.BATCH_COMPLETED,
    BatchState.FAILED: OutboxEventType.BATCH_FAILED,
}
_TASK = {
    BatchState.COMPLETED: task_names.FINALIZE_SCORING,
    BatchState.FAILED: task_names.FINALIZE_FAILURE,
}
_ENDS_IN = {
    Action.FINALIZE_SCORING.value: BatchState.COMPLETED,
    Action.FINALIZE_FAILURE.value: BatchState.FAILED,
}
"""The final state each finalizing decision calls for."""


@cj_task(task_names.FINALIZE_SCORING)
def finalize_scoring(batch_id: str) -> str:
    return finalize(batch_id_of(batch_id), BatchState.COMPLETED).outcome.value


@cj_task(task_names.FINALIZE_FAILURE)
def finalize_failure(batch_id: str) -> str:
    return finalize(batch_id_of(batch_id), BatchState.FAILED).outcome.value


def finalize(batch_id: uuid.UUID, state: BatchState) -> Effects:
    """Compute the results without the lock, then store them under it.

    The fit, split-half, misfit and grade statistics of a large batch take seconds; under
    the batch lock they would stall every callback and sweep of the batch meanwhile. They
    are computed in a read-only transaction first; the locked transaction then stores them
    if the batch's counters show that no answer arrived in between, and recomputes (rarely,
    a late answer) otherwise.
    """
    with session_scope(database_url()) as session:
        prepared = prepare(session, batch_id, state)
    return unit_of_work.run(lambda s: finish(s, batch_id, state, prepared))


@dataclass(frozen=True)
class Snapshot:
    """What results depend on that an answer or a decision can change."""

    state: BatchState
    current_wave: int
    final_reason: str | None
    counts: tuple[int, int, int]

    @classmethod
    def of(cls, batch: Batch) -> Snapshot:
        counts = (
            batch.comparisons_submitted,
            batch.comparisons_succeeded,
            batch.comparisons_failed,
        )
        return cls(batch.state, batch.current_wave, batch.final_reason, counts)


@dataclass(frozen=True)
class Prepared:
    """Results computed without the lock, valid while the batch still matches ``snapshot``."""

    snapshot: Snapshot
    results: FinalResults


def prepare(session: Session, batch_id: uuid.UUID, state: BatchState) -> Prepared | None:
    """The results of a batch in ``scoring``, read without a lock; None for any other."""
    batch = repositories.get_batch(session, batch_id)
    if batch is None or batch.state is not BatchState.SCORING:
        return None
    snapshot = Snapshot.of(batch)
    return Prepared(snapshot, final_results(session, batch, state, utc_now()))


def finish(
    session: Session, batch_id: uuid.UUID, state: BatchState, prepared: Prepared | None = None
) -> Effects:
    """Score (or fail) the batch inside the caller's transaction; a no-op once terminal.

    ``prepared`` results are stored if the batch has not changed since they were computed;
    otherwise they are computed here, under the lock.
    """
    batch = repositories.lock_batch(session, batch_id)
    if batch is None:
        return Effects(Outcome.UNKNOWN_BATCH)
    if batch.state.is_terminal:
        return Effects(Outcome.already(batch.state))
    called_for = decided_end(session, batch)
    if called_for is not state:
        log.warning(
            "finalization refused: the batch's decision does not call for it",
            extra={
                "batch_id": str(batch_id),
                "task": _TASK[state],
                "batch_state": batch.state.value,
                "wave": batch.current_wave,
                "decided": called_for.value if called_for else None,
            },
        )
        return Effects(
            Outcome.NOT_DECIDED,
            observations=[metrics.Refused(_TASK[state], Outcome.NOT_DECIDED.value)],
        )
    now = utc_now()
    if prepared is not None and prepared.snapshot == Snapshot.of(batch):
        results = prepared.results
    else:
        results = final_results(session, batch, state, now)
    repositories.store_essay_results(session, batch_id, results.essays)
    repositories.store_batch_result(
        session,
        batch_id,
        state=state,
        stop_reason=results.reason,
        counts=results.counts,
        waves=batch.current_wave,
        reliability=results.reliability,
        grade_projection=results.grade_projection,
        duration_seconds=results.duration_seconds,
        summary=results.summary,
    )
    batch.state = state
    batch.final_reason = results.reason
    batch.completed_at = batch.last_activity_at = now
    effects = Effects(
        Outcome.finalized(state),
        observations=[
            metrics.BatchFinalized(state.value, results.duration_seconds, results.summary["ssr"])
        ],
    )
    if batch.result_task:
        repositories.add_outbox_event(
            session,
            batch_id,
            _EVENT[state],
            batch.result_task,
            batch.result_queue or task_names.RESULTS_QUEUE,
            results.event_payload(),
        )
        effects.messages.append(relay_outbox_message())
    log.info(
        "batch finalized",
        extra={"batch_id": str(batch_id), "state": state.value, "reason": results.reason},
    )
    return effects


def decided_end(session: Session, batch: Batch) -> BatchState | None:
    """The final state the batch's records call for; None while none does.

    Call it under the batch lock. A batch in ``scoring`` was put there by the decision
    logged after its current wave (continuation), or failed as ``stalled`` by the sweep
    (which, for a batch already scoring, logs no second decision for the wave).
    """
    if batch.state is not BatchState.SCORING:
        return None
    if batch.final_reason == Reason.STALLED.value:
        return BatchState.FAILED
    decision = decision_after(session, batch.id, batch.current_wave)
    return None if decision is None else _ENDS_IN.get(decision.action)
