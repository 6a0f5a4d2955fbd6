"""Queries and writes the task shells need, as plain functions taking a ``Session``.

The functions never commit: the caller owns the transaction (and, where the docstring says
so, the batch row lock), so a decision, its metadata and its outbox event commit together.
Every SQL statement of the package lives in these modules; the task shells only call them.
"""

from cj_worker.db.repositories.answers import (
    AnswerTarget,
    AppliedAnswer,
    Tally,
    answer_target,
    apply_answer,
    tally_answer,
)
from cj_worker.db.repositories.batches import (
    EssayRef,
    bound_lock_wait,
    count_comparisons,
    get_batch,
    idle_batches,
    insert_batch,
    load_essays,
    lock_batch,
)
from cj_worker.db.repositories.comparisons import (
    RowCounts,
    counters_from_rows,
    get_coverage_metrics_for_batch,
    insert_comparisons,
    load_history,
    load_judgements,
    mark_sent,
    reload_comparison,
    requests_due,
    time_out_comparisons,
    wave_has_pending,
)
from cj_worker.db.repositories.decisions import record_decision, wave_awaits_decision, wave_decided
from cj_worker.db.repositories.essays import (
    JudgeMaterial,
    essay_count,
    essay_texts,
    judge_material,
    load_scores,
    store_scores,
    true_scores,
)
from cj_worker.db.repositories.outbox import (
    add_outbox_event,
    mark_outbox_sent,
    pending_outbox,
    record_outbox_failure,
)
from cj_worker.db.repositories.results import (
    ScoredEssay,
    essay_result_of,
    store_batch_result,
    store_essay_results,
)

__all__ = [
    "AnswerTarget",
    "AppliedAnswer",
    "EssayRef",
    "JudgeMaterial",
    "RowCounts",
    "ScoredEssay",
    "Tally",
    "add_outbox_event",
    "answer_target",
    "apply_answer",
    "bound_lock_wait",
    "count_comparisons",
    "counters_from_rows",
    "essay_count",
    "essay_result_of",
    "essay_texts",
    "get_batch",
    "get_coverage_metrics_for_batch",
    "idle_batches",
    "insert_batch",
    "insert_comparisons",
    "judge_material",
    "load_essays",
    "load_history",
    "load_judgements",
    "load_scores",
    "lock_batch",
    "mark_outbox_sent",
    "mark_sent",
    "pending_outbox",
    "record_decision",
    "record_outbox_failure",
    "reload_comparison",
    "requests_due",
    "store_batch_result",
    "store_essay_results",
    "store_scores",
    "tally_answer",
    "time_out_comparisons",
    "true_scores",
    "wave_awaits_decision",
    "wave_decided",
    "wave_has_pending",
]
