"""At a million comparison rows the sweep and a batch's deletion read through indexes.

The rows are built in SQL (``scale_data``) at the revision before the scale indexes and the
database upgraded, so the migration runs on a full table. The statements asserted on are
captured from a real sweep pass (``sweep_batch`` on every idle batch, rolled back), so a
query the sweep gains is checked too. Only plans are asserted, never times: those are
``benchmarks/schema_scale.py``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from cj_worker.db import repositories
from cj_worker.db.migrate import upgrade
from cj_worker.db.models import Base
from tests.databases import temporary_database
from tests.integration.db.scale_data import (
    POPULATED_AT,
    Shape,
    Statement,
    analyze,
    captured,
    label,
    large_batch,
    populate,
    sweep_pass,
    sweep_policy,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHAPE = Shape()
PENDING_INDEX = "ix_comparisons_pending"
LIVE_INDEX = "ix_batches_live"


@pytest.fixture(scope="module")
def engine(pg_admin_url: str) -> Iterator[sa.Engine]:
    """A database of ``SHAPE`` (a million comparisons), migrated to head and analysed."""
    with temporary_database(pg_admin_url) as url:
        upgrade(url, POPULATED_AT)
        engine = sa.create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                populate(connection, SHAPE)
            upgrade(url)
            analyze(url)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def sweep_transactions(engine: sa.Engine) -> list[list[Statement]]:
    return sweep_pass(engine, sweep_policy())


def plan_of(connection: sa.Connection, statement: str, parameters: Any = None) -> dict[str, Any]:
    """The plan PostgreSQL chooses for the statement (``EXPLAIN``: nothing is executed)."""
    explained = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
    plan: dict[str, Any] = explained.scalar_one()[0]["Plan"]
    return plan


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans(plan: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """``(node type, relation, index)`` of every scan of a table or an index."""
    found = []
    for node in nodes(plan):
        if "Relation Name" in node or "Index Name" in node:
            found.append((node["Node Type"], node.get("Relation Name", ""), node.get("Index Name")))
    return found


def seq_scans(plan: dict[str, Any]) -> list[str]:
    return [relation for kind, relation, _ in scans(plan) if kind == "Seq Scan"]


def indexes_used(plan: dict[str, Any]) -> set[str]:
    return {index for _, _, index in scans(plan) if index is not None}


def is_query(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT"))


def test_the_database_is_at_scale(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT count(*) FROM comparisons").scalar_one()
        batches = connection.exec_driver_sql("SELECT count(*) FROM batches").scalar_one()
    assert rows == SHAPE.total_comparisons >= 1_000_000
    assert batches == SHAPE.history_batches + SHAPE.live + len(SHAPE.large_essays)


def test_idle_batches_reads_the_live_batches_index(
    engine: sa.Engine, sweep_transactions: list[list[Statement]]
) -> None:
    (statement, parameters), *_ = sweep_transactions[0]
    assert len(sweep_transactions) == 1 + SHAPE.idle, "one transaction per idle batch"

    with engine.connect() as connection:
        plan = plan_of(connection, statement, parameters)

    assert indexes_used(plan) == {LIVE_INDEX}, scans(plan)
    assert seq_scans(plan) == []


def test_the_pass_runs_every_query_of_the_sweep(
    sweep_transactions: list[list[Statement]],
) -> None:
    """The generated situations make the pass run each query of the sweep at least once."""
    labels = {
        label(statement) for transaction in sweep_transactions for statement, _ in transaction
    }
    assert {
        "idle_batches",
        "lock_batch",
        "requests_due",
        "time_out_comparisons",
        "wave_has_pending",
        "wave_decided",
    } <= labels


def test_every_sweep_query_reads_through_an_index(
    engine: sa.Engine, sweep_transactions: list[list[Statement]]
) -> None:
    """No whole table is read, and a query on pending rows reads the pending index."""
    checked = 0
    with engine.connect() as connection:
        for transaction in sweep_transactions[1:]:
            for statement, parameters in transaction:
                if not is_query(statement):
                    continue
                plan = plan_of(connection, statement, parameters)
                assert seq_scans(plan) == [], statement
                if "comparisons.status = 'pending'" in statement:
                    assert PENDING_INDEX in indexes_used(plan), statement
                checked += 1
            connection.rollback()
    assert checked >= 3 * SHAPE.idle


def test_the_outbox_relay_reads_the_unsent_index(engine: sa.Engine) -> None:
    with captured(engine) as statements, Session(engine) as session:
        repositories.pending_outbox(session, 100)
        session.rollback()
    (statement, parameters), *_ = [entry for entry in statements if is_query(entry[0])]

    with engine.connect() as connection:
        plan = plan_of(connection, statement, parameters)

    assert indexes_used(plan) == {"ix_outbox_unsent"}
    assert seq_scans(plan) == []


def foreign_keys() -> list[tuple[str, tuple[str, ...]]]:
    """``(table, columns)`` of every foreign key of the models."""
    return sorted(
        (table.name, tuple(column.name for column in key.columns))
        for table in Base.metadata.sorted_tables
        for key in table.foreign_key_constraints
    )


@pytest.mark.parametrize(("table", "columns"), foreign_keys())
def test_every_foreign_key_is_served_by_an_index(
    engine: sa.Engine, table: str, columns: tuple[str, ...]
) -> None:
    """What ``ON DELETE CASCADE`` runs once per deleted parent row reads an index led by the
    key's columns: the generic plan of the lookup, as the trigger prepares it, for the keys
    of the 20,000-essay batch."""
    with engine.connect() as connection:
        batch_id = large_batch(connection, SHAPE.large_essays[0])
        essay_id = connection.execute(
            sa.text("SELECT min(id) FROM essays WHERE batch_id = :batch_id"),
            {"batch_id": batch_id},
        ).scalar_one()
        values = {"batch_id": batch_id, "essay_id": essay_id}
        type_of = {
            column["name"]: column["type"].compile(engine.dialect)
            for column in sa.inspect(engine).get_columns(table)
        }
        condition = " AND ".join(
            f"${number} = {column}" for number, column in enumerate(columns, start=1)
        )
        arguments = ", ".join(f"'{values.get(column, 7)}'::{type_of[column]}" for column in columns)
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(
            f"PREPARE cascade ({', '.join(type_of[column] for column in columns)})"
            f" AS DELETE FROM ONLY {table} WHERE {condition}"
        )
        plan = plan_of(connection, f"EXECUTE cascade ({arguments})")
        leading = {
            index["name"]: tuple(index["column_names"][: len(columns)])
            for index in _indexes(engine, table)
        }
        connection.rollback()

    assert seq_scans(plan) == []
    used = indexes_used(plan)
    assert used, plan
    assert all(sorted(leading[index]) == sorted(columns) for index in used), (used, leading)


def _indexes(engine: sa.Engine, table: str) -> list[dict[str, Any]]:
    """Every index of the table, the primary key's and the unique constraints' included."""
    inspector = sa.inspect(engine)
    found: list[dict[str, Any]] = [dict(index) for index in inspector.get_indexes(table)]
    primary = inspector.get_pk_constraint(table)
    found.append({"name": primary["name"], "column_names": primary["constrained_columns"]})
    found += [
        {"name": unique["name"], "column_names": unique["column_names"]}
        for unique in inspector.get_unique_constraints(table)
    ]
    return found
