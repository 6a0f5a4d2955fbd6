"""The baseline tasks of the pipeline benchmark, run by the same worker as the cj tasks.

The cj worker imports this module (``celery -A cj_worker.celery_app worker --include
benchmarks.pipeline_tasks``), so the baselines run in the same two pool processes, on the
same broker, with the same Celery settings (late acknowledgement, prefetch 1, task events)
as the callbacks they are compared with. The benchmark sends them to ``cj.callbacks``, the
callbacks' own queue.

- ``bench.noop``: nothing but the completion count. What a message costs the worker.
- ``bench.one_transaction``: one PostgreSQL transaction that locks one row
  (``SELECT ... FOR UPDATE``), inserts a row and updates the locked one: the least a
  callback of one batch can do (every callback of a batch takes its batch row lock, so
  they serialise like these on the one counter row).

Completions are counted the same way in both: one Redis ``INCR`` per task (about 0.1 ms on
the local Redis), plus one ``SET`` by the first and by the last task of a run, which store
their completion times. The benchmark's rate is ``(tasks - 1) / (last - first)``.

This module must import as ``benchmarks.pipeline_tasks`` in a worker, so it imports nothing
from the other benchmark modules (they are imported by plain name from their folder).
"""

from __future__ import annotations

import time
from functools import cache

import redis
import sqlalchemy as sa
from celery import Task

from cj_worker.celery_app import app
from cj_worker.config import get_settings
from cj_worker.db.engine import session_scope

NOOP = "bench.noop"
ONE_TRANSACTION = "bench.one_transaction"
KEY_PREFIX = "cjbench:"
"""As ``pipeline_support.KEY_PREFIX``."""

TABLES = (
    "CREATE TABLE bench_counter (id integer PRIMARY KEY, n bigint NOT NULL)",
    "INSERT INTO bench_counter (id, n) VALUES (1, 0)",
    "CREATE TABLE bench_log (id bigserial PRIMARY KEY, run text NOT NULL,"
    " at timestamptz NOT NULL DEFAULT now())",
)
"""The one-transaction task's tables; the benchmark creates them in its own database."""


def count_key(run: str) -> str:
    return f"{KEY_PREFIX}{run}:count"


def first_key(run: str) -> str:
    return f"{KEY_PREFIX}{run}:first"


def last_key(run: str) -> str:
    return f"{KEY_PREFIX}{run}:last"


@cache
def _redis() -> redis.Redis:
    # Created on first use, in the pool process (never inherited across the fork).
    return redis.Redis.from_url(get_settings().broker_url)


def _count(run: str, total: int) -> None:
    done = time.time()
    client = _redis()
    count = int(client.incr(count_key(run)))
    if count == 1:
        client.set(first_key(run), repr(done))
    if count == total:
        client.set(last_key(run), repr(done))


def _noop(run: str, total: int) -> None:
    _count(run, total)


def _one_transaction(run: str, total: int) -> None:
    with session_scope(get_settings().database_url) as session:
        session.execute(sa.text("SELECT n FROM bench_counter WHERE id = 1 FOR UPDATE"))
        session.execute(sa.text("INSERT INTO bench_log (run) VALUES (:run)"), {"run": run})
        session.execute(sa.text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))
    _count(run, total)


noop: Task[[str, int], None] = app.task(name=NOOP, acks_late=True)(_noop)
one_transaction: Task[[str, int], None] = app.task(name=ONE_TRANSACTION, acks_late=True)(
    _one_transaction
)
