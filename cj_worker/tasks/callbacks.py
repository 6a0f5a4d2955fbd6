"""``cj.record_comparison_result``: store one judge's answer, exactly once.

The callback stores the answer's usage (tokens, latency, HTTP attempts, cost) on its row,
for the sums in ``status``, ``export`` and the result event.

An answer failed with an error no retry can cure (``FATAL_JUDGE_ERROR_CODES``: the
endpoint refused the API key, or the key is missing or not allowed) fails a collecting
batch at once: under the lock the callback logs a ``finalize_failure`` decision
(``judge_unauthorized``) after the current wave, moves the batch to ``scoring`` and sends
``cj.finalize_failure``, whose authority check finds that decision. The rest of the wave's
answers then arrive at a closed batch, instead of the batch spending its whole budget
on a key that cannot work.

A callback costs two statements whatever the size of its wave
(:mod:`cj_worker.db.repositories.answers`): a guarded update of its comparison (the
exactly-once rule: a redelivered answer finds the row answered and changes nothing) and
one increment of the batch's counters, which returns how many comparisons are still
pending. The batch row lock is held from that last statement to the commit, so a batch's
callbacks overlap everywhere but there. The callback that brings the count to zero
enqueues continuation (after commit). A redelivered callback changes nothing but still
re-sends that trigger if the wave is complete and undecided, in case the first delivery
died between commit and send; continuation ignores the spare.

Anyone who can reach the broker can send this task, so an answer is stored only if it
echoes the token issued with its request (:mod:`cj_worker.tokens`), checked before the
database is touched, and, if it names a batch, only for its own comparison's batch. A
refused answer changes nothing; it fails the task with :class:`ResultRefusedError` and is
counted (``cj_refused_messages_total`` and ``cj_callbacks_total{outcome="rejected"}``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cj_worker import metrics, task_names, tokens
from cj_worker.core.decision import Action, Reason
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.models import Batch
from cj_worker.db.states import BatchState, ComparisonRowStatus, Slot
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.payloads import FATAL_JUDGE_ERROR_CODES, ComparisonResult, PayloadError, parse
from cj_worker.tasks import unit_of_work
from cj_worker.tasks.base import cj_task, log
from cj_worker.tasks.messages import continue_batch_message, finalize_message
from cj_worker.tasks.outcomes import Outcome
from cj_worker.tasks.unit_of_work import Effects


class UnknownComparisonError(CJWorkerError, LookupError, exit_code=EXIT_USER_ERROR):
    """A result names a comparison this database never dispatched."""


class ResultRefusedError(CJWorkerError, PermissionError, exit_code=EXIT_USER_ERROR):
    """An answer without the authority to change its comparison (token, batch)."""

    def __init__(self, reason: Outcome, message: str) -> None:
        super().__init__(message)
        self.reason = reason


REJECTED = "rejected"
"""Metric outcome of an answer that was not stored (invalid, refused, or for no known
comparison)."""


@cj_task(task_names.RECORD_COMPARISON_RESULT)
def record_comparison_result(result: dict[str, object]) -> str:
    """Record ``result``; returns recorded / late_success / duplicate / batch_closed."""
    try:
        parsed = parse(ComparisonResult, result)
    except PayloadError:
        metrics.observe_callback(REJECTED, "invalid")
        raise
    try:
        authenticate(parsed)
        effects = unit_of_work.run(lambda session: record(session, parsed))
    except ResultRefusedError as refused:
        metrics.observe_callback(REJECTED, parsed.status)
        metrics.observe_refused(task_names.RECORD_COMPARISON_RESULT, refused.reason.value)
        log.warning(
            "result refused",
            extra={
                "comparison_id": str(parsed.comparison_id),
                "reason": refused.reason.value,
                "error": str(refused),
            },
        )
        raise
    except UnknownComparisonError:
        metrics.observe_callback(REJECTED, parsed.status)
        raise
    return effects.outcome.value


def authenticate(result: ComparisonResult) -> None:
    """Raise :class:`ResultRefusedError` unless ``result`` echoes its comparison's token."""
    if not tokens.verify(result.comparison_id, result.token):
        what = "is missing" if not result.token else "is not the one issued"
        raise ResultRefusedError(
            Outcome.UNAUTHENTICATED,
            f"result refused: token {what} for comparison {result.comparison_id}; a judge"
            " must echo the token of the request it answers",
        )


def record(session: Session, result: ComparisonResult) -> Effects:
    """The body of the callback inside the caller's transaction.

    Two statements on the common path (:mod:`cj_worker.db.repositories.answers`): the
    guarded update of the comparison, then the batch's counters, whose ``RETURNING`` says
    whether this answer completed the wave. A fatal judge error takes the locked path.
    """
    if _is_fatal(result):
        return _record_under_lock(session, result)
    applied = repositories.apply_answer(
        session,
        result.comparison_id,
        _answer_values(result),
        batch_id=result.batch_id,
        succeeded=result.status == "succeeded",
    )
    if applied is None:
        return _unchanged(session, result)
    tally = repositories.tally_answer(
        session, applied.batch_id, applied.before, _status_of(result), utc_now()
    )
    outcome = (
        Outcome.RECORDED if applied.before is ComparisonRowStatus.PENDING else Outcome.LATE_SUCCESS
    )
    effects = _answered(outcome, result)
    if (
        tally.state is BatchState.COLLECTING
        and tally.current_wave == applied.wave
        and tally.pending == 0
    ):
        effects.messages.append(continue_batch_message(applied.batch_id, applied.wave))
    return effects


