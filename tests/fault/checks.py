"""What every fault scenario must leave behind, read from the database.

- the SQL invariants: one result per comparison, counters equal to the rows, within the
  budget, one decision per wave, at most one finalization, a terminal state;
- no comparison booked failed unless a judge failed it (a judge's ``error_code``), and no
  timed-out comparison unless the scenario silenced the judge;
- no batch stopped ``stable`` on a wave that came back (mostly) empty;
- the final scores of the fault-free run, computed in this process by the embedded runner
  from the same request (the simulated judge is keyed on the comparison id, which is a pure
  function of batch, wave and pair, so the same request gives the same answers).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from cj_worker.config import Settings
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
from cj_worker.db.states import BatchState, ComparisonRowStatus
from cj_worker.embedded import run_batch
from cj_worker.payloads import BatchRequest, EssayIn, SimulatedJudge

TERMINAL = (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED)
JUDGE_ERROR = "simulated_error"
"""The error code of a failure the simulated judge answered."""

Scores = dict[str, tuple[int, float, float]]
"""Per essay id: rank, score, standard error."""


def batch_request(n: int = 10, budget: int = 60, seed: int = 7) -> BatchRequest:
    """The fault scenarios' batch: ten essays, about ten waves, a deterministic judge."""
    return BatchRequest(
        batch_id=uuid.uuid4(),
        essays=[
            EssayIn(id=f"e{i:02d}", text=f"essay {i}", true_score=0.6 * (i - (n - 1) / 2))
            for i in range(n)
        ],
        budget=budget,
        judge=SimulatedJudge(seed=seed),
    )


@dataclass(frozen=True)
class Ended:
    """A finished batch as the checks saw it."""

    state: BatchState
    final_reason: str | None
    waves: int
    submitted: int
    failed: int
    timed_out: int
    scores: Scores
    decided_at: dict[int, datetime]
    finished_at: datetime | None


def wait_terminal(database_url: str, batch_id: uuid.UUID, timeout: float) -> Ended:
    """Poll until the batch ended; fail with where it stands otherwise."""
    deadline = time.monotonic() + timeout
    state: object = None
    while time.monotonic() < deadline:
        try:
            with session_scope(database_url) as session:
                batch = session.get(Batch, batch_id)
                state = None if batch is None else (batch.state, batch.current_wave)
                if batch is not None and batch.state in TERMINAL:
                    break
        except sa.exc.OperationalError as error:  # the database may be restarting
            state = f"database unreachable: {error.orig}"
        time.sleep(0.25)
    else:
        raise AssertionError(f"batch {batch_id} did not end within {timeout} s: {state}")
    return read_ended(database_url, batch_id)


def read_ended(database_url: str, batch_id: uuid.UUID) -> Ended:
    with session_scope(database_url) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        by_status = Counter(
            session.scalars(sa.select(Comparison.status).where(Comparison.batch_id == batch_id))
        )
        decided = dict(
            session.execute(
                sa.select(DecisionRow.wave, DecisionRow.created_at).where(
                    DecisionRow.batch_id == batch_id
                )
            ).all()
        )
        result = session.get(BatchResultRow, batch_id)
        return Ended(
            state=batch.state,
            final_reason=batch.final_reason,
            waves=batch.current_wave,
            submitted=batch.comparisons_submitted,
            failed=batch.comparisons_failed,
            timed_out=by_status[ComparisonRowStatus.TIMED_OUT],
            scores=final_scores(database_url, batch_id),
            decided_at=decided,
            finished_at=None if result is None else result.created_at,
        )


