"""Time the sweep's queries and a large batch's deletion at a million comparison rows, with
the scale indexes of revision 0005 and, in the same run, without them (the baseline).

Run from the repository root against the local PostgreSQL (a throw-away database; the
admin URL is ``CJ_TEST_POSTGRES_ADMIN_URL`` or postgres@127.0.0.1):

    PYTHONPATH=. python benchmarks/schema_scale.py           # 1,000,000 rows, ~2-3 minutes
    PYTHONPATH=. python benchmarks/schema_scale.py --quick   # 60,000 rows, seconds; no targets

Targets (issue #13): a sweep pass <= 5 ms at 1 M comparison rows; deleting a 20,000-essay
batch <= 2 s. The rows are built in SQL by ``tests/integration/db/scale_data.py`` at
revision 0004 (history of finished 100-essay batches, 40 live batches of which ``--idle``
are idle, one in each situation the sweep handles; finished batches of 20,000 and 5,000
essays with 10 comparisons per essay), then migrated to head, timing revision 0005.

- **sweep pass (SQL)**: the statements one real pass sends (``idle_batches``, then for each
  idle batch ``sweep_batch`` in its own transaction: lock, requests due, timeouts, the
  wave's pending rows and decision, the essays of the requests it sends), captured once and
  replayed through the driver, each transaction rolled back; median of ``--repeats``. Of
  the 10 idle batches 6 need nothing (their requests are within the deadline) and 4 act
  (re-send 100 requests, send 100 never sent, time out 100, re-trigger a decision); the
  lines below it split the pass into those, and give the round trips alone (``SELECT 1``
  for each statement, timed in the same repeats): what no index can take away.
- **sweep pass (ORM)**: the same pass through SQLAlchemy, as ``cj.sweep`` runs it (the
  Python side included, messages built but not sent), rolled back.
- **delete**: ``DELETE FROM batches`` of the 20,000- and 5,000-essay batches, cascading to
  their essays, comparisons and results, rolled back. The baseline's 20,000-essay delete is
  stopped at ``--baseline-timeout`` seconds (it runs for minutes).

The baseline is the schema of revision 0004 (``ix_comparisons_batch_id_status``, none of
the new indexes), made by dropping and creating the indexes in the same database after the
indexed figures are taken, and re-analysed. Timings are wall-clock on a shared machine: the
header prints the load average.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from cj_worker.db.migrate import upgrade
from tests.databases import POSTGRES_ADMIN_URL, temporary_database
from tests.integration.db.scale_data import (
    POPULATED_AT,
    QUICK,
    Shape,
    Statement,
    analyze,
    label,
    large_batch,
    populate,
    sweep_pass,
    sweep_policy,
)

TARGET_SWEEP_MS = 5.0
TARGET_DELETE_S = 2.0
TARGET_ROWS = 1_000_000
TARGET_ESSAYS = 20_000

NEW_INDEXES = (
    "ix_comparisons_pending",
    "ix_comparisons_batch_id_essay_a",
    "ix_comparisons_batch_id_essay_b",
    "ix_batches_live",
)
BASELINE_DDL = (
    *(f"DROP INDEX {name}" for name in NEW_INDEXES),
    "CREATE INDEX ix_comparisons_batch_id_status ON comparisons (batch_id, status)",
)
"""From the indexes of revision 0005 back to those of 0004."""


WAITING = frozenset({"lock_timeout", "lock_batch", "requests_due", "wave_has_pending"})
"""The queries of an idle batch the sweep leaves alone: nothing due, the wave not done."""


@dataclass
class Figures:
    """What one schema measured; times in ms unless named ``_s``."""

    pass_ms: float = 0.0
    """The SQL of a whole pass: ``idle_batches`` and every idle batch's transaction."""
    floor_ms: float = 0.0
    """As many round trips of ``SELECT 1`` (and rollbacks): what no index removes."""
    idle_batches_ms: float = 0.0
    waiting_ms: float = 0.0
    """Median transaction of an idle batch that needs nothing."""
    acting_ms: float = 0.0
    """Slowest transaction of an idle batch the sweep acts on."""
    orm_ms: float = 0.0
    statements: int = 0
    delete_s: dict[int, float | None] = field(default_factory=dict)
    """Seconds per batch size; None where the statement timeout stopped it."""
    plans: dict[str, str] = field(default_factory=dict)
    """What each sweep query reads, by query."""


