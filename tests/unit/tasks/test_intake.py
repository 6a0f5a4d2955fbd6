"""``cj.create_batch``: a batch is stored whole or not at all, once, and then runs to its end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery

from cj_worker import task_names
from cj_worker.config import AlgorithmSettings, get_settings
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, BatchResult, Comparison, Essay
from cj_worker.db.repositories.reports import batch_status
from cj_worker.db.states import BatchState
from cj_worker.payloads import PayloadError
from cj_worker.tasks.base import CeleryTransport, Message, set_transport
from cj_worker.tasks.intake import create_batch
from tests.unit.tasks.builders import (
    CommitRefusedError,
    batch_request,
    comparisons,
    count,
    decisions,
    essay_payloads,
    essay_results,
    read_batch,
    refused_commits,
    row_counts,
    update_batch,
)
from tests.unit.tasks.transports import CapturingTransport, LockCheckingTransport

NOTHING = {
    "batches": 0,
    "essays": 0,
    "comparisons": 0,
    "decisions": 0,
    "essay_results": 0,
    "batch_results": 0,
    "outbox": 0,
}


def submit(request: dict[str, Any]) -> str:
    result: str = create_batch.delay(request).get()
    return result


def test_stores_the_batch_its_essays_and_settings_and_then_triggers_wave_0(
    database_url: str, sent: CapturingTransport
) -> None:
    request = batch_request(
        5, settings={"MAX_ITERATIONS": 7}, tenant="tenant-1", external_ref="ref-1"
    )
    batch_id = uuid.UUID(submit(request))

    assert str(batch_id) == request["batch_id"]
    batch = read_batch(database_url, batch_id)
    assert batch.state is BatchState.CREATED
    assert (batch.tenant, batch.external_ref, batch.total_budget) == ("tenant-1", "ref-1", 40)
    expected_settings = AlgorithmSettings(max_iterations=7).model_dump(mode="json")
    assert batch.settings == expected_settings
    assert batch.judge["kind"] == "simulated"
    assert batch.judge["seed"] == 3
    assert batch.seed == batch_id.int % 2**63
    assert batch.current_wave == 0
    assert batch.processing_metadata == {}
    with session_scope(database_url) as session:
        stored = list(
            session.scalars(
                sa.select(Essay).where(Essay.batch_id == batch_id).order_by(Essay.position)
            )
        )
    assert [(e.external_id, e.position, e.text) for e in stored] == [
        (essay["id"], i, essay["text"]) for i, essay in enumerate(request["essays"])
    ]
    assert [e.true_score for e in stored] == [essay["true_score"] for essay in request["essays"]]
    assert sent.messages == [
        Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": 0})
    ]


def test_budget_and_seed_come_from_the_effective_settings(
    database_url: str, sent: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CJ_MAX_PAIRWISE_COMPARISONS", "77")
    monkeypatch.setenv("CJ_MIN_SUCCESS_RATE", "0.6")
    get_settings.cache_clear()
    defaults = submit(batch_request(3, budget=None))
    overridden = submit(
        batch_request(3, budget=None, settings={"max_pairwise_comparisons": 55, "pair_seed": 42})
    )

    first = read_batch(database_url, uuid.UUID(defaults))
    assert first.total_budget == 77, "the environment's default budget"
    assert first.settings["min_success_rate"] == 0.6, "the snapshot holds the env defaults"
    second = read_batch(database_url, uuid.UUID(overridden))
    assert (second.total_budget, second.seed) == (55, 42)
    assert second.settings["min_success_rate"] == 0.6


def _duplicate_ids() -> dict[str, Any]:
    essays = essay_payloads(3)
    essays[2]["id"] = essays[0]["id"]
    return {"essays": essays}


def _anchor_without_grade() -> dict[str, Any]:
    essays = essay_payloads(3)
    essays[1]["is_anchor"] = True
    return {"essays": essays}


def _missing_true_score() -> dict[str, Any]:
    essays = essay_payloads(3)
    del essays[2]["true_score"]
    return {"essays": essays}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param(_duplicate_ids(), "duplicate essay id 'e00'", id="duplicate-essay-ids"),
        pytest.param({"settings": {"NOT_A_SETTING": 1}}, "not_a_setting", id="unknown-setting"),
        pytest.param({"settings": {"min_success_rate": 2}}, "min_success_rate", id="bad-setting"),
        pytest.param(_anchor_without_grade(), "essays.1", id="anchor-without-grade"),
        pytest.param(_missing_true_score(), "true_score", id="simulated-judge-needs-true-score"),
        pytest.param({"budget": 0}, "budget", id="budget-0"),
        pytest.param({"judge": {"kind": "oracle"}}, "judge", id="unknown-judge"),
        pytest.param({"essays": []}, "essays", id="no-essays"),
    ],
)
def test_a_bad_payload_raises_naming_the_field_and_writes_nothing(
    database_url: str, sent: CapturingTransport, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(PayloadError, match="invalid BatchRequest") as raised:
        submit(batch_request(3, **fields))

    assert named in str(raised.value)
    assert "\n" not in str(raised.value)
    assert row_counts(database_url) == NOTHING
    assert sent.messages == []


def test_a_failed_commit_leaves_neither_batch_nor_essays(
    database_url: str, sent: CapturingTransport
) -> None:
    with refused_commits(), pytest.raises(CommitRefusedError):
        submit(batch_request(4))

    assert row_counts(database_url) == NOTHING
    assert sent.messages == [], "nothing is sent for a transaction that did not commit"


def test_resubmitting_the_same_batch_id_changes_nothing(
    database_url: str, sent: CapturingTransport
) -> None:
    request = batch_request(4)
    batch_id = uuid.UUID(submit(request))
    before = read_batch(database_url, batch_id)
    counts = row_counts(database_url)
    sent.take()

    changed = batch_request(
        6, batch_id=request["batch_id"], budget=99, tenant="other", settings={"max_iterations": 2}
    )
    assert submit(changed) == request["batch_id"]

    after = read_batch(database_url, batch_id)
    assert row_counts(database_url) == counts
    assert (after.total_budget, after.tenant, after.settings, after.created_at) == (
        before.total_budget,
        before.tenant,
        before.settings,
        before.created_at,
    )
    assert count(database_url, Essay, batch_id) == 4
    # Still undecided: the resubmission re-sends the wave-0 trigger the first one may have lost.
    assert sent.take() == [
        Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": 0})
    ]

    update_batch(database_url, batch_id, state=BatchState.COLLECTING, current_wave=1)
    submit(changed)
    assert sent.messages == [], "a batch that is under way gets no second trigger"
    assert row_counts(database_url) == counts


@pytest.fixture
def lock_checked(eager_app: Celery, migrated_sqlite_file: Path) -> Iterator[LockCheckingTransport]:
    """The real Celery transport (inline in eager mode), watched for sends under a lock."""
    transport = LockCheckingTransport(migrated_sqlite_file, CeleryTransport())
    previous = set_transport(transport)
    try:
        yield transport
    finally:
        set_transport(previous)


@pytest.mark.timeout(60)
def test_a_small_batch_runs_to_completion_in_eager_mode(
    database_url: str, lock_checked: LockCheckingTransport
) -> None:
    request = batch_request(
        6,
        budget=60,
        judge={"kind": "simulated", "discrimination": 100.0, "seed": 1},
        settings={"pair_seed": 5},
    )
    batch_id = uuid.UUID(submit(request))

    assert lock_checked.sent_under_lock == [], "a message was sent inside a transaction"
    assert lock_checked.sent > 10
    with session_scope(database_url) as session:
        status = batch_status(session, batch_id)
    assert status is not None
    assert status.state == "completed"
    assert status.final_reason in ("stable", "small_net_resampling_cap", "budget_exhausted")
    assert status.pending == 0
    assert status.submitted <= 60
    batch = read_batch(database_url, batch_id)
    rows = comparisons(database_url, batch_id)
    assert batch.comparisons_submitted == len(rows) == status.submitted
    assert batch.comparisons_succeeded == status.succeeded == len(rows)
    assert batch.processing_metadata["unique_coverage_complete"] is True
    assert [d.wave for d in decisions(database_url, batch_id)] == list(
        range(batch.current_wave + 1)
    )
    results = essay_results(database_url, batch_id)
    # discrimination 100 on true scores one logit apart: the better essay always wins.
    assert [essay.external_id for _, essay in results] == [f"e{i:02d}" for i in range(5, -1, -1)]
    assert [result.rank for result, _ in results] == [1, 2, 3, 4, 5, 6]


def test_a_single_essay_ends_with_insufficient_essays_and_one_result(
    database_url: str, lock_checked: LockCheckingTransport
) -> None:
    batch_id = uuid.UUID(submit(batch_request(1)))

    batch = read_batch(database_url, batch_id)
    assert batch.state is BatchState.COMPLETED
    assert batch.final_reason == "insufficient_essays"
    assert count(database_url, Comparison, batch_id) == 0
    assert count(database_url, BatchResult, batch_id) == 1
    [(result, essay)] = essay_results(database_url, batch_id)
    assert (essay.external_id, result.rank, result.score) == ("e00", 1, 0.0)
    assert result.details["grade"] is None
    assert [(d.wave, d.reason) for d in decisions(database_url, batch_id)] == [
        (0, "insufficient_essays")
    ]
    assert count(database_url, Batch) == 1