def wait_delivered(database_url: str, batch_id: uuid.UUID, timeout: float) -> None:
    """Until the batch's result event was relayed (marked sent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(database_url) as session:
            sent = session.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.batch_id == batch_id, OutboxEvent.sent_at.is_not(None))
            )
        if sent:
            return
        time.sleep(0.25)
    raise AssertionError(f"the result event of {batch_id} was not delivered in {timeout} s")


def struck_at(marker: Path) -> float:
    """When a crash point struck (the Unix time it wrote into its marker)."""
    assert marker.exists(), f"the crash point of {marker.name} never struck"
    return float(json.loads(marker.read_text())["at"])


def progress_after(database_url: str, batch_id: uuid.UUID, moment: float) -> float:
    """Seconds from ``moment`` (Unix time) to the batch's next step: a decision, its
    finalization, or the delivery of its result event."""
    after = datetime.fromtimestamp(moment, tz=UTC)
    with session_scope(database_url) as session:
        steps = [
            *session.scalars(
                sa.select(DecisionRow.created_at).where(
                    DecisionRow.batch_id == batch_id, DecisionRow.created_at > after
                )
            ),
            *session.scalars(
                sa.select(BatchResultRow.created_at).where(
                    BatchResultRow.batch_id == batch_id, BatchResultRow.created_at > after
                )
            ),
            *session.scalars(
                sa.select(OutboxEvent.sent_at).where(
                    OutboxEvent.batch_id == batch_id, OutboxEvent.sent_at > after
                )
            ),
        ]
    assert steps, f"no progress after {after}"
    first: datetime = min(steps)
    return (first - after).total_seconds()


def final_scores(database_url: str, batch_id: uuid.UUID) -> Scores:
    with session_scope(database_url) as session:
        rows = session.execute(
            sa.select(
                Essay.external_id,
                EssayResultRow.rank,
                EssayResultRow.score,
                EssayResultRow.standard_error,
            )
            .join(Essay, Essay.id == EssayResultRow.essay_id)
            .where(EssayResultRow.batch_id == batch_id)
        )
        return {essay: (rank, score, se) for essay, rank, score, se in rows}


def assert_invariants(database_url: str, batch_id: uuid.UUID, *, judge_silenced: bool) -> None:
    """The SQL invariants, and that no infrastructure fault was booked as a judge failure.

    ``judge_silenced``: the scenario made the judge silent past its re-sends (a poison
    request, a dead judge), so timed-out comparisons are what must happen there.
    """
    with session_scope(database_url) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        rows = list(session.scalars(sa.select(Comparison).where(Comparison.batch_id == batch_id)))
        decisions = list(
            session.scalars(sa.select(DecisionRow).where(DecisionRow.batch_id == batch_id))
        )
        results = session.scalar(
            sa.select(sa.func.count())
            .select_from(BatchResultRow)
            .where(BatchResultRow.batch_id == batch_id)
        )
        events = Counter(
            session.scalars(
                sa.select(OutboxEvent.event_type).where(OutboxEvent.batch_id == batch_id)
            )
        )

    assert batch.state in TERMINAL, f"not terminal: {batch.state}"
    by_status = Counter(row.status for row in rows)
    assert by_status[ComparisonRowStatus.PENDING] == 0, "one result per comparison"
    assert len({row.id for row in rows}) == len(rows)
    assert batch.comparisons_submitted == len(rows), "counters = rows"
    assert batch.comparisons_succeeded == by_status[ComparisonRowStatus.SUCCEEDED]
    assert batch.comparisons_failed == (
        by_status[ComparisonRowStatus.FAILED] + by_status[ComparisonRowStatus.TIMED_OUT]
    )
    assert len(rows) <= batch.total_budget, "within the budget"
    waves = sorted(decision.wave for decision in decisions)
    assert waves == list(range(batch.current_wave + 1)), f"one decision per wave: {waves}"
    finals = [d for d in decisions if d.action.startswith("finalize")]
    assert len(finals) <= 1, "at most one finalizing decision"
    assert results == 1, "finalized exactly once"
    assert all(count <= 1 for count in events.values()), f"one result event: {events}"

    failed_by_infrastructure = [
        row
        for row in rows
        if row.status is ComparisonRowStatus.FAILED and row.error_code != JUDGE_ERROR
    ]
    assert failed_by_infrastructure == [], "booked failed without a judge failing it"
    if not judge_silenced:
        assert by_status[ComparisonRowStatus.TIMED_OUT] == 0, "lost work booked as failed"
    for decision in decisions:
        if decision.reason == "stable":
            succeeded = int(decision.details.get("wave_succeeded") or 0)
            failed = int(decision.details.get("wave_failed") or 0)
            assert succeeded > 0, f"stable on an empty wave {decision.wave}"
            assert 2 * succeeded >= succeeded + failed, f"stable on silence {decision.wave}"


_references: dict[uuid.UUID, str] = {}
"""Database URL of each request's fault-free run."""


