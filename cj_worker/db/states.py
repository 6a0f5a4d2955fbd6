"""The string values stored in state-like columns.

They are plain strings in the database (portable, readable in ``psql``) and ``StrEnum``
members in Python, so a typo is a type error and the check constraints are built from the
same values as the code that writes them.
"""

from __future__ import annotations

import enum

from cj_worker.core.pairing import PairGenerationMode as GenerationMode

__all__ = [
    "LIVE_STATES",
    "BatchState",
    "ComparisonRowStatus",
    "GenerationMode",
    "OutboxEventType",
    "Slot",
]


class BatchState(enum.StrEnum):
    """Life cycle of a batch (SPEC section 6)."""

    CREATED = "created"
    COLLECTING = "collecting"
    SCORING = "scoring"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Terminal states never change again, so every writer must check this under lock."""
        return self in _TERMINAL


_TERMINAL = frozenset({BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED})
LIVE_STATES = (BatchState.CREATED, BatchState.COLLECTING, BatchState.SCORING)
"""States of a batch that has not finished: the sweep and the backlog gauges watch these."""


class ComparisonRowStatus(enum.StrEnum):
    """Status of a comparison row; ``timed_out`` is set by the sweep and counts as failed."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class Slot(enum.StrEnum):
    """The slot of the winning essay."""

    A = "A"
    B = "B"


class OutboxEventType(enum.StrEnum):
    """The result events a batch publishes, at most one of each."""

    BATCH_COMPLETED = "batch.completed"
    BATCH_FAILED = "batch.failed"
