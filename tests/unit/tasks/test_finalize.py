"""``cj.finalize_scoring`` / ``cj.finalize_failure`` end a batch once; ``cj.relay_outbox``
delivers its result event."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from celery import Celery
from scipy.special import expit

from cj_worker import metrics, task_names
from cj_worker.core.grade_scales import BUILT_IN_SCALES
from cj_worker.core.grading import ProjectionStatus
from cj_worker.db.engine import session_scope
from cj_worker.db.models import (
    Batch,
    BatchResultRow,
    Comparison,
    DecisionRow,
    Essay,
    EssayResultRow,
    OutboxEvent,
)
from cj_worker.db.repositories import reports
from cj_worker.db.states import BatchState, OutboxEventType, Slot
from cj_worker.payloads import PayloadError
from cj_worker.tasks.base import Message, set_transport
from cj_worker.tasks.continuation import continue_batch
from cj_worker.tasks.finalize import finalize_failure, finalize_scoring
from cj_worker.tasks.outbox import relay_outbox
from tests.builders.tasks import (
    FAILED,
    PENDING,
    CommitRefusedError,
    Row,
    SeededBatch,
    all_pairs,
    batch_results,
    count,
    essay_results,
    outbox,
    read_batch,
    refused_commits,
    row_counts,
    seed_batch,
    update_batch,
)
from tests.unit.tasks.transports import CapturingTransport, LockCheckingTransport

RESULT_TASK = "producer.cj_result"

Prepare = Callable[[str, str | None], SeededBatch]
Finish = Callable[[uuid.UUID], str]


def scoring(batch_id: uuid.UUID) -> str:
    outcome: str = finalize_scoring.delay(str(batch_id)).get()
    return outcome


def failure(batch_id: uuid.UUID) -> str:
    outcome: str = finalize_failure.delay(str(batch_id)).get()
    return outcome


def relay() -> int:
    sent: int = relay_outbox.delay().get()
    return sent


def ready_to_score(url: str, result_task: str | None = None) -> SeededBatch:
    """Five essays, every pair judged once, the lower position always winning."""
    return seed_batch(
        url,
        5,
        all_pairs(5),
        state=BatchState.SCORING,
        final_reason="stable",
        result_task=result_task,
    )


def ready_to_fail(url: str, result_task: str | None = None) -> SeededBatch:
    rows = [Row(0, 1), Row(1, 2, FAILED), Row(2, 3, FAILED), Row(3, 4, FAILED)]
    return seed_batch(
        url,
        5,
        rows,
        state=BatchState.SCORING,
        final_reason="low_success_rate",
        result_task=result_task,
    )


def test_scoring_ranks_every_essay_and_completes_the_batch(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_score(database_url)

    assert scoring(batch.id) == "completed"

    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.final_reason) == (BatchState.COMPLETED, "stable")
    assert stored.completed_at is not None
    results = essay_results(database_url, batch.id)
    assert [result.rank for result, _ in results] == [1, 2, 3, 4, 5]
    assert [essay.position for _, essay in results] == [0, 1, 2, 3, 4], "0 beat everyone"
    scores = [result.score for result, _ in results]
    assert scores == sorted(scores, reverse=True)
    assert abs(sum(scores)) < 1e-6, "mean-centred logits"
    assert all(result.standard_error > 0 for result, _ in results)
    assert [result.wins for result, _ in results] == [4, 3, 2, 1, 0]
    assert all(result.comparisons == 4 for result, _ in results)
    [summary] = batch_results(database_url, batch.id)
    assert (summary.state, summary.stop_reason, summary.waves) == (
        BatchState.COMPLETED,
        "stable",
        1,
    )
    assert (summary.comparisons_made, summary.comparisons_succeeded) == (10, 10)
    assert summary.ssr is not None
    assert outbox(database_url, batch.id) == [], "no result_task, no event"
    assert sent.messages == []


def test_failure_stores_no_ranking_and_fails_the_batch(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_fail(database_url)

    assert failure(batch.id) == "failed"

    stored = read_batch(database_url, batch.id)
    assert (stored.state, stored.final_reason) == (BatchState.FAILED, "low_success_rate")
    assert count(database_url, EssayResultRow, batch.id) == 0
    [summary] = batch_results(database_url, batch.id)
    assert (summary.state, summary.stop_reason) == (BatchState.FAILED, "low_success_rate")
    assert (summary.comparisons_made, summary.comparisons_failed) == (4, 3)
    assert summary.ssr is None
    assert sent.messages == []


@pytest.mark.parametrize(
    ("prepare", "first", "second"),
    [
        pytest.param(ready_to_score, scoring, scoring, id="scoring-twice"),
        pytest.param(ready_to_score, scoring, failure, id="failure-after-scoring"),
        pytest.param(ready_to_fail, failure, failure, id="failure-twice"),
        pytest.param(ready_to_fail, failure, scoring, id="scoring-after-failure"),
    ],
)
def test_finalizing_twice_changes_nothing(
    database_url: str,
    sent: CapturingTransport,
    prepare: Prepare,
    first: Finish,
    second: Finish,
) -> None:
    batch = prepare(database_url, RESULT_TASK)
    state = first(batch.id)
    before = row_counts(database_url), read_batch(database_url, batch.id).completed_at
    sent.take()

    assert second(batch.id) == f"already_{state}"

    assert (row_counts(database_url), read_batch(database_url, batch.id).completed_at) == before
    assert len(outbox(database_url, batch.id)) == 1
    assert sent.messages == []


def test_an_unknown_batch_is_not_finalized(database_url: str, sent: CapturingTransport) -> None:
    assert scoring(uuid.uuid4()) == "unknown_batch"
    assert failure(uuid.uuid4()) == "unknown_batch"
    assert sent.messages == []


@pytest.mark.parametrize(
    ("prepare", "finish", "event_type"),
    [
        pytest.param(ready_to_score, scoring, OutboxEventType.BATCH_COMPLETED, id="completed"),
        pytest.param(ready_to_fail, failure, OutboxEventType.BATCH_FAILED, id="failed"),
    ],
)
def test_the_result_event_is_written_with_the_results(
    database_url: str,
    sent: CapturingTransport,
    prepare: Prepare,
    finish: Finish,
    event_type: OutboxEventType,
) -> None:
    batch = prepare(database_url, RESULT_TASK)

    state = finish(batch.id)

    [event] = outbox(database_url, batch.id)
    assert (event.event_type, event.task_name, event.sent_at) == (event_type, RESULT_TASK, None)
    [summary] = batch_results(database_url, batch.id)
    assert event.payload == {**summary.summary, "results": event.payload["results"]}
    assert event.payload["state"] == state
    assert event.payload["batch_id"] == str(batch.id)
    rows = essay_results(database_url, batch.id)
    assert event.payload["results"] == [
        {
            "id": essay.external_id,
            "rank": result.rank,
            "score": result.score,
            "se": result.standard_error,
            "comparisons": result.comparisons,
            "wins": result.wins,
            "is_anchor": essay.is_anchor,
            "grade": result.grade,
            "grade_probabilities": result.grade_probabilities,
            "confidence": result.confidence,
            "projected_grade": result.details.get("projected_grade"),
            "infit": result.infit,
            "outfit": result.outfit,
            "misfit": result.misfit,
        }
        for result, essay in rows
    ], "one entry per essay, in rank order (none for a failed batch)"
    assert sent.messages == [Message(task_names.RELAY_OUTBOX, {})], "the relay is nudged"


def test_the_failure_event_carries_the_reason_and_the_actual_counts(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_fail(database_url, RESULT_TASK)

    failure(batch.id)

    [event] = outbox(database_url, batch.id)
    payload = event.payload
    assert (payload["state"], payload["stop_reason"]) == ("failed", "low_success_rate")
    assert (
        payload["comparisons_made"],
        payload["comparisons_succeeded"],
        payload["comparisons_failed"],
        payload["waves"],
    ) == (4, 1, 3, 1), "the rows, not an n-choose-2 estimate (10)"
    assert payload["results"] == []
    assert payload["ssr"] is None
    assert payload["grading"]["status"] is None


@pytest.mark.parametrize(
    ("prepare", "finish", "state"),
    [
        pytest.param(ready_to_score, scoring, "completed", id="completed"),
        pytest.param(ready_to_fail, failure, "failed", id="failed"),
    ],
)
def test_results_state_and_event_commit_together(
    database_url: str,
    sent: CapturingTransport,
    finalized: list[tuple[str, float, float | None]],
    prepare: Prepare,
    finish: Finish,
    state: str,
) -> None:
    batch = prepare(database_url, RESULT_TASK)
    before = row_counts(database_url)

    with refused_commits(), pytest.raises(CommitRefusedError):
        finish(batch.id)

    assert row_counts(database_url) == before, "no results, no event"
    assert read_batch(database_url, batch.id).state is BatchState.SCORING
    assert sent.messages == []
    assert finalized == [], "a finalization that did not commit is not measured"
    assert finish(batch.id) == state, "the retry finds the batch as it was"
    assert len(outbox(database_url, batch.id)) == 1


# --------------------------------------------------------- forged internal messages


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Calls of ``metrics.observe_refused``, recorded instead of counted."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(metrics, "observe_refused", lambda *labels: calls.append(labels))
    return calls


def running(url: str, result_task: str | None = None) -> SeededBatch:
    """A batch collecting wave 1, one answer of two in: nothing decided it should end."""
    return seed_batch(url, 4, [Row(0, 1), Row(2, 3, PENDING)], result_task=result_task)


def decided(action: str, reason: str) -> Prepare:
    """A scoring batch whose decision after wave 1 is ``action`` (for ``reason``)."""

    def prepare(url: str, result_task: str | None) -> SeededBatch:
        batch = seed_batch(
            url,
            5,
            all_pairs(5),
            state=BatchState.SCORING,
            final_reason=reason,
            result_task=result_task,
        )
        set_decision(url, batch.id, action, reason)
        return batch

    return prepare


def set_decision(url: str, batch_id: uuid.UUID, action: str | None, reason: str = "") -> None:
    """Rewrite (None: delete) the decision logged after wave 1."""
    after_wave_1 = (DecisionRow.batch_id == batch_id) & (DecisionRow.wave == 1)
    with session_scope(url) as session:
        if action is None:
            session.execute(sa.delete(DecisionRow).where(after_wave_1))
        else:
            session.execute(
                sa.update(DecisionRow).where(after_wave_1).values(action=action, reason=reason)
            )


def _scoring_without_a_decision(url: str, result_task: str | None) -> SeededBatch:
    batch = ready_to_score(url, result_task)
    set_decision(url, batch.id, None)
    return batch


def _stalled_in_scoring(url: str, result_task: str | None) -> SeededBatch:
    batch = decided("finalize_scoring", "stable")(url, result_task)
    update_batch(url, batch.id, final_reason="stalled")
    return batch


@pytest.mark.parametrize(
    ("prepare", "forged"),
    [
        pytest.param(running, scoring, id="scoring-a-running-batch"),
        pytest.param(running, failure, id="failing-a-running-batch"),
        pytest.param(
            lambda url, task: seed_batch(url, 4, state=BatchState.CREATED, wave=0),
            scoring,
            id="scoring-a-new-batch",
        ),
        pytest.param(decided("finalize_scoring", "stable"), failure, id="failing-a-stable-one"),
        pytest.param(
            decided("finalize_failure", "low_success_rate"), scoring, id="scoring-a-failing-one"
        ),
        pytest.param(
            decided("request_coverage_wave", "coverage_incomplete"),
            scoring,
            id="decision-said-continue",
        ),
        pytest.param(_scoring_without_a_decision, scoring, id="scoring-without-a-decision"),
        pytest.param(_stalled_in_scoring, scoring, id="scoring-a-stalled-batch"),
    ],
)
def test_a_finalization_no_decision_called_for_changes_nothing(
    database_url: str,
    sent: CapturingTransport,
    refusals: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
    prepare: Prepare,
    forged: Finish,
) -> None:
    batch = prepare(database_url, RESULT_TASK)
    before = row_counts(database_url), read_batch(database_url, batch.id)

    assert forged(batch.id) == "not_decided"

    after = row_counts(database_url), read_batch(database_url, batch.id)
    assert after[0] == before[0], "no results, no outbox event"
    assert (after[1].state, after[1].final_reason, after[1].completed_at) == (
        before[1].state,
        before[1].final_reason,
        None,
    )
    task = task_names.FINALIZE_SCORING if forged is scoring else task_names.FINALIZE_FAILURE
    assert refusals == [(task, "not_decided")]
    assert "finalization refused: the batch's decision does not call for it" in caplog.text
    assert sent.messages == []


@pytest.mark.parametrize(
    ("prepare", "finish", "state"),
    [
        pytest.param(decided("finalize_scoring", "stable"), scoring, "completed", id="stable"),
        pytest.param(
            decided("finalize_scoring", "budget_exhausted"), scoring, "completed", id="budget"
        ),
        pytest.param(
            decided("finalize_failure", "low_success_rate"), failure, "failed", id="failure"
        ),
        pytest.param(_stalled_in_scoring, failure, "failed", id="stalled-by-the-sweep"),
    ],
)
def test_the_finalization_the_decision_called_for_runs(
    database_url: str,
    sent: CapturingTransport,
    refusals: list[tuple[str, str]],
    prepare: Prepare,
    finish: Finish,
    state: str,
) -> None:
    batch = prepare(database_url, None)
    assert finish(batch.id) == state
    assert refusals == []


@pytest.mark.parametrize("value", ["not-a-uuid", "", 42])
def test_a_finalization_for_something_that_is_not_a_batch_id_is_refused(
    database_url: str, sent: CapturingTransport, value: object
) -> None:
    for task in (finalize_scoring, finalize_failure):
        with pytest.raises(PayloadError, match="invalid arguments: batch_id: not a UUID"):
            task.delay(value).get()  # type: ignore[arg-type]
    assert row_counts(database_url)["batches"] == 0


def test_a_continuation_for_a_wave_still_in_flight_is_a_no_op(
    database_url: str, sent: CapturingTransport
) -> None:
    """``cj.continue_batch`` needs no guard of its own: a forged one finds the wave open."""
    batch = running(database_url)
    before = row_counts(database_url), read_batch(database_url, batch.id)

    assert continue_batch.delay(str(batch.id), 1).get() == "wave_in_flight"
    assert continue_batch.delay(str(batch.id), 7).get() == "stale_wave"

    after = row_counts(database_url), read_batch(database_url, batch.id)
    assert after[0] == before[0]
    assert (after[1].state, after[1].current_wave) == (before[1].state, before[1].current_wave)
    assert sent.messages == []


@pytest.fixture
def finalized(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, float | None]]:
    """Calls of ``metrics.observe_finalized``, recorded instead of observed."""
    calls: list[tuple[str, float, float | None]] = []

    def record(state: str, duration: float, ssr: float | None) -> None:
        calls.append((state, duration, ssr))

    monkeypatch.setattr(metrics, "observe_finalized", record)
    return calls


@pytest.mark.parametrize(
    ("prepare", "finish"),
    [
        pytest.param(ready_to_score, scoring, id="completed"),
        pytest.param(ready_to_fail, failure, id="failed"),
    ],
)
def test_a_committed_finalization_is_measured_once(
    database_url: str,
    sent: CapturingTransport,
    finalized: list[tuple[str, float, float | None]],
    prepare: Prepare,
    finish: Finish,
) -> None:
    batch = prepare(database_url, None)
    state = finish(batch.id)
    finish(batch.id)

    [summary] = batch_results(database_url, batch.id)
    assert finalized == [(state, summary.duration_seconds, summary.ssr)]


def test_the_relay_sends_the_event_once_and_marks_it_sent(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_score(database_url, RESULT_TASK)
    scoring(batch.id)
    [summary] = batch_results(database_url, batch.id)
    sent.take()

    assert relay() == 1

    [event] = outbox(database_url, batch.id)
    assert sent.messages == [
        Message(
            RESULT_TASK,
            {"event": {"type": "batch.completed", **event.payload}},
            queue=task_names.RESULTS_QUEUE,
        )
    ]
    assert event.payload["ssr"] == summary.ssr
    [event] = outbox(database_url, batch.id)
    assert event.sent_at is not None
    assert (event.attempts, event.last_error) == (1, None)
    assert relay() == 0
    assert len(sent.messages) == 1, "a sent event is not sent again"


class BrokenTransport:
    def send(self, message: Message) -> None:
        raise ConnectionError("broker down")


def test_an_event_the_broker_refused_stays_pending_for_the_next_relay(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = ready_to_fail(database_url, RESULT_TASK)
    failure(batch.id)
    sent.take()

    previous = set_transport(BrokenTransport())
    try:
        assert relay() == 0
    finally:
        set_transport(previous)

    [event] = outbox(database_url, batch.id)
    assert event.sent_at is None
    assert event.attempts == 1
    assert "broker down" in (event.last_error or "")
    assert relay() == 1
    assert sent.tasks() == [RESULT_TASK]
    [event] = outbox(database_url, batch.id)
    assert (event.sent_at is not None, event.attempts, event.last_error) == (True, 2, None)


@pytest.fixture
def lock_checked(eager_app: Celery, migrated_sqlite_file: Path) -> Iterator[LockCheckingTransport]:
    transport = LockCheckingTransport(migrated_sqlite_file, CapturingTransport())
    previous = set_transport(transport)
    try:
        yield transport
    finally:
        set_transport(previous)


def test_the_relay_sends_outside_any_database_lock(
    database_url: str, lock_checked: LockCheckingTransport
) -> None:
    batch = ready_to_score(database_url, RESULT_TASK)
    scoring(batch.id)

    relay()

    assert lock_checked.sent == 2  # the relay nudge, then the event
    assert lock_checked.sent_under_lock == []


# ------------------------------------------------------------------ grades and misfit

ANCHORS = {0: "B", 1: "B", 5: "D", 6: "D", 10: "E", 11: "E"}
JUDGES = ("judge-a", "judge-b", None)


def graded_batch(url: str) -> SeededBatch:
    """Twelve essays (position 0 best), six of them anchors of three grades; every pair
    judged twice (once each way) by a Bradley-Terry judge, three judges taking turns."""
    rng = np.random.default_rng(4)
    truth = -0.6 * np.arange(12)
    rows = [
        Row(a, b, winner=Slot.A if rng.random() < expit(truth[a] - truth[b]) else Slot.B)
        for first, second in itertools.combinations(range(12), 2)
        for a, b in ((first, second), (second, first))
    ]
    batch = seed_batch(
        url, 12, rows, state=BatchState.SCORING, final_reason="stable", result_task=RESULT_TASK
    )
    with session_scope(url) as session:
        for position, grade in ANCHORS.items():
            session.execute(
                sa.update(Essay)
                .where(Essay.batch_id == batch.id, Essay.position == position)
                .values(is_anchor=True, grade=grade)
            )
        for k, comparison_id in enumerate(batch.comparison_ids):
            session.execute(
                sa.update(Comparison)
                .where(Comparison.id == comparison_id)
                .values(judge_id=JUDGES[k % len(JUDGES)])
            )
    return batch


def test_scoring_grades_every_essay_and_keeps_the_anchors_grades(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = graded_batch(database_url)

    scoring(batch.id)

    swedish = BUILT_IN_SCALES["swedish_8_anchor"].grades
    for result, essay in essay_results(database_url, batch.id):
        probabilities = result.grade_probabilities
        assert probabilities is not None
        assert list(probabilities) == list(swedish)
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert result.details["projected_grade"] in swedish
        if essay.is_anchor:
            assert (result.grade, result.confidence) == (ANCHORS[essay.position], 1.0)
            assert probabilities[ANCHORS[essay.position]] == 1.0
        else:
            assert result.grade == result.details["projected_grade"]
            assert result.grade is not None
            assert result.confidence == probabilities[result.grade] == max(probabilities.values())
    grades = {
        essay.position: result.grade for result, essay in essay_results(database_url, batch.id)
    }
    assert grades[3] in ("B", "C+", "C", "D+", "D"), "between the B and D anchors"
    [summary] = batch_results(database_url, batch.id)
    assert summary.grade_projection is ProjectionStatus.PROJECTED
    calibration = summary.summary["grading"]["calibration"]
    assert calibration["anchor_counts"] == [0, 2, 2, 0, 0, 0, 2, 0]
    assert calibration["boundaries"] == sorted(calibration["boundaries"])


def test_scoring_reports_reliability_and_fit_of_essays_and_judges(
    database_url: str, sent: CapturingTransport
) -> None:
    batch = graded_batch(database_url)

    scoring(batch.id)

    [summary] = batch_results(database_url, batch.id)
    assert summary.ssr is not None
    assert 0.0 <= summary.ssr <= 1.0
    assert summary.split_half is not None
    assert 0.0 <= summary.split_half <= 1.0
    assert summary.separation is not None
    assert summary.separation > 0.0
    assert summary.ssr_inflated is None, "column kept, no longer written"
    figures = summary.summary
    assert figures["shows_signal"] is True
    assert 0.5 < figures["reliability"] <= 1.0
    assert figures["prior_sd"] > 0.0
    # Every pair was judged both ways, so the order effect is fitted and reported.
    assert figures["slot_effect_se"] > 0.0
    assert abs(figures["slot_effect"]) < 4 * figures["slot_effect_se"], "the judge has no bias"
    judges = summary.summary["judges"]
    assert [judge["judge_id"] for judge in judges] == ["judge-a", "judge-b", None]
    assert sum(judge["comparisons"] for judge in judges) == summary.comparisons_succeeded == 132
    assert all(0.0 <= judge["slot_a_share"] <= 1.0 for judge in judges)
    assert all(judge["reversed_pairs"] >= 0 for judge in judges)
    assert all(
        judge["reversal_consistency"] is None or 0.0 <= judge["reversal_consistency"] <= 1.0
        for judge in judges
    )
    assert all(judge["infit"] > 0.0 and judge["outfit"] > 0.0 for judge in judges)
    rows = essay_results(database_url, batch.id)
    assert all(result.comparisons == 22 for result, _ in rows)
    assert all(result.infit is not None and result.infit > 0.0 for result, _ in rows)
    assert all(result.outfit is not None and result.outfit > 0.0 for result, _ in rows)
    assert summary.summary["misfitting_essays"] == sum(result.misfit for result, _ in rows)
    first = summary.split_half
    with session_scope(database_url) as session:
        session.execute(sa.delete(BatchResultRow).where(BatchResultRow.batch_id == batch.id))
        session.execute(sa.delete(EssayResultRow).where(EssayResultRow.batch_id == batch.id))
        session.execute(sa.delete(OutboxEvent).where(OutboxEvent.batch_id == batch.id))
        session.execute(
            sa.update(Batch).where(Batch.id == batch.id).values(state=BatchState.SCORING)
        )
    scoring(batch.id)
    [again] = batch_results(database_url, batch.id)
    assert again.split_half == first, "split-half is seeded by the batch: reproducible"


def test_the_results_read_back_in_scale_order(database_url: str, sent: CapturingTransport) -> None:
    batch = graded_batch(database_url)
    scoring(batch.id)

    with session_scope(database_url) as session:
        results = reports.batch_results(session, batch.id)

    assert results is not None
    swedish = list(BUILT_IN_SCALES["swedish_8_anchor"].grades)
    assert results.grade_scale["grades"] == swedish
    assert results.grading is not None
    assert results.grading["status"] == "projected"
    assert results.boundaries == results.grading["calibration"]["boundaries"]
    assert [judge["judge_id"] for judge in results.judges] == ["judge-a", "judge-b", None]
    for view in results.essays:
        assert view.grade_probabilities is not None
        assert list(view.grade_probabilities) == swedish
        low, high = view.interval_95
        assert low < view.score < high
    exported = results.as_dict()
    assert (exported["split_half"], exported["separation"]) == (
        results.split_half,
        results.separation,
    )


def test_an_anchor_grade_outside_the_scale_is_kept_but_does_not_calibrate(
    database_url: str, sent: CapturingTransport
) -> None:
    """Intake refuses such grades; a row written some other way must not break scoring."""
    batch = ready_to_score(database_url)
    with session_scope(database_url) as session:
        session.execute(
            sa.update(Essay)
            .where(Essay.batch_id == batch.id, Essay.position == 2)
            .values(is_anchor=True, grade="Z")
        )

    assert scoring(batch.id) == "completed"

    by_position = {
        essay.position: result for result, essay in essay_results(database_url, batch.id)
    }
    anchor = by_position[2]
    assert (anchor.grade, anchor.grade_probabilities, anchor.confidence) == ("Z", None, None)
    assert all(by_position[i].grade is None for i in (0, 1, 3, 4))
    [summary] = batch_results(database_url, batch.id)
    assert summary.grade_projection is ProjectionStatus.NO_ANCHORS