def fault_free_run(request: BatchRequest, directory: Path) -> str:
    """Run the request without faults (embedded, SQLite) once; returns its database URL."""
    if request.batch_id not in _references:
        url = f"sqlite:///{directory / f'reference-{request.batch_id}.sqlite3'}"
        run_batch(request, settings=Settings(database_url=url))
        _references[request.batch_id] = url
    return _references[request.batch_id]


def fault_free_scores(request: BatchRequest, directory: Path) -> Scores:
    """The final scores of the same request run without faults."""
    return final_scores(fault_free_run(request, directory), request.batch_id)


def fault_free_comparisons(request: BatchRequest, directory: Path) -> dict[int, list[str]]:
    """The comparison ids of each wave of the fault-free run: the same ids the faulty run
    will dispatch (they are a pure function of batch, wave and pair), known in advance."""
    url = fault_free_run(request, directory)
    waves: dict[int, list[str]] = {}
    with session_scope(url) as session:
        for wave, comparison_id in session.execute(
            sa.select(Comparison.wave, Comparison.id)
            .where(Comparison.batch_id == request.batch_id)
            .order_by(Comparison.wave, Comparison.essay_a, Comparison.essay_b)
        ):
            waves.setdefault(wave, []).append(str(comparison_id))
    return waves


def history(database_url: str, batch_id: uuid.UUID) -> list[tuple[int, int, int, str, str | None]]:
    """Every comparison as (wave, slot A, slot B, status, winner), in a fixed order."""
    with session_scope(database_url) as session:
        rows = session.execute(
            sa.select(
                Comparison.wave,
                Comparison.essay_a,
                Comparison.essay_b,
                Comparison.status,
                Comparison.winner,
            )
            .where(Comparison.batch_id == batch_id)
            .order_by(Comparison.wave, Comparison.essay_a, Comparison.essay_b)
        )
        return [
            (wave, a, b, str(status), None if winner is None else str(winner))
            for wave, a, b, status, winner in rows
        ]


def assert_fault_free_result(
    database_url: str, request: BatchRequest, directory: Path, ended: Ended
) -> None:
    """The same comparisons, answers and final scores as the fault-free run."""
    reference = fault_free_run(request, directory)
    actual, expected = history(database_url, request.batch_id), history(reference, request.batch_id)
    for position, (got, want) in enumerate(zip(actual, expected, strict=False)):
        assert got == want, f"comparison {position} differs: {got} != fault-free {want}"
    assert len(actual) == len(expected), f"{len(actual)} comparisons, fault-free {len(expected)}"
    assert_same_scores(ended.scores, final_scores(reference, request.batch_id))


def assert_same_scores(actual: Scores, expected: Scores) -> None:
    assert set(actual) == set(expected)
    for essay, (rank, score, se) in expected.items():
        got_rank, got_score, got_se = actual[essay]
        assert got_rank == rank, f"{essay}: rank {got_rank} != {rank}"
        assert abs(got_score - score) < 1e-9, f"{essay}: score {got_score} != {score}"
        assert abs(got_se - se) < 1e-9, f"{essay}: se {got_se} != {se}"
