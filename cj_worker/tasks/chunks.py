"""The body of ``cj.add_essays``: one chunk of a large batch joins it whole, or not at all.

A batch created with ``essay_count`` waits in ``created`` for the rest of its essays. Each
chunk is checked under the batch row lock against what is stored, then inserted in one
transaction:

- a redelivery (the very essays already stored at that offset) changes nothing;
- a chunk that names an unknown batch or another tenant's, a batch created whole or no
  longer waiting, runs past the declared count, overlaps stored essays with other content,
  repeats a stored essay id, or breaks the batch's own rules (an anchor's grade outside its
  scale, a simulated judge without ``true_score``) is refused with
  :class:`ChunkRefusedError` naming the field, and nothing of it is stored;
- the chunk that completes the batch checks the stored essays, in position order, against
  the declared ``essays_sha256``: if they match it triggers wave 0 (after commit, like
  intake); if not the batch fails (``essays_digest_mismatch``) without a comparison, because
  those are not the essays the producer sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cj_worker import metrics, task_names
from cj_worker.core.decision import Action, Reason
from cj_worker.core.grade_scales import GradeScale
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.models import Batch, Essay
from cj_worker.db.repositories import chunks
from cj_worker.db.states import BatchState
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.payloads import EssayChunk, EssayIn, check_essays
from cj_worker.tasks.base import Message, log
from cj_worker.tasks.messages import continue_batch_message, finalize_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.unit_of_work import Effects

UNKNOWN_BATCH = "unknown_batch"
"""Refusal reason of a chunk whose batch is not stored (or is another tenant's)."""
CONFLICT = "conflict"
"""Refusal reason of a chunk that contradicts its batch (``cj_refused_messages_total``)."""


@dataclass(frozen=True)
class Producer:
    """Where the producer of a waiting batch hears that one of its chunks was refused."""

    result_task: str
    result_queue: str
    external_ref: str | None


class ChunkRefusedError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """A chunk that cannot join its batch; ``str()`` is ``"field: what is wrong"``.

    ``reason`` is the metric's (None for a chunk that breaks the batch's rules, which is
    invalid rather than a conflict); ``producer`` is set when the batch waits for chunks
    and names a result task, which then hears of the refusal.
    """

    def __init__(
        self, problem: str, *, reason: str | None = CONFLICT, producer: Producer | None = None
    ) -> None:
        super().__init__(problem)
        self.problems = [problem]
        self.reason = reason
        self.producer = producer


def store_chunk(session: Session, chunk: EssayChunk) -> Effects:
    """Add ``chunk`` to its batch inside the caller's transaction, under the batch lock."""
    batch = repositories.lock_batch(session, chunk.batch_id)
    if batch is None or batch.tenant != chunk.tenant:
        # Another tenant's batch reads exactly like a missing one: an id proves nothing.
        tenant = "" if chunk.tenant is None else f" of tenant {chunk.tenant!r}"
        raise ChunkRefusedError(
            f"batch_id: no batch {chunk.batch_id}{tenant}", reason=UNKNOWN_BATCH
        )
    producer = producer_of(batch)
    expected = batch.essays_expected
    if expected is None:
        raise ChunkRefusedError(
            f"batch_id: batch {batch.id} was submitted whole (no essay_count): it takes no chunks"
        )
    stop = chunk.offset + len(chunk.essays)
    if stop > expected:
        raise ChunkRefusedError(
            f"offset: essays at positions {chunk.offset} to {stop - 1} run past the batch's"
            f" essay_count of {expected} (positions 0 to {expected - 1})",
            producer=producer,
        )
    stored = chunks.essays_between(session, batch.id, chunk.offset, stop)
    if stored:
        if _same_essays(stored, chunk.essays):
            return _redelivered(session, batch)
        raise ChunkRefusedError(
            f"offset: positions {chunk.offset} to {stop - 1} overlap {len(stored)} essays"
            f" already stored with other content (positions {stored[0].position} to"
            f" {stored[-1].position}); send each position once, or the same chunk again",
            producer=producer,
        )
    if batch.state is not BatchState.CREATED:
        raise ChunkRefusedError(
            f"batch_id: batch {batch.id} is {batch.state.value}: it takes no more essays"
        )
    _check_against(session, batch, chunk, producer)
    before = chunks.stored_essay_count(session, batch.id)
    session.add_all(
        Essay(
            batch_id=batch.id,
            external_id=essay.id,
            position=chunk.offset + index,
            text=essay.text,
            is_anchor=essay.is_anchor,
            grade=essay.grade,
            true_score=essay.true_score,
        )
        for index, essay in enumerate(chunk.essays)
    )
    batch.last_activity_at = utc_now()
    arrived = before + len(chunk.essays)
    log.info(
        "essays stored",
        extra={
            "batch_id": str(batch.id),
            "offset": chunk.offset,
            "essays": len(chunk.essays),
            "stored": arrived,
            "expected": expected,
        },
    )
    if arrived < expected:
        return Effects(Outcome.CHUNK_STORED)
    session.flush()
    return _complete(session, batch)


def producer_of(batch: Batch) -> Producer | None:
    """The producer to tell about a refused chunk: only of a batch still waiting for chunks."""
    if batch.result_task is None or batch.state is not BatchState.CREATED:
        return None
    queue = batch.result_queue or task_names.RESULTS_QUEUE
    return Producer(batch.result_task, queue, batch.external_ref)


def _same_essays(stored: list[Essay], essays: list[EssayIn]) -> bool:
    """Whether the stored rows are exactly these essays, position by position."""
    return len(stored) == len(essays) and all(
        (row.external_id, row.text, row.is_anchor, row.grade, row.true_score)
        == (essay.id, essay.text, essay.is_anchor, essay.grade, essay.true_score)
        for row, essay in zip(stored, essays, strict=True)
    )


def _redelivered(session: Session, batch: Batch) -> Effects:
    """A chunk stored before: nothing changes; a complete, undecided batch is re-triggered
    (the first delivery may have died between its commit and the trigger)."""
    log.info("essay chunk already stored; nothing changed", extra={"batch_id": str(batch.id)})
    complete = not chunks.awaits_essays(session, batch)
    undecided = batch.state is BatchState.CREATED and complete
    return Effects(Outcome.DUPLICATE, [continue_batch_message(batch.id, 0)] if undecided else [])


def _check_against(
    session: Session, batch: Batch, chunk: EssayChunk, producer: Producer | None
) -> None:
    """Refuse essays whose ids the batch holds, or that break the batch's own rules."""
    taken = chunks.positions_of(session, batch.id, (essay.id for essay in chunk.essays))
    for index, essay in enumerate(chunk.essays):
        if essay.id in taken:
            raise ChunkRefusedError(
                f"essays.{index}.id: essay id {essay.id!r} is already stored at position"
                f" {taken[essay.id]}",
                producer=producer,
            )
    scale = GradeScale.from_json(batch.grade_scale)
    try:
        check_essays(
            chunk.essays,
            grades=scale.grades,
            scale_name=scale.name,
            simulated=_judge_kind(batch) == "simulated",
        )
    except ValueError as error:
        raise ChunkRefusedError(str(error), reason=None, producer=producer) from None


def _judge_kind(batch: Batch) -> str | None:
    kind = batch.judge.get("kind") if isinstance(batch.judge, dict) else None
    return kind if isinstance(kind, str) else None


def _complete(session: Session, batch: Batch) -> Effects:
    """Every essay arrived: start the batch if they are the declared ones, else fail it."""
    digest = chunks.stored_essays_sha256(session, batch.id)
    if digest == batch.essays_sha256:
        log.info(
            "batch essays complete",
            extra={"batch_id": str(batch.id), "essays": batch.essays_expected},
        )
        return Effects(Outcome.ESSAYS_COMPLETE, [continue_batch_message(batch.id, 0)])
    details = {"declared": batch.essays_sha256, "stored": digest}
    messages, observations = fail_intake(session, batch, Reason.ESSAYS_DIGEST_MISMATCH, details)
    return Effects(Reason.ESSAYS_DIGEST_MISMATCH, messages, observations)


def fail_intake(
    session: Session, batch: Batch, reason: Reason, details: dict[str, Any]
) -> tuple[list[Message], list[metrics.Observation]]:
    """Fail a batch that never started: its decision after wave 0, then finalize_failure.

    Under the batch lock, like every decision: the log gets one row for wave 0 (the reason
    and ``details``), the batch goes to ``scoring`` with its final reason, and
    ``cj.finalize_failure`` (sent after commit) writes the failed result and the producer's
    ``batch.failed`` event. If wave 0 already has its decision, that one stands.
    """
    action = Action.FINALIZE_FAILURE
    if not repositories.record_decision(
        session, batch.id, batch.current_wave, action.value, reason.value, details
    ):
        return [], []
    batch.state = BatchState.SCORING
    batch.final_reason = reason.value
    batch.last_activity_at = utc_now()
    log.error(
        "batch failed at intake",
        extra={"batch_id": str(batch.id), "reason": reason.value, **details},
    )
    return (
        [finalize_message(batch.id, failure=True)],
        [metrics.DecisionTaken(action.value, reason.value)],
    )
