"""Queries and writes the task shells need, as plain functions taking a ``Session``.

The functions never commit: the caller owns the transaction (and, where the docstring says
so, the batch row lock), so a decision, its metadata and its outbox event commit together.
"""

from cj_worker.db.repositories.batches import load_essays, lock_batch
from cj_worker.db.repositories.comparisons import (
    RowCounts,
    counters_from_rows,
    get_coverage_metrics_for_batch,
    load_history,
    load_judgements,
)
from cj_worker.db.repositories.decisions import record_decision
from cj_worker.db.repositories.outbox import (
    add_outbox_event,
    mark_outbox_sent,
    pending_outbox,
    record_outbox_failure,
)

__all__ = [
    "RowCounts",
    "add_outbox_event",
    "counters_from_rows",
    "get_coverage_metrics_for_batch",
    "load_essays",
    "load_history",
    "load_judgements",
    "lock_batch",
    "mark_outbox_sent",
    "pending_outbox",
    "record_decision",
    "record_outbox_failure",
]