def median_ms(run: Callable[[], object], repeats: int) -> float:
    """Median wall time in ms of ``repeats`` calls after one untimed warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


Passes = list[list[float]]
"""Ms of each transaction (inner list) of each timed pass (outer)."""


def replay(
    engine: sa.Engine, transactions: Sequence[Sequence[Statement]], repeats: int
) -> tuple[Passes, Passes]:
    """The captured statements sent again through the driver, each transaction rolled back,
    and the same number of ``SELECT 1`` round trips, alternately, after one warm-up of each:
    the load of a shared machine then weighs on both alike."""
    trivial = [[("SELECT 1", None)] * len(transaction) for transaction in transactions]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()

        def run(statements: Sequence[Sequence[Statement]]) -> list[float]:
            times = []
            for transaction in statements:
                start = time.perf_counter()
                for statement, parameters in transaction:
                    cursor.execute(statement, parameters)
                    if cursor.description is not None:
                        cursor.fetchall()
                raw.rollback()
                times.append((time.perf_counter() - start) * 1000)
            return times

        passes, floors = [], []
        for repeat in range(repeats + 1):
            floor, times = run(trivial), run(transactions)
            if repeat:
                floors.append(floor)
                passes.append(times)
        return passes, floors
    finally:
        raw.close()


def scans_of(engine: sa.Engine, transactions: Sequence[Sequence[Statement]]) -> dict[str, str]:
    """For each sweep query, the scans of its plan (``EXPLAIN``, nothing executed)."""
    plans: dict[str, set[str]] = {}
    with engine.connect() as connection:
        for transaction in transactions:
            for statement, parameters in transaction:
                if not statement.lstrip().upper().startswith(("SELECT", "UPDATE")):
                    continue
                explained = connection.exec_driver_sql(
                    f"EXPLAIN (FORMAT JSON) {statement}", parameters
                ).scalar_one()
                plans.setdefault(label(statement), set()).update(_scans(explained[0]["Plan"]))
            connection.rollback()
    return {name: ", ".join(sorted(scans)) for name, scans in plans.items()}


def _scans(plan: dict[str, object]) -> list[str]:
    found = []
    if "Index Name" in plan:
        found.append(f"{plan['Node Type']} {plan['Index Name']}")
    elif "Relation Name" in plan:
        found.append(f"{plan['Node Type']} {plan['Relation Name']}")
    children = plan.get("Plans", [])
    assert isinstance(children, list)
    for child in children:
        found += _scans(child)
    return found


def delete_seconds(
    engine: sa.Engine, batch_id: uuid.UUID, repeats: int, timeout_s: float
) -> float | None:
    """Median seconds of deleting the batch (rolled back); None if it ran into the timeout."""
    times = []
    for _ in range(repeats):
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SET statement_timeout = {int(timeout_s * 1000)}")
            start = time.perf_counter()
            try:
                connection.execute(
                    sa.text("DELETE FROM batches WHERE id = :batch_id"), {"batch_id": batch_id}
                )
            except sa.exc.OperationalError:
                return None
            finally:
                connection.rollback()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def cascade_triggers(engine: sa.Engine, batch_id: uuid.UUID) -> list[str]:
    """Time and calls of each foreign key's trigger when the batch is deleted (rolled back)."""
    with engine.connect() as connection:
        explained = connection.execute(
            sa.text("EXPLAIN (ANALYZE, FORMAT JSON) DELETE FROM batches WHERE id = :batch_id"),
            {"batch_id": batch_id},
        ).scalar_one()
        connection.rollback()
    return [
        f"{trigger['Constraint Name']}: {trigger['Time']:.0f} ms, {trigger['Calls']} calls"
        for trigger in explained[0].get("Triggers", [])
    ]


