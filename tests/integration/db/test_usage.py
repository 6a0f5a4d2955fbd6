"""Usage sums: what a batch's answers cost, per batch and per judge, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from cj_worker.db.models import Batch, Comparison
from cj_worker.db.repositories.reports import batch_results, batch_status
from cj_worker.db.repositories.usage import UsageSums, batch_usage
from cj_worker.db.states import ComparisonRowStatus
from tests.builders.db import add_comparison, make_batch


def answered(
    session: Session,
    batch: Batch,
    pair: tuple[int, int],
    judge_id: str | None,
    *,
    prompt: int | None,
    completion: int | None,
    latency: float,
    attempts: int,
    cost: float | None,
    status: ComparisonRowStatus = ComparisonRowStatus.SUCCEEDED,
) -> Comparison:
    row = add_comparison(session, batch, *pair, status=status)
    row.judge_id = judge_id
    row.prompt_tokens, row.completion_tokens = prompt, completion
    row.latency_seconds, row.attempts, row.cost = latency, attempts, cost
    session.flush()
    return row


def test_a_batch_without_usage_reports_none(session: Session) -> None:
    batch = make_batch(session, 3)
    add_comparison(session, batch, 0, 1)

    assert batch_usage(session, batch.id) is None
    status = batch_status(session, batch.id)
    assert status is not None
    assert status.usage is None
    assert status.as_dict()["usage"] is None


def test_usage_is_summed_per_batch_and_per_judge(session: Session) -> None:
    batch = make_batch(session, 4)
    answered(
        session,
        batch,
        (0, 1),
        "llm:a",
        prompt=100,
        completion=10,
        latency=1.0,
        attempts=1,
        cost=0.5,
    )
    answered(
        session,
        batch,
        (1, 2),
        "llm:a",
        prompt=200,
        completion=20,
        latency=2.0,
        attempts=3,
        cost=0.25,
    )
    answered(
        session, batch, (2, 3), "llm:b", prompt=50, completion=5, latency=0.5, attempts=1, cost=None
    )
    answered(
        session,
        batch,
        (0, 3),
        "llm:b",
        prompt=None,
        completion=None,
        latency=0.0,
        attempts=2,
        cost=None,
        status=ComparisonRowStatus.FAILED,
    )
    add_comparison(session, batch, 0, 2, status=ComparisonRowStatus.PENDING)
    other = make_batch(session, 2)
    answered(
        session,
        other,
        (0, 1),
        "llm:a",
        prompt=9999,
        completion=1,
        latency=9.0,
        attempts=1,
        cost=9.0,
    )

    usage = batch_usage(session, batch.id)

    assert usage is not None
    assert usage.judges == {
        "llm:a": UsageSums(2, 300, 30, 3.0, 4, 0.75, 0),
        "llm:b": UsageSums(2, 50, 5, 0.5, 3, None, 2),
    }
    assert usage.total == UsageSums(4, 350, 35, 3.5, 7, 0.75, 2)
    assert usage.total.retries == 3
    as_json = usage.as_dict()
    assert as_json["total_tokens"] == 385
    assert as_json["mean_latency_seconds"] == pytest.approx(0.875)
    assert [judge["judge_id"] for judge in as_json["judges"]] == ["llm:a", "llm:b"]
    assert as_json["judges"][1]["cost"] is None, "an unpriced judge's cost is unknown, not 0"


def test_status_and_export_carry_the_usage_and_the_prompt_context(session: Session) -> None:
    batch = make_batch(session, 3)
    batch.judge = {
        "kind": "llm",
        "base_url": "http://127.0.0.1:11434/v1",
        "model": "m",
        "assignment": "Describe a river.",
        "rubric": "Vivid, accurate.",
    }
    answered(
        session, batch, (0, 1), "llm:m", prompt=10, completion=2, latency=0.1, attempts=1, cost=None
    )

    status = batch_status(session, batch.id)
    results = batch_results(session, batch.id)

    assert status is not None
    assert results is not None
    assert (status.judge_kind, status.assignment, status.rubric) == (
        "llm",
        "Describe a river.",
        "Vivid, accurate.",
    )
    assert status.as_dict()["usage"]["prompt_tokens"] == 10
    assert status.as_dict()["assignment"] == "Describe a river."
    assert results.as_dict()["usage"]["completion_tokens"] == 2
