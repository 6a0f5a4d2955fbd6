"""Sending comparisons to judges, and the built-in simulated judge task.

A judge is a Celery task that receives ``request`` (a :class:`ComparisonRequest` as JSON)
and answers by sending ``cj.record_comparison_result`` with ``result`` (a
:class:`ComparisonResult`). Judges see essay texts only, never ids or anchor status.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from cj_worker import task_names
from cj_worker.db.models import Batch, Comparison, Essay
from cj_worker.judges import simulated
from cj_worker.payloads import (
    ComparisonRequest,
    ComparisonResult,
    EssayView,
    ExternalJudge,
    JudgeSpec,
    LlmJudge,
    SimulatedJudge,
    parse,
)
from cj_worker.tasks.base import Message, cj_task, send
from cj_worker.tasks.dispatch import Dispatch
from cj_worker.tokens import token_for

SIMULATED_WORKER_LOST_RETRIES = 2
"""Runs of a simulated judgement after the first whose worker process died, before the
request is dropped: a request that kills its process every time is poison, and the sweep's
re-sends and time-out end it instead of an endless loop of dying workers."""

_JUDGE_SPEC: TypeAdapter[SimulatedJudge | ExternalJudge | LlmJudge] = TypeAdapter(JudgeSpec)


def judge_spec(batch: Batch) -> SimulatedJudge | ExternalJudge | LlmJudge:
    return _JUDGE_SPEC.validate_python(batch.judge)


def judge_requests(batch: Batch, essays: list[Essay], rows: list[Comparison]) -> list[Message]:
    """One message per comparison, to the batch's judge."""
    spec = judge_spec(batch)
    by_position = {essay.position: essay for essay in essays}
    messages = []
    for row in rows:
        essay_a, essay_b = by_position[row.essay_a], by_position[row.essay_b]
        request = ComparisonRequest(
            comparison_id=row.id,
            batch_id=batch.id,
            token=token_for(row.id),
            essay_a=EssayView(text=essay_a.text),
            essay_b=EssayView(text=essay_b.text),
            simulation=(
                (float(essay_a.true_score or 0.0), float(essay_b.true_score or 0.0))
                if isinstance(spec, SimulatedJudge)
                else None
            ),
        )
        kwargs: dict[str, Any] = {"request": request.model_dump(mode="json")}
        if isinstance(spec, SimulatedJudge):
            kwargs["judge"] = spec.model_dump(mode="json")
            messages.append(Message(task_names.JUDGE_COMPARISON, kwargs))
        elif isinstance(spec, LlmJudge):
            kwargs["judge"] = spec.model_dump(mode="json")
            messages.append(Message(task_names.LLM_JUDGE_COMPARISON, kwargs))
        else:
            messages.append(Message(spec.task, kwargs, queue=spec.queue))
    return messages


def dispatches(batch: Batch, essays: list[Essay], rows: list[Comparison]) -> list[Dispatch]:
    """The judge request of each row, as the next send of the row (see ``tasks.dispatch``)."""
    return [
        Dispatch(row.id, row.sends or 0, message)
        for row, message in zip(rows, judge_requests(batch, essays, rows), strict=True)
    ]


@cj_task(task_names.JUDGE_COMPARISON, max_retries=SIMULATED_WORKER_LOST_RETRIES)
def judge_comparison(request: dict[str, Any], judge: dict[str, Any]) -> str:
    """The simulated judge: answer from the true scores and call back."""
    parsed = parse(ComparisonRequest, request)
    spec = parse(SimulatedJudge, judge)
    score_a, score_b = parsed.simulation or (0.0, 0.0)
    answer = simulated.judge(spec, parsed.comparison_id, score_a, score_b)
    result = ComparisonResult(
        comparison_id=parsed.comparison_id,
        token=parsed.token,
        status="succeeded" if answer.succeeded else "failed",
        winner=answer.winner,
        judge_id=f"simulated:{spec.seed}",
        confidence=abs(answer.probability_a - 0.5) * 2 if answer.succeeded else None,
        error_code=None if answer.succeeded else "simulated_error",
    )
    send(
        [
            Message(
                parsed.callback_task,
                {"result": result.model_dump(mode="json")},
                queue=parsed.callback_queue,
            )
        ]
    )
    return result.status
