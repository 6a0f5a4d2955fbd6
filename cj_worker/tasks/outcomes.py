"""What a task body did, as one enum instead of strings spelled in each module.

The values are the strings the tasks returned (and logs and tests read) before the enum
existed, so a task's return value, a log line and a metric label still say ``"duplicate"``
or ``"stale_wave"``. A continuation that decided returns the core's ``Reason`` instead:
the decision's reason is its outcome.
"""

from __future__ import annotations

import enum

from cj_worker.db.states import BatchState


class Outcome(enum.StrEnum):
    """The outcome of one task body."""

    # Any task that names a batch.
    UNKNOWN_BATCH = "unknown_batch"
    DUPLICATE = "duplicate"
    """A redelivery or a second answer: the first one stands and nothing changed."""

    # cj.create_batch
    CREATED = "created"

    # cj.add_essays (and a chunked cj.create_batch)
    CHUNK_STORED = "chunk_stored"
    """Essays stored; the batch still waits for others."""
    ESSAYS_COMPLETE = "essays_complete"
    """The chunk that completed the batch: digest verified, wave 0 triggered."""
    AWAITING_ESSAYS = "awaiting_essays"
    """A continuation (or sweep) of a chunked batch whose essays have not all arrived."""
    INTAKE_EXPIRED = "intake_expired"
    """The sweep failed a chunked batch whose essays stopped arriving (``intake_incomplete``)."""

    # cj.record_comparison_result
    RECORDED = "recorded"
    LATE_SUCCESS = "late_success"
    """A success for a comparison the sweep had timed out: moved to succeeded."""
    BATCH_CLOSED = "batch_closed"
    """An answer after the batch ended; not counted."""

    # cj.continue_batch
    STALE_WAVE = "stale_wave"
    IGNORED_SCORING = "ignored_scoring"
    IGNORED_COMPLETED = "ignored_completed"
    IGNORED_FAILED = "ignored_failed"
    IGNORED_CANCELLED = "ignored_cancelled"
    COVERAGE_REGRESSION = "coverage_regression"
    """Fewer covered pairs in the rows than persisted: rows were lost; nothing decided."""

    # cj.finalize_scoring / cj.finalize_failure
    COMPLETED = "completed"
    FAILED = "failed"
    ALREADY_COMPLETED = "already_completed"
    ALREADY_FAILED = "already_failed"
    ALREADY_CANCELLED = "already_cancelled"

    # Refusals: a well-formed message that would change a batch without authority.
    NOT_DECIDED = "not_decided"
    """A finalization that the batch's recorded decision does not call for."""
    UNAUTHENTICATED = "unauthenticated"
    """A result without the token issued for its comparison."""
    WRONG_BATCH = "wrong_batch"
    """A result that names another batch than its comparison's."""

    # cj.sweep, per batch
    LEFT_ALONE = "left_alone"
    TIMED_OUT = "timed_out"
    """Comparisons timed out; no trigger was due."""
    RESENT = "resent"
    """Judge requests sent again (or for the first time, if their dispatch was lost)."""
    RETRIGGERED = "retriggered"
    STALLED = "stalled"

    @classmethod
    def ignored_in(cls, state: BatchState) -> Outcome:
        """A continuation for a batch no longer waiting for one (``ignored_<state>``)."""
        return cls(f"ignored_{state.value}")

    @classmethod
    def already(cls, state: BatchState) -> Outcome:
        """A finalization of a batch that already ended (``already_<state>``)."""
        return cls(f"already_{state.value}")

    @classmethod
    def finalized(cls, state: BatchState) -> Outcome:
        """A finalization that ended the batch in ``state`` (completed or failed)."""
        return cls(state.value)
