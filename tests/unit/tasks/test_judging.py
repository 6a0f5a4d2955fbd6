"""Judge requests as dispatches, and the simulated judge's bound on dying workers."""

from __future__ import annotations

import sqlalchemy as sa

from cj_worker import task_names
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Essay
from cj_worker.db.states import ComparisonRowStatus
from cj_worker.tasks.judging import (
    SIMULATED_WORKER_LOST_RETRIES,
    dispatches,
    judge_comparison,
    judge_requests,
)
from tests.builders.db import add_comparison, make_batch


def test_each_row_becomes_its_next_send_with_the_request_of_its_own_id(database_url: str) -> None:
    with session_scope(database_url) as session:
        batch = make_batch(session, 4)
        fresh = add_comparison(session, batch, 0, 1, status=ComparisonRowStatus.PENDING)
        resent = add_comparison(session, batch, 2, 3, status=ComparisonRowStatus.PENDING)
        resent.sends = 2
        session.flush()
        essays = list(
            session.scalars(
                sa.select(Essay).where(Essay.batch_id == batch.id).order_by(Essay.position)
            )
        )
        rows = [fresh, resent]
        built = dispatches(batch, essays, rows)
        requests = judge_requests(batch, essays, rows)

    assert [(d.comparison_id, d.sends) for d in built] == [(fresh.id, 0), (resent.id, 2)]
    assert [d.message for d in built] == requests
    assert [d.message.kwargs["request"]["comparison_id"] for d in built] == [
        str(fresh.id),
        str(resent.id),
    ]
    assert {d.message.task for d in built} == {task_names.JUDGE_COMPARISON}


def test_a_judgement_that_kills_its_worker_is_run_a_bounded_number_of_times() -> None:
    """A poison request ends in the sweep's re-send and time-out, not an endless loop."""
    assert getattr(judge_comparison, "retry_on_worker_lost", None) is True  # Celery 5.7
    assert judge_comparison.max_retries == SIMULATED_WORKER_LOST_RETRIES
    assert 0 < SIMULATED_WORKER_LOST_RETRIES < 5
