"""A PostgreSQL database at production scale, built in SQL, and the sweep's SQL captured from it.

Shared by ``test_indexes.py`` (which asserts on the plans) and ``benchmarks/schema_scale.py``
(which times them). The rows are generated server-side with ``INSERT ... SELECT
generate_series``: a million comparisons take seconds, where the ORM would take minutes.

The shape is what a deployment accumulates: history (finished batches of 100 essays) is
nearly every row, a few dozen batches are live, and of those some are idle, each in one
of the situations the sweep handles (waiting for answers within the deadline, overdue,
silent through every re-send, never sent, a complete wave without its decision). Two large
finished batches, of 20,000 and 5,000 essays, are the ones a test deletes.

Rows are inserted at revision ``0004_usage`` and the database then upgraded to head, so
the index migration runs on a full table, as it will in production.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.core.grade_scales import DEFAULT_GRADE_SCALE, built_in_scale
from cj_worker.core.settings import AlgorithmSettings
from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.tasks.sweep import SweepPolicy, sweep_batch

POPULATED_AT = "0004_usage"
"""The revision the rows are inserted at: the last one before the scale indexes."""

INTERVAL = timedelta(seconds=60)
"""Sweep interval of the generated situations."""
DEADLINE = timedelta(minutes=10)
"""Re-send deadline of the generated batches' (simulated) judge."""
MAX_RESENDS = 2

IDLE_SITUATIONS = (
    "waiting",
    "overdue",
    "waiting",
    "silent",
    "waiting",
    "unsent",
    "waiting",
    "undecided",
    "waiting",
    "waiting",
)
"""What the idle batches wait for, in turn: mostly answers still within their deadline,
which is what a sweep pass finds most of the time."""

LIVE_WAVE = 5
"""The current wave of every live batch; waves before it are answered."""