def measure(
    engine: sa.Engine, shape: Shape, repeats: int, timeout_s: float, indexed: bool
) -> Figures:
    policy = sweep_policy()
    transactions = sweep_pass(engine, policy)
    figures = Figures(statements=sum(len(transaction) for transaction in transactions))
    figures.plans = scans_of(engine, transactions)
    passes, floors = replay(engine, transactions, repeats)
    figures.pass_ms = statistics.median(sum(times) for times in passes)
    figures.floor_ms = statistics.median(sum(times) for times in floors)
    idle_batches, *batches = (statistics.median(times) for times in zip(*passes, strict=True))
    figures.idle_batches_ms = idle_batches
    waiting = [
        {label(statement) for statement, _ in transaction} <= WAITING
        for transaction in transactions[1:]
    ]
    figures.waiting_ms = statistics.median(
        [ms for ms, idle in zip(batches, waiting, strict=True) if idle] or [0.0]
    )
    figures.acting_ms = max(
        [ms for ms, idle in zip(batches, waiting, strict=True) if not idle] or [0.0]
    )
    figures.orm_ms = median_ms(lambda: sweep_pass(engine, policy), repeats)
    with engine.connect() as connection:
        large = {essays: large_batch(connection, essays) for essays in shape.large_essays}
    for essays, batch_id in large.items():
        # One run where the baseline is stopped by the timeout anyway.
        runs = max(1, repeats // 3) if indexed else 1
        figures.delete_s[essays] = delete_seconds(engine, batch_id, runs, timeout_s)
    return figures


def index_sizes(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid))"
            " FROM pg_stat_user_indexes WHERE relname IN ('comparisons', 'batches')"
            " ORDER BY pg_relation_size(indexrelid) DESC"
        ).all()
    return [f"{name} {size}" for name, size in rows]


def environment() -> list[str]:
    lines = [f"python {platform.python_version()}  machine {platform.machine()}"]
    lines[0] += f"  cpus {os.cpu_count()}"
    if hasattr(os, "getloadavg"):
        one, five, fifteen = os.getloadavg()
        lines.append(f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)")
    return lines


def verdict(ok: bool, applies: bool) -> str:
    if not applies:
        return "n/a"
    return "PASS" if ok else "MISS"


def seconds(value: float | None, timeout_s: float) -> str:
    return f"> {timeout_s:.0f} s (timeout)" if value is None else f"{value:.3f} s"


def ratio(baseline: float | None, indexed: float | None, timeout_s: float) -> str:
    if indexed is None or indexed <= 0:
        return ""
    if baseline is None:
        return f"> {timeout_s / indexed:.0f}x"
    return f"{baseline / indexed:.1f}x"