def _unchanged(session: Session, result: ComparisonResult) -> Effects:
    """An answer that changed nothing: refused, after the batch ended, or a duplicate.

    A duplicate re-sends the continuation trigger if its wave is complete and undecided,
    in case the first delivery died between its commit and the send; continuation ignores
    the spare.
    """
    target = _target(session, result)
    if target.batch_state.is_terminal:
        log.info(
            "result after the batch ended; not counted",
            extra={"batch_id": str(target.batch_id), "comparison_id": str(result.comparison_id)},
        )
        return _answered(Outcome.BATCH_CLOSED, result)
    effects = _answered(Outcome.DUPLICATE, result)
    if (
        target.batch_state is BatchState.COLLECTING
        and target.current_wave == target.wave
        and target.pending == 0
        and not repositories.wave_decided(session, target.batch_id, target.wave)
    ):
        effects.messages.append(continue_batch_message(target.batch_id, target.wave))
    return effects


def _target(session: Session, result: ComparisonResult) -> repositories.AnswerTarget:
    """The comparison the answer names, or the refusal of an answer that names none."""
    target = repositories.answer_target(session, result.comparison_id)
    if target is None:
        raise UnknownComparisonError(f"comparison_id: no comparison {result.comparison_id}")
    if result.batch_id is not None and result.batch_id != target.batch_id:
        raise ResultRefusedError(
            Outcome.WRONG_BATCH,
            f"result refused: comparison {result.comparison_id} is not of batch {result.batch_id}",
        )
    return target


def _record_under_lock(session: Session, result: ComparisonResult) -> Effects:
    """A fatal judge error: store it under the batch lock and fail a collecting batch.

    Rare, so it takes the simple path: lock the batch, re-read the comparison, change both.
    """
    target = _target(session, result)
    batch = repositories.lock_batch(session, target.batch_id)
    comparison = repositories.reload_comparison(session, result.comparison_id)
    if batch is None or comparison is None:  # deleted between the two reads
        raise UnknownComparisonError(f"comparison_id: no comparison {result.comparison_id}")
    if batch.state.is_terminal:
        return _answered(Outcome.BATCH_CLOSED, result)
    outcome = Outcome.DUPLICATE
    if comparison.status is ComparisonRowStatus.PENDING:
        outcome = Outcome.RECORDED
        for name, value in _answer_values(result).items():
            setattr(comparison, name, value)
        repositories.count_comparisons(
            batch, ComparisonRowStatus.PENDING, ComparisonRowStatus.FAILED
        )
    batch.last_activity_at = utc_now()
    effects = _answered(outcome, result)
    if batch.state is BatchState.COLLECTING:
        return _fail_batch(session, batch, result, effects)
    return effects


def _is_fatal(result: ComparisonResult) -> bool:
    return result.status == "failed" and result.error_code in FATAL_JUDGE_ERROR_CODES


def _fail_batch(
    session: Session, batch: Batch, result: ComparisonResult, effects: Effects
) -> Effects:
    """Log the failure decision after the current wave and send ``cj.finalize_failure``.

    Under the batch lock. If the wave already has its decision (a continuation decided
    it), that decision stands and nothing more is done here.
    """
    action, reason = Action.FINALIZE_FAILURE, Reason.JUDGE_UNAUTHORIZED
    details = {
        "comparison_id": str(result.comparison_id),
        "judge_id": result.judge_id,
        "error_code": result.error_code,
    }
    if not repositories.record_decision(
        session, batch.id, batch.current_wave, action, reason, details
    ):
        return effects
    batch.state = BatchState.SCORING
    batch.final_reason = reason.value
    log.error(
        "judge cannot answer: failing the batch",
        extra={"batch_id": str(batch.id), "wave": batch.current_wave, **details},
    )
    effects.observations.append(metrics.DecisionTaken(action.value, reason.value))
    effects.messages.append(finalize_message(batch.id, failure=True))
    return effects


def _answered(outcome: Outcome, result: ComparisonResult) -> Effects:
    return Effects(outcome, observations=[metrics.CallbackAnswered(outcome.value, result.status)])


def _status_of(result: ComparisonResult) -> ComparisonRowStatus:
    return (
        ComparisonRowStatus.SUCCEEDED
        if result.status == "succeeded"
        else ComparisonRowStatus.FAILED
    )


def _answer_values(result: ComparisonResult) -> dict[str, Any]:
    """The comparison's columns an answer sets."""
    values: dict[str, Any] = {
        "status": _status_of(result),
        "winner": Slot(result.winner) if result.winner else None,
        "judge_id": result.judge_id,
        "confidence": result.confidence,
        "justification": result.justification,
        "error_code": result.error_code,
        "error_detail": result.error_detail,
        "completed_at": utc_now(),
    }
    usage = result.usage
    if usage is not None:
        values.update(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            latency_seconds=usage.latency_seconds,
            attempts=usage.attempts,
            cost=usage.cost,
        )
    return values
