"""Stable task and queue names: the contract between producers, judges and workers.

Producers enqueue by these names (``app.send_task(CREATE_BATCH, ...)``), so they never
change; the modules that implement them may move.
"""

from typing import Final

CREATE_BATCH: Final = "cj.create_batch"
ADD_ESSAYS: Final = "cj.add_essays"
JUDGE_COMPARISON: Final = "cj.judge_comparison"
LLM_JUDGE_COMPARISON: Final = "cj.llm_judge_comparison"
RECORD_COMPARISON_RESULT: Final = "cj.record_comparison_result"
CONTINUE_BATCH: Final = "cj.continue_batch"
FINALIZE_SCORING: Final = "cj.finalize_scoring"
FINALIZE_FAILURE: Final = "cj.finalize_failure"
RELAY_OUTBOX: Final = "cj.relay_outbox"
SWEEP: Final = "cj.sweep"

INTAKE_QUEUE: Final = "cj.intake"
CALLBACKS_QUEUE: Final = "cj.callbacks"
CONTROL_QUEUE: Final = "cj.control"
JUDGE_QUEUE: Final = "cj.judge"

QUEUES: Final = (INTAKE_QUEUE, CALLBACKS_QUEUE, CONTROL_QUEUE, JUDGE_QUEUE)
"""The queues cj workers consume."""

RESULTS_QUEUE: Final = "cj.results"
"""Default queue of result events: the producer's workers consume it, cj workers never do
(a worker discards task names it does not know)."""
EXTERNAL_JUDGE_QUEUE: Final = "cj.judge.external"
"""Default queue of requests to an external judge; likewise never consumed by cj workers."""

ROUTES: Final = {
    CREATE_BATCH: INTAKE_QUEUE,
    ADD_ESSAYS: INTAKE_QUEUE,
    RECORD_COMPARISON_RESULT: CALLBACKS_QUEUE,
    CONTINUE_BATCH: CONTROL_QUEUE,
    FINALIZE_SCORING: CONTROL_QUEUE,
    FINALIZE_FAILURE: CONTROL_QUEUE,
    RELAY_OUTBOX: CONTROL_QUEUE,
    SWEEP: CONTROL_QUEUE,
    JUDGE_COMPARISON: JUDGE_QUEUE,
    LLM_JUDGE_COMPARISON: JUDGE_QUEUE,
}
"""Queue of every task of this package."""