def render(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def report(
    shape: Shape, new: Figures, old: Figures, timeout_s: float, targets_apply: bool
) -> tuple[str, int, int]:
    """The result table, and the number of PASS and MISS verdicts."""
    header = ["case", "indexed (0005)", "baseline (0004)", "baseline/indexed", "target", "status"]
    rows = [header]
    sweep_status = verdict(new.pass_ms <= TARGET_SWEEP_MS, targets_apply)
    sweep = [
        (
            f"sweep pass SQL: idle_batches + {shape.idle} idle batches"
            f" ({new.statements} statements)",
            new.pass_ms,
            old.pass_ms,
            f"<= {TARGET_SWEEP_MS:.0f} ms",
            sweep_status,
        ),
        ("  of which round trips alone (SELECT 1 each)", new.floor_ms, old.floor_ms, "", ""),
        ("  idle_batches", new.idle_batches_ms, old.idle_batches_ms, "", ""),
        ("  an idle batch that needs nothing, median", new.waiting_ms, old.waiting_ms, "", ""),
        ("  an idle batch the sweep acts on, slowest", new.acting_ms, old.acting_ms, "", ""),
        ("sweep pass through the ORM (sweep_batch)", new.orm_ms, old.orm_ms, "", ""),
    ]
    for case, indexed, baseline, target, status in sweep:
        rows.append(
            [
                case,
                f"{indexed:.2f} ms",
                f"{baseline:.2f} ms",
                ratio(baseline, indexed, timeout_s),
                target,
                status,
            ]
        )
    statuses = [sweep_status]
    for essays, indexed_s in new.delete_s.items():
        baseline_s = old.delete_s[essays]
        target, status = "", ""
        if essays == TARGET_ESSAYS:
            target = f"<= {TARGET_DELETE_S:.0f} s"
            ok = indexed_s is not None and indexed_s <= TARGET_DELETE_S
            status = verdict(ok, targets_apply)
            statuses.append(status)
        rows.append(
            [
                f"delete a {essays:,}-essay batch ({essays * 10:,} comparisons)",
                seconds(indexed_s, timeout_s),
                seconds(baseline_s, timeout_s),
                ratio(baseline_s, indexed_s, timeout_s),
                target,
                status,
            ]
        )
    return render(rows), statuses.count("PASS"), statuses.count("MISS")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=None, help="comparison rows (1,000,000)")
    parser.add_argument("--quick", action="store_true", help="60,000 rows; seconds, no targets")
    parser.add_argument("--idle", type=int, default=None, help="idle batches a pass sweeps (10)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure (9)")
    parser.add_argument(
        "--baseline-timeout", type=float, default=None, help="stop a baseline delete after (60 s)"
    )
    parser.add_argument("--fail-on-miss", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # The sweep logs what it does to each batch, on every repeat: not this script's output.
    logging.disable(logging.WARNING)
    shape = QUICK if arguments.quick else Shape()
    if arguments.rows is not None:
        shape = replace(shape, comparisons=arguments.rows)
    if arguments.idle is not None:
        shape = replace(shape, idle=arguments.idle, live=max(shape.live, arguments.idle))
    repeats: int = arguments.repeats or (3 if arguments.quick else 9)
    timeout_s: float = arguments.baseline_timeout or (10.0 if arguments.quick else 60.0)
    targets_apply = (
        not arguments.quick
        and shape.total_comparisons >= TARGET_ROWS
        and TARGET_ESSAYS in shape.large_essays
    )
    started = time.perf_counter()
    print(
        "Schema at scale: sweep queries and batch deletion"
        + ("" if targets_apply else " (no targets apply at this size)")
    )
    for line in environment():
        print("  " + line)
    with temporary_database(POSTGRES_ADMIN_URL) as url:
        upgrade(url, POPULATED_AT)
        engine = sa.create_engine(url, poolclass=NullPool)
        try:
            step = time.perf_counter()
            with engine.begin() as connection:
                populate(connection, shape)
            print(
                f"  {shape.total_comparisons:,} comparison rows in"
                f" {shape.history_batches + shape.live + len(shape.large_essays):,} batches"
                f" built in {time.perf_counter() - step:.1f} s"
            )
            step = time.perf_counter()
            upgrade(url, "0005_scale_indexes")
            migration_s = time.perf_counter() - step
            print(f"  migration 0005 (CREATE INDEX x4, in one transaction): {migration_s:.1f} s")
            upgrade(url)
            analyze(url)
            print(f"  median of {repeats} runs after 1 warm-up; idle batches {shape.idle}")
            print()
            new = measure(engine, shape, repeats, timeout_s, indexed=True)
            with engine.connect() as connection:
                batch_id = large_batch(connection, shape.large_essays[0])
            triggers = cascade_triggers(engine, batch_id)
            sizes_new = index_sizes(engine)
            with engine.begin() as connection:
                for statement in BASELINE_DDL:
                    connection.exec_driver_sql(statement)
            analyze(url)
            old = measure(engine, shape, repeats, timeout_s, indexed=False)
        finally:
            engine.dispose()
    table, passes, misses = report(shape, new, old, timeout_s, targets_apply)
    print(table)
    print()
    print("plans of the sweep's queries (indexed | baseline):")
    for name in new.plans:
        print(f"  {name}: {new.plans[name]} | {old.plans.get(name, '-')}")
    print()
    print(f"cascade of the {shape.large_essays[0]:,}-essay delete (indexed), per foreign key:")
    for line in triggers:
        print("  " + line)
    print()
    print("indexes of comparisons and batches (indexed): " + "; ".join(sizes_new))
    print()
    print(f"targets: {passes} PASS, {misses} MISS; total {time.perf_counter() - started:.1f} s")
    return 1 if arguments.fail_on_miss and misses else 0


if __name__ == "__main__":
    sys.exit(main())