@dataclass(frozen=True)
class Shape:
    """How many rows of what; ``comparisons`` is a floor, reached by adding history."""

    comparisons: int = 1_000_000
    large_essays: tuple[int, ...] = (20_000, 5_000)
    """Finished batches to delete, 10 comparisons per essay."""
    live: int = 40
    idle: int = 10
    history_essays: int = 100
    history_comparisons: int = 1_000
    live_essays: int = 200

    @property
    def live_comparisons(self) -> int:
        return (LIVE_WAVE + 1) * self.live_essays // 2

    @property
    def history_batches(self) -> int:
        fixed = 10 * sum(self.large_essays) + self.live * self.live_comparisons
        return max(1, -(-(self.comparisons - fixed) // self.history_comparisons))

    @property
    def total_comparisons(self) -> int:
        return (
            10 * sum(self.large_essays)
            + self.live * self.live_comparisons
            + self.history_batches * self.history_comparisons
        )


QUICK = Shape(comparisons=60_000, large_essays=(2_000, 500), live=20, idle=10, history_essays=50)

_PLAN = """
CREATE TEMPORARY TABLE scale_plan ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, kind, situation, n, c, wave, seq FROM (
    SELECT 'large' AS kind, NULL AS situation, n, n * 10 AS c, n * 10 / (n / 2) - 1 AS wave,
        ordinality AS seq
    FROM unnest(CAST(:large AS integer[])) WITH ORDINALITY AS large (n)
    UNION ALL
    SELECT 'live', CASE WHEN g <= :idle THEN (CAST(:situations AS text[]))[
            1 + (g - 1) % cardinality(CAST(:situations AS text[]))] ELSE 'active' END,
        :live_essays, :live_comparisons, :live_wave, 100 + g
    FROM generate_series(1, :live) AS g
    UNION ALL
    SELECT 'history', NULL, :history_essays, :history_comparisons,
        :history_comparisons / (:history_essays / 2) - 1, 1000 + g
    FROM generate_series(1, :history) AS g
) AS plan
"""
"""One row per batch: its size, its last wave, and for a live batch its situation."""

_BATCHES = """
INSERT INTO batches (id, state, total_budget, settings, judge, grade_scale, seed,
    current_wave, comparisons_submitted, comparisons_succeeded, comparisons_failed,
    final_reason, created_at, last_activity_at, completed_at)
SELECT id, CASE kind WHEN 'live' THEN 'collecting' ELSE 'completed' END, 2 * c,
    CAST(:settings AS jsonb), CAST(:judge AS jsonb), CAST(:grade_scale AS jsonb), seq, wave,
    c, CASE WHEN kind = 'live' AND situation <> 'undecided' THEN c - n / 2 ELSE c - c / 50 END,
    CASE WHEN kind = 'live' THEN 0 ELSE c / 50 END,
    CASE WHEN kind = 'live' THEN NULL ELSE 'stable' END,
    now() - interval '60 days' + seq * interval '1 minute',
    CASE
        WHEN kind <> 'live' THEN now() - interval '30 days' + seq * interval '1 minute'
        WHEN situation = 'active' THEN now()
        WHEN situation IN ('overdue', 'silent') THEN now() - interval '15 minutes'
        ELSE now() - interval '3 minutes'
    END,
    CASE WHEN kind <> 'live' THEN now() - interval '30 days' + seq * interval '1 minute' END
FROM scale_plan
"""

_ESSAYS = """
INSERT INTO essays (batch_id, external_id, position, text, true_score, score,
    standard_error, comparison_count)
SELECT p.id, 'essay-' || e, e, 'The text of an essay, which a judge reads in full.',
    (e % 17) * 0.1, (e % 17) * 0.1, 0.4, 10
FROM scale_plan AS p, generate_series(0, p.n - 1) AS e
"""

_COMPARISONS = """
INSERT INTO comparisons (id, batch_id, wave, essay_a, essay_b, mode, attempt, status,
    winner, judge_id, confidence, justification, created_at, completed_at, sends, sent_at)
SELECT gen_random_uuid(), p.id, r.wave, j % p.n, (j % p.n + 1 + (j / p.n) % (p.n - 1)) % p.n,
    'coverage', 1, s.status, CASE WHEN s.status = 'succeeded' THEN 'A' END,
    'judge-1', 0.8,
    CASE WHEN s.status = 'succeeded'
        THEN 'Slot A answers the question asked and supports each claim it makes.' END,
    CASE WHEN s.status = 'pending' THEN now() - interval '3 minutes'
        ELSE now() - interval '40 days' END,
    CASE WHEN s.status <> 'pending' THEN now() - interval '40 days' END,
    CASE WHEN s.status <> 'pending' THEN 1
        WHEN p.situation = 'unsent' THEN 0
        WHEN p.situation = 'silent' THEN :max_resends + 1
        ELSE 1 END,
    CASE WHEN s.status <> 'pending' THEN now() - interval '40 days'
        WHEN p.situation = 'unsent' THEN NULL
        WHEN p.situation = 'active' THEN now()
        WHEN p.situation IN ('overdue', 'silent') THEN now() - interval '15 minutes'
        ELSE now() - interval '3 minutes' END
FROM scale_plan AS p, generate_series(0, p.c - 1) AS j,
    LATERAL (SELECT j / (p.n / 2) AS wave) AS r,
    LATERAL (SELECT CASE
        WHEN p.kind = 'live' AND r.wave = p.wave AND p.situation <> 'undecided' THEN 'pending'
        WHEN j % 50 = 7 THEN 'failed'
        ELSE 'succeeded' END AS status) AS s
"""
"""Wave ``w`` holds ``n / 2`` comparisons; essay A runs through the positions and essay B
is A shifted by an offset that changes every ``n`` rows, so (wave, A, B) stays unique."""

_FOLLOWERS = (
    """
    INSERT INTO decisions (batch_id, wave, action, reason)
    SELECT p.id, w, 'continue', 'more_information_needed'
    FROM scale_plan AS p,
        generate_series(0, CASE WHEN p.kind = 'live' THEN p.wave - 1 ELSE p.wave END) AS w
    """,
    """
    INSERT INTO essay_results (batch_id, essay_id, rank, score, standard_error, comparisons,
        wins)
    SELECT e.batch_id, e.id, e.position + 1, e.score, 0.4, 20, 10
    FROM essays AS e JOIN scale_plan AS p ON p.id = e.batch_id
    WHERE p.kind <> 'live'
    """,
    """
    INSERT INTO batch_results (batch_id, stop_reason, state, comparisons_made,
        comparisons_succeeded, comparisons_failed, waves, duration_seconds, summary)
    SELECT id, 'stable', 'completed', c, c - c / 50, c / 50, wave + 1, 600, '{}'
    FROM scale_plan WHERE kind <> 'live'
    """,
    """
    INSERT INTO outbox (batch_id, event_type, task_name, queue, payload, sent_at, attempts)
    SELECT id, 'batch.completed', 'producer.results', 'producer', '{}', now(), 1
    FROM scale_plan WHERE kind <> 'live'
    """,
)


def populate(connection: sa.Connection, shape: Shape) -> None:
    """Insert the rows of ``shape`` in the connection's transaction (the caller commits).

    Foreign keys are not checked row by row (``session_replication_role = replica``, which
    needs a superuser): the rows are consistent by construction, and three million key
    checks would double the time.
    """
    connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    parameters: dict[str, Any] = {
        "large": list(shape.large_essays),
        "idle": shape.idle,
        "situations": list(IDLE_SITUATIONS),
        "live": shape.live,
        "live_essays": shape.live_essays,
        "live_comparisons": shape.live_comparisons,
        "live_wave": LIVE_WAVE,
        "history": shape.history_batches,
        "history_essays": shape.history_essays,
        "history_comparisons": shape.history_comparisons,
        "settings": json.dumps(AlgorithmSettings().model_dump(mode="json")),
        "judge": json.dumps({"kind": "simulated"}),
        "grade_scale": json.dumps(built_in_scale(DEFAULT_GRADE_SCALE).as_json()),
        "max_resends": MAX_RESENDS,
    }
    for statement in (_PLAN, _BATCHES, _ESSAYS, _COMPARISONS, *_FOLLOWERS):
        connection.execute(sa.text(statement), parameters)


def analyze(url: str) -> None:
    """``VACUUM ANALYZE``: statistics for the planner, and the visibility map a production
    table that autovacuum keeps up with would have."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()


def large_batch(connection: sa.Connection, essays: int) -> uuid.UUID:
    """The id of the generated finished batch of ``essays`` essays."""
    statement = sa.text(
        "SELECT batch_id FROM essays GROUP BY batch_id HAVING count(*) = :essays LIMIT 1"
    )
    batch_id = connection.execute(statement, {"essays": essays}).scalar_one()
    assert isinstance(batch_id, uuid.UUID)
    return batch_id


def sweep_policy(now: datetime | None = None) -> SweepPolicy:
    """The policy the generated situations are laid out for."""
    return SweepPolicy(
        now=now or utc_now(),
        interval=INTERVAL,
        max_retriggers=5,
        max_resends=MAX_RESENDS,
        resend_after=dict.fromkeys(("simulated", "llm", "external"), DEADLINE),
    )


Statement = tuple[str, Any]
"""SQL as the driver received it, and its parameters."""

_LABELS = (
    ("idle_batches", r"^SELECT batches\.id\s+FROM batches\s+WHERE batches\.state IN"),
    ("lock_batch", r"^SELECT batches\..*FOR UPDATE"),
    ("requests_due", r"^SELECT comparisons\..*ORDER BY comparisons\.wave"),
    ("time_out_comparisons", r"^UPDATE comparisons SET status"),
    ("wave_has_pending", r"^SELECT EXISTS \(SELECT \*\s+FROM comparisons"),
    ("wave_decided", r"^SELECT EXISTS \(SELECT \*\s+FROM decisions"),
    ("essays of the requests", r"^SELECT essays\."),
    ("stamp the batch", r"^UPDATE batches"),
    ("lock_timeout", r"^SET (LOCAL )?lock_timeout"),
)


def label(statement: str) -> str:
    """Which query of the sweep ``statement`` is; its first words if none of the known."""
    for name, pattern in _LABELS:
        if re.search(pattern, statement.strip(), re.DOTALL):
            return name
    return " ".join(statement.split()[:4])


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[Statement]]:
    """Every statement ``engine`` sends to the database inside the block."""
    statements: list[Statement] = []

    def capture(
        _connection: sa.Connection,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)


def sweep_pass(engine: sa.Engine, policy: SweepPolicy) -> list[list[Statement]]:
    """One sweep pass as ``cj.sweep`` runs it, every transaction rolled back afterwards.

    The idle batches are read, then each is swept in a transaction of its own; returns the
    statements of each transaction, the reading one first. Nothing is committed, so the
    pass can be run again and again on the same rows.
    """
    transactions: list[list[Statement]] = []

    def run(body: Callable[[Session], object]) -> object:
        with captured(engine) as statements, Session(engine) as session:
            try:
                return body(session)
            finally:
                session.rollback()
                transactions.append(list(statements))

    idle = run(lambda session: repositories.idle_batches(session, policy.idle_before))
    assert isinstance(idle, list)
    for batch_id in sorted(idle):
        run(partial(_sweep_one, batch_id=batch_id, policy=policy))
    return transactions


def _sweep_one(session: Session, *, batch_id: uuid.UUID, policy: SweepPolicy) -> object:
    repositories.bound_lock_wait(session, 5.0)
    return sweep_batch(session, batch_id, policy)
