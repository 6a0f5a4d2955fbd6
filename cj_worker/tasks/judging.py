"""Sending comparisons to judges, and the built-in simulated judge task.

An external judge is a Celery task that receives ``request`` (a :class:`ComparisonRequest`
as JSON: the two texts, never essay ids or anchor status) and answers by sending
``cj.record_comparison_result`` with ``result`` (a :class:`ComparisonResult`). The built-in
judges receive a :class:`JudgeTicket` instead, a few hundred bytes whatever the essays'
length: the simulated judge needs only the true scores, and the LLM judge reads the texts
from the database when it runs, so a million pending requests do not hold a million pairs
of essays in the broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from cj_worker import task_names
from cj_worker.db import repositories
from cj_worker.db.models import Batch
from cj_worker.judges import simulated
from cj_worker.payloads import (
    ComparisonRequest,
    ComparisonResult,
    ExternalJudge,
    JudgeSpec,
    JudgeTicket,
    LlmJudge,
    SimulatedJudge,
    TicketBundle,
    parse,
)
from cj_worker.tasks.base import Message, cj_task, send
from cj_worker.tasks.dispatch import Dispatch, Send
from cj_worker.tokens import token_for

SIMULATED_WORKER_LOST_RETRIES = 2
"""Runs of a simulated judgement after the first whose worker process died, before the
request is dropped: a request that kills its process every time is poison, and the sweep's
re-sends and time-out end it instead of an endless loop of dying workers."""

_JUDGE_SPEC: TypeAdapter[SimulatedJudge | ExternalJudge | LlmJudge] = TypeAdapter(JudgeSpec)


def judge_spec(batch: Batch) -> SimulatedJudge | ExternalJudge | LlmJudge:
    return _JUDGE_SPEC.validate_python(batch.judge)


@dataclass(frozen=True)
class Outgoing:
    """A comparison row whose judge request is to be sent: the fields a request needs."""

    comparison_id: uuid.UUID
    essay_a: int
    essay_b: int
    sends: int
    """Sends already counted (see :class:`~cj_worker.tasks.dispatch.Dispatch`)."""


TICKETS_PER_MESSAGE = 16
"""Comparisons per message to the simulated judge. Celery's envelope (headers, properties,
base64 body) costs about 900 bytes whatever the payload; sharing it among 16 tickets
keeps a pending simulated request near 250 bytes of broker memory. A bundle is judged in
one task run, so it adds no latency worth counting to a judge that answers at once."""


def dispatches(session: Session, batch: Batch, rows: Sequence[Outgoing]) -> list[Dispatch]:
    """The messages that send ``rows`` to the batch's judge, each with the sends it carries.

    Built-in judges get :class:`JudgeTicket` s (ids, token, and for the simulated judge the
    two true scores), the simulated judge in bundles; an external judge gets the texts of
    the essays, read for the rows' essays only. What monitoring shows of a message
    (``kwargsrepr``) names its comparisons, never a text or a token.
    """
    spec = judge_spec(batch)
    if isinstance(spec, SimulatedJudge):
        truth = repositories.true_scores(session, batch.id, _positions(rows))
        judge = spec.model_dump(mode="json", exclude_defaults=True)
        return [
            _dispatch(
                bundle,
                task_names.JUDGE_COMPARISON,
                {
                    "tickets": [
                        _ticket(
                            batch, row, (truth.get(row.essay_a, 0.0), truth.get(row.essay_b, 0.0))
                        )
                        for row in bundle
                    ],
                    "judge": judge,
                },
            )
            for bundle in _bundles(rows)
        ]
    if isinstance(spec, LlmJudge):
        return [
            _dispatch([row], task_names.LLM_JUDGE_COMPARISON, {"ticket": _ticket(batch, row, None)})
            for row in rows
        ]
    texts = repositories.essay_texts(session, batch.id, _positions(rows))
    return [
        _dispatch(
            [row],
            spec.task,
            {
                "request": ComparisonRequest.json_of(
                    row.comparison_id,
                    batch.id,
                    token_for(row.comparison_id),
                    texts[row.essay_a],
                    texts[row.essay_b],
                )
            },
            queue=spec.queue,
        )
        for row in rows
    ]


def _dispatch(
    rows: Sequence[Outgoing], task: str, kwargs: dict[str, Any], queue: str | None = None
) -> Dispatch:
    """One message carrying ``rows``: their sends, and a repr that shows their ids only."""
    sends = tuple(Send(row.comparison_id, row.sends) for row in rows)
    return Dispatch(sends, Message(task, kwargs, queue=queue, kwargsrepr=_shown(rows)))


def _bundles(rows: Sequence[Outgoing]) -> list[list[Outgoing]]:
    """First sends in bundles of :data:`TICKETS_PER_MESSAGE`; every re-send on its own.

    A request re-sent is one whose message was lost or whose judge never answered, maybe
    because it kills the process that judges it. Alone in its message, such a poison
    request times out by itself instead of taking its bundle's neighbours with it.
    """
    bundles: list[list[Outgoing]] = []
    for row in rows:
        last = bundles[-1] if bundles else None
        if row.sends == 0 and last and last[0].sends == 0 and len(last) < TICKETS_PER_MESSAGE:
            last.append(row)
        else:
            bundles.append([row])
    return bundles


def _ticket(batch: Batch, row: Outgoing, simulation: tuple[float, float] | None) -> dict[str, Any]:
    ticket = JudgeTicket(
        comparison_id=row.comparison_id,
        batch_id=batch.id,
        token=token_for(row.comparison_id),
        simulation=simulation,
    )
    return ticket.model_dump(mode="json", exclude_none=True)


def _shown(rows: Sequence[Outgoing]) -> str:
    """What Flower, task events and logs show of a judge message: its comparison ids."""
    if len(rows) == 1:
        return f"{{'comparison_id': '{rows[0].comparison_id}'}}"
    return f"{{'comparisons': {len(rows)}, 'first': '{rows[0].comparison_id}'}}"


def _positions(rows: Sequence[Outgoing]) -> set[int]:
    return {position for row in rows for position in (row.essay_a, row.essay_b)}


@cj_task(task_names.JUDGE_COMPARISON, max_retries=SIMULATED_WORKER_LOST_RETRIES)
def judge_comparison(tickets: list[dict[str, Any]], judge: dict[str, Any]) -> str:
    """The simulated judge: answer each ticket from its true scores and call back."""
    spec = parse(SimulatedJudge, judge)
    bundle = parse(TicketBundle, {"tickets": tickets})
    send([result_message(result) for result in answer_tickets(spec, bundle.tickets)])
    return f"answered {len(bundle.tickets)}"


def answer_tickets(spec: SimulatedJudge, tickets: list[JudgeTicket]) -> list[ComparisonResult]:
    """The simulated judge's answers to one message's tickets."""
    return [simulated_answer(spec, ticket) for ticket in tickets]


def simulated_answer(spec: SimulatedJudge, ticket: JudgeTicket) -> ComparisonResult:
    """The simulated judge's answer to one ticket (reproducible from its comparison id)."""
    score_a, score_b = ticket.simulation or (0.0, 0.0)
    answer = simulated.judge(spec, ticket.comparison_id, score_a, score_b)
    return ComparisonResult(
        comparison_id=ticket.comparison_id,
        token=ticket.token,
        status="succeeded" if answer.succeeded else "failed",
        winner=answer.winner,
        judge_id=f"simulated:{spec.seed}",
        confidence=abs(answer.probability_a - 0.5) * 2 if answer.succeeded else None,
        error_code=None if answer.succeeded else "simulated_error",
    )


def result_message(result: ComparisonResult) -> Message:
    """A built-in judge's answer to ``cj.record_comparison_result``."""
    return Message(
        task_names.RECORD_COMPARISON_RESULT,
        {"result": result.model_dump(mode="json")},
        kwargsrepr=f"{{'comparison_id': '{result.comparison_id}', 'status': '{result.status}'}}",
    )
