"""``cj.create_batch``: a batch is stored whole or not at all, once, and then runs to its end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery

from cj_worker import metrics, task_names
from cj_worker.config import get_settings
from cj_worker.core.grade_scales import BUILT_IN_SCALES
from cj_worker.core.grading import ProjectionStatus
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Batch, BatchResultRow, Comparison, Essay
from cj_worker.db.repositories.reports import batch_status
from cj_worker.db.states import BatchState
from cj_worker.payloads import PayloadError
from cj_worker.tasks.base import CeleryTransport, Message, set_transport
from cj_worker.tasks.intake import BatchConflictError, create_batch
from tests.builders.tasks import (
    CommitRefusedError,
    batch_request,
    batch_results,
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
    "essay_scores": 0,
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


def _anchor_grade_outside_the_scale() -> dict[str, Any]:
    essays = essay_payloads(3)
    essays[1] |= {"is_anchor": True, "grade": "A+"}
    return {"essays": essays}


def _missing_true_score() -> dict[str, Any]:
    essays = essay_payloads(3)
    del essays[2]["true_score"]
    return {"essays": essays}


@pytest.mark.parametrize(
    ("essays", "budget", "overrides", "warned"),
    [
        (12, 1000, {"max_iterations": 3}, True),  # 3 waves of 6 pairs cannot spend 1000
        (40, 60, {}, True),  # 3 comparisons per essay: too few for a useful ranking
        (12, 60, {}, False),
    ],
    ids=["budget-beyond-the-caps", "too-few-per-essay", "sensible"],
)
def test_intake_says_when_the_budget_and_the_caps_disagree(
    database_url: str,
    sent: CapturingTransport,
    caplog: pytest.LogCaptureFixture,
    essays: int,
    budget: int,
    overrides: dict[str, Any],
    warned: bool,
) -> None:
    """The batch is stored either way (a budget is a ceiling); the log says why not all of
    it can be spent, or that it buys too few comparisons per essay."""
    caplog.set_level("WARNING", logger="cj_worker")
    batch_id = submit(batch_request(essays, budget=budget, settings=overrides))

    assert read_batch(database_url, uuid.UUID(batch_id)).total_budget == budget
    warnings = [r for r in caplog.records if r.getMessage().startswith("budget_warning")]
    assert bool(warnings) is warned
    assert all(getattr(r, "batch_id", None) == batch_id for r in warnings)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param(_duplicate_ids(), "duplicate essay id 'e00'", id="duplicate-essay-ids"),
        pytest.param({"settings": {"NOT_A_SETTING": 1}}, "not_a_setting", id="unknown-setting"),
        pytest.param({"settings": {"min_success_rate": 2}}, "min_success_rate", id="bad-setting"),
        pytest.param(_anchor_without_grade(), "essays.1", id="anchor-without-grade"),
        pytest.param(
            _anchor_grade_outside_the_scale(),
            "essays.1.grade: anchor 'e01' has grade 'A+', which is not in grade scale "
            "'swedish_8_anchor'",
            id="anchor-grade-outside-the-scale",
        ),
        pytest.param({"grade_scale": "ib_7"}, "grade_scale: ", id="unknown-grade-scale"),
        pytest.param(
            {"grade_scale": {"grades": ["pass", "pass"]}},
            "grade_scale.definition",
            id="duplicate-grade-labels",
        ),
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


@pytest.mark.parametrize(
    ("grade_scale", "stored"),
    [
        pytest.param(None, BUILT_IN_SCALES["swedish_8_anchor"].as_json(), id="default"),
        pytest.param(
            "eng5_np_national_9_step",
            BUILT_IN_SCALES["eng5_np_national_9_step"].as_json(),
            id="built-in",
        ),
        pytest.param(
            {"name": "pass-fail", "grades": ["fail", "pass"], "priors": [1, 3]},
            {"name": "pass-fail", "grades": ["fail", "pass"], "priors": [0.25, 0.75]},
            id="producer-defined",
        ),
    ],
)
def test_the_resolved_grade_scale_is_stored_with_the_batch(
    database_url: str,
    sent: CapturingTransport,
    grade_scale: str | dict[str, Any] | None,
    stored: dict[str, Any],
) -> None:
    fields = {} if grade_scale is None else {"grade_scale": grade_scale}
    batch_id = uuid.UUID(submit(batch_request(3, **fields)))

    assert read_batch(database_url, batch_id).grade_scale == stored


def test_a_failed_commit_leaves_neither_batch_nor_essays(
    database_url: str, sent: CapturingTransport
) -> None:
    with refused_commits(), pytest.raises(CommitRefusedError):
        submit(batch_request(4))

    assert row_counts(database_url) == NOTHING
    assert sent.messages == [], "nothing is sent for a transaction that did not commit"


def test_resubmitting_the_same_request_changes_nothing_and_returns_its_id(
    database_url: str, sent: CapturingTransport
) -> None:
    request = batch_request(4, tenant="school-1")
    batch_id = uuid.UUID(submit(request))
    before = read_batch(database_url, batch_id)
    counts = row_counts(database_url)
    sent.take()

    assert submit(dict(request)) == request["batch_id"]

    after = read_batch(database_url, batch_id)
    assert row_counts(database_url) == counts
    assert (after.total_budget, after.tenant, after.created_at) == (
        before.total_budget,
        before.tenant,
        before.created_at,
    )
    # Still undecided: the resubmission re-sends the wave-0 trigger the first one may have lost.
    assert sent.take() == [
        Message(task_names.CONTINUE_BATCH, {"batch_id": str(batch_id), "wave": 0})
    ]

    update_batch(database_url, batch_id, state=BatchState.COLLECTING, current_wave=1)
    submit(dict(request))
    assert sent.messages == [], "a batch that is under way gets no second trigger"
    assert row_counts(database_url) == counts


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"tenant": "school-2"}, id="another-tenant"),
        pytest.param({"tenant": None}, id="no-tenant"),
        pytest.param({"essays": essay_payloads(6)}, id="other-essays"),
        pytest.param({"budget": 99}, id="other-budget"),
        pytest.param({"settings": {"max_iterations": 2}}, id="other-settings"),
    ],
)
def test_the_same_batch_id_with_another_payload_or_tenant_is_a_conflict(
    database_url: str,
    sent: CapturingTransport,
    refusals: list[tuple[str, str]],
    change: dict[str, Any],
) -> None:
    request = batch_request(4, tenant="school-1")
    batch_id = uuid.UUID(submit(request))
    before = read_batch(database_url, batch_id)
    counts = row_counts(database_url)
    sent.take()

    with pytest.raises(BatchConflictError) as raised:
        submit({**request, **change, "result_task": "stranger.on_result"})

    assert str(raised.value) == (
        f"batch_id: batch {batch_id} already exists with another payload or tenant;"
        " resubmit the same request to retry it, or choose a new batch_id"
    )
    assert row_counts(database_url) == counts
    after = read_batch(database_url, batch_id)
    assert (after.tenant, after.total_budget, after.settings, after.request_fingerprint) == (
        before.tenant,
        before.total_budget,
        before.settings,
        before.request_fingerprint,
    )
    assert refusals == [(task_names.CREATE_BATCH, "conflict")]
    [event] = sent.take()
    assert (event.task, event.queue) == ("stranger.on_result", task_names.RESULTS_QUEUE)
    assert event.kwargs["event"]["type"] == "batch.rejected"
    assert event.kwargs["event"]["errors"] == [str(raised.value)]
    assert event.kwargs["event"]["tenant"] == ({"tenant": "school-1"} | change)["tenant"], (
        "the event echoes the refused request, never the stored batch"
    )


def test_a_batch_stored_before_fingerprints_is_resubmitted_by_its_id(
    database_url: str, sent: CapturingTransport
) -> None:
    request = batch_request(4)
    batch_id = uuid.UUID(submit(request))
    update_batch(database_url, batch_id, request_fingerprint=None)
    counts = row_counts(database_url)

    assert submit(batch_request(5, batch_id=request["batch_id"])) == request["batch_id"]
    assert row_counts(database_url) == counts


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Calls of ``metrics.observe_refused``, recorded instead of counted."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(metrics, "observe_refused", lambda *labels: calls.append(labels))
    return calls


# ------------------------------------------------------------------ the producer hears


def test_a_refused_request_tells_its_result_task_why(
    database_url: str, sent: CapturingTransport
) -> None:
    request = batch_request(
        3,
        budget="40",
        tenant="school-1",
        external_ref="class-7",
        result_task="producer.on_result",
        result_queue="producer.results",
    )

    with pytest.raises(PayloadError) as raised:
        submit(request)

    assert row_counts(database_url) == NOTHING
    [event] = sent.messages
    assert (event.task, event.queue) == ("producer.on_result", "producer.results")
    assert event.kwargs == {
        "event": {
            "type": "batch.rejected",
            "batch_id": request["batch_id"],
            "external_ref": "class-7",
            "tenant": "school-1",
            "errors": ["budget: Input should be a valid integer"],
        }
    }
    assert raised.value.problems == event.kwargs["event"]["errors"]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="no-result-task"),
        pytest.param({"result_task": "cj.create_batch"}, id="cj-result-task"),
        pytest.param({"result_task": "p.r", "result_queue": "cj.intake"}, id="cj-queue"),
        pytest.param({"result_task": 5}, id="result-task-not-a-string"),
        pytest.param({"result_task": "p." + "x" * 300}, id="result-task-too-long"),
        pytest.param({"result_task": "p.r", "result_queue": ["q"]}, id="queue-not-a-string"),
    ],
)
def test_a_refused_request_without_a_usable_result_task_sends_nothing(
    database_url: str, sent: CapturingTransport, fields: dict[str, Any]
) -> None:
    with pytest.raises(PayloadError):
        submit(batch_request(3, budget=0, **fields))
    assert sent.messages == []
    assert row_counts(database_url) == NOTHING


def test_a_request_that_is_not_an_object_is_refused_quietly(
    database_url: str, sent: CapturingTransport
) -> None:
    with pytest.raises(PayloadError, match=r"invalid BatchRequest: \(payload\)"):
        create_batch.delay(["producer.on_result"]).get()  # type: ignore[arg-type]
    assert sent.messages == []


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param({"budget": "40"}, "budget: Input should be a valid integer", id="budget"),
        pytest.param(
            {"essays": [{"id": "a", "text": "", "true_score": 0}]},
            "essays.0.text: String should have at least 1 character",
            id="empty-text",
        ),
        pytest.param(
            {"essays": [{"id": "a", "true_score": 0}]},
            "essays.0.text: Field required",
            id="no-text",
        ),
        pytest.param(
            {"judge": {"kind": "external", "task": "cj.create_batch"}},
            "own tasks",
            id="cj-judge",
        ),
        pytest.param({"result_task": "cj.sweep"}, "own tasks", id="cj-result-task"),
    ],
)
def test_what_a_careless_producer_sends_is_refused_at_intake(
    database_url: str, sent: CapturingTransport, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(PayloadError, match="invalid BatchRequest") as raised:
        submit(batch_request(3, **fields))
    assert named in str(raised.value)
    assert row_counts(database_url) == NOTHING
    assert sent.messages == []


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
    assert count(database_url, BatchResultRow, batch_id) == 1
    [(result, essay)] = essay_results(database_url, batch_id)
    assert (essay.external_id, result.rank, result.score) == ("e00", 1, 0.0)
    assert (result.grade, result.grade_probabilities, result.confidence) == (None, None, None)
    [summary] = batch_results(database_url, batch_id)
    assert summary.grade_projection is ProjectionStatus.NO_ANCHORS
    assert [(d.wave, d.reason) for d in decisions(database_url, batch_id)] == [
        (0, "insufficient_essays")
    ]
    assert count(database_url, Batch) == 1


def _anchors(grades: list[str]) -> list[dict[str, Any]]:
    essays = essay_payloads(len(grades))
    for essay, grade in zip(essays, grades, strict=True):
        essay |= {"is_anchor": True, "grade": grade}
    return essays


def test_a_single_anchor_ends_with_its_known_grade(
    database_url: str, lock_checked: LockCheckingTransport
) -> None:
    batch_id = uuid.UUID(submit(batch_request(1, essays=_anchors(["C"]))))

    assert read_batch(database_url, batch_id).final_reason == "insufficient_essays"
    [(result, _essay)] = essay_results(database_url, batch_id)
    assert (result.rank, result.score, result.grade, result.confidence) == (1, 0.0, "C", 1.0)
    [summary] = batch_results(database_url, batch_id)
    assert summary.grade_projection is ProjectionStatus.ONE_ANCHOR_GRADE
    assert summary.summary["grading"]["explanation"] == (
        ProjectionStatus.ONE_ANCHOR_GRADE.explanation
    )


def test_a_batch_of_only_anchors_completes_and_says_so(
    database_url: str, lock_checked: LockCheckingTransport
) -> None:
    grades = ["E", "E", "C", "C", "A", "A"]
    request = batch_request(6, essays=_anchors(grades), budget=30)
    batch_id = uuid.UUID(submit(request))

    assert read_batch(database_url, batch_id).state is BatchState.COMPLETED
    results = essay_results(database_url, batch_id)
    assert {essay.external_id: result.grade for result, essay in results} == {
        f"e{i:02d}": grade for i, grade in enumerate(grades)
    }
    assert all(result.confidence == 1.0 for result, _ in results)
    swedish = BUILT_IN_SCALES["swedish_8_anchor"].grades
    assert all(
        result.grade_probabilities == {g: float(g == result.grade) for g in swedish}
        for result, _ in results
    ), "an anchor's grade is known: probability 1"
    [summary] = batch_results(database_url, batch_id)
    assert summary.grade_projection is ProjectionStatus.ONLY_ANCHORS
    assert summary.summary["grading"]["calibration"]["anchor_counts"] == [0, 2, 0, 0, 2, 0, 0, 2]
