"""A deployment for careless and hostile producers: one real worker, two known batches.

The worker is a separate ``cj-worker worker`` process on the local Redis and a PostgreSQL
database of this package's own, configured only through the environment. Every case sends
something a careless or hostile producer could send, then checks three things: the words
the sender (or the worker's log) got back, that the database is exactly as it was, and
that the worker still answers a ping. :class:`Deployment` holds the means for all three.

Two batches are made once for the package: ``running`` (an external judge nobody
consumes, one comparison answered, two waiting) and ``completed`` (run to its end by the
simulated judge). Nothing else writes to the database while a case runs: there is no
beat (no sweep), and each case waits for the worker to finish with its message.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from celery import Celery

from cj_worker import client, dead_letters, task_names
from cj_worker.db.engine import session_scope
from cj_worker.db.migrate import upgrade
from cj_worker.db.models import Base, Batch, Comparison
from cj_worker.db.states import ComparisonRowStatus
from cj_worker.payloads import EssayIn, ExternalJudge, SimulatedJudge
from cj_worker.tokens import token_for
from tests.databases import temporary_database
from tests.integration.conftest import RESULT_TOKEN_SECRET
from tests.integration.pipeline.conftest import Worker, wait_terminal

pytestmark = pytest.mark.integration

NOBODY = ExternalJudge(task="tests.hostile.judge", queue="tests.hostile.judge")
"""A judge nobody consumes: the running batch waits on it for as long as the tests run."""
TENANT = "tenant-a"
SECRET_TEXT = "PUPIL-PRIVATE-TEXT"
"""In every essay of the package's batches: it must never show in the worker's log."""


def sign(comparison_id: uuid.UUID) -> str:
    """The token a judge of this deployment would have received for the comparison."""
    return token_for(comparison_id, [RESULT_TOKEN_SECRET.encode()])


def essays(n: int, prefix: str = "e") -> list[EssayIn]:
    return [
        EssayIn(id=f"{prefix}{i}", text=f"{SECRET_TEXT} {prefix}{i}", true_score=float(i))
        for i in range(n)
    ]


@dataclass
class Snapshot:
    """What a case must leave as it found: row counts, and every batch's and comparison's
    state. (``last_activity_at`` is left out: a duplicate answer may touch it.)"""

    counts: dict[str, int]
    batches: list[tuple[Any, ...]]
    comparisons: list[tuple[Any, ...]]


@dataclass
class Deployment:
    worker: Worker
    producer: Celery
    database_url: str
    broker_url: str
    env: dict[str, str]
    node: str
    broker: redis.Redis = field(init=False)

    def __post_init__(self) -> None:
        self.broker = redis.Redis.from_url(self.broker_url)

    # ------------------------------------------------------------------ the database

    def snapshot(self) -> Snapshot:
        with session_scope(self.database_url) as session:
            counts = {
                table.name: int(session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
            }
            batches = [
                tuple(row)
                for row in session.execute(
                    sa.select(
                        Batch.id,
                        Batch.state,
                        Batch.tenant,
                        Batch.current_wave,
                        Batch.final_reason,
                        Batch.comparisons_submitted,
                        Batch.comparisons_succeeded,
                        Batch.comparisons_failed,
                        Batch.request_fingerprint,
                        Batch.completed_at,
                    ).order_by(Batch.id)
                )
            ]
            comparisons = [
                tuple(row)
                for row in session.execute(
                    sa.select(Comparison.id, Comparison.status, Comparison.winner).order_by(
                        Comparison.id
                    )
                )
            ]
        return Snapshot(counts, batches, comparisons)

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        """The block must change nothing in the database and leave the worker answering."""
        before = self.snapshot()
        yield
        assert self.snapshot() == before, "the database changed"
        assert self.answers_ping(), "the worker stopped answering"

    # -------------------------------------------------------------------- the worker

    def answers_ping(self) -> bool:
        replies = self.producer.control.ping(destination=[self.node], timeout=10.0) or []
        return any(self.node in reply for reply in replies)

    def log_offset(self) -> int:
        return len(self.worker.log())

    def wait_for_log(
        self, check: Callable[[dict[str, Any]], bool], after: int, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The first JSON log line after ``after`` characters that passes ``check``."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.worker.log()[after:].splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and check(record):
                    return record
            if time.monotonic() > deadline:
                raise AssertionError(f"no such log line within {timeout}s:\n{self.worker.log()}")
            time.sleep(0.1)

    def outcome(self, task_id: str, after: int = 0) -> str:
        """The worker's log line saying how task ``task_id`` ended (returned or raised)."""
        record = self.wait_for_log(
            lambda r: (
                f"[{task_id}]" in r.get("message", "")
                and (" succeeded in " in r["message"] or " raised " in r["message"])
            ),
            after,
        )
        return str(record["message"])

    def send(self, task: str, kwargs: dict[str, Any] | None = None, **options: Any) -> str:
        """Send ``task`` by name as any producer can (``queue`` defaults to the task's own);
        returns how it ended, from the worker's log."""
        after = self.log_offset()
        queue = options.pop("queue", task_names.ROUTES.get(task, task_names.CONTROL_QUEUE))
        sent = self.producer.send_task(task, kwargs=kwargs or {}, queue=queue, **options)
        return self.outcome(sent.id, after)

    # -------------------------------------------------------------------- dead letters

    def dead_letters(self) -> list[dead_letters.DeadLetter]:
        return dead_letters.read(self.broker)

    def wait_for_dead_letters(self, count: int, timeout: float = 30.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(letters := self.dead_letters()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(letters)} dead letters, not {count}")
            time.sleep(0.1)
        return letters

    # ---------------------------------------------------------------- the command line

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``cj-worker ARGS`` with the deployment's environment."""
        return self.cli_module("cj_worker.cli", *args)

    def cli_module(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


@dataclass(frozen=True)
class RunningBatch:
    id: uuid.UUID
    request: dict[str, Any]
    """The ``BatchRequest`` JSON exactly as it was sent."""
    answered: uuid.UUID
    pending: list[uuid.UUID]


@dataclass(frozen=True)
class CompletedBatch:
    id: uuid.UUID
    comparisons: list[uuid.UUID]


@pytest.fixture(scope="package")
def hostile_database(pg_admin_url: str) -> Iterator[str]:
    with temporary_database(pg_admin_url) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="package")
def deployment(
    worker_env: dict[str, str],
    hostile_database: str,
    producer: Celery,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    env = {**worker_env, "CJ_DATABASE_URL": hostile_database}
    # No beat runs here, so the sweep interval only matters to a sweep a stranger sends;
    # the defaults are consistent with every other timing setting.
    env.pop("CJ_SWEEP_INTERVAL_SECONDS", None)
    broker = redis.Redis.from_url(env["CJ_BROKER_URL"])
    broker.delete(dead_letters.KEY)
    worker = Worker(
        env,
        tmp_path_factory.mktemp("hostile") / "worker.log",
        concurrency=2,
        queues=",".join(task_names.QUEUES),
        via_celery=False,
    )
    try:
        worker.wait_ready()
        yield Deployment(
            worker=worker,
            producer=producer,
            database_url=hostile_database,
            broker_url=env["CJ_BROKER_URL"],
            env=env,
            node=f"{worker.name}@{socket.gethostname()}",
        )
    finally:
        worker.stop()
        broker.delete(dead_letters.KEY, NOBODY.queue)


@pytest.fixture(scope="package")
def running(deployment: Deployment) -> RunningBatch:
    """Six essays of ``tenant-a`` at wave 1: one comparison answered, the others waiting."""
    batch_id = uuid.uuid4()
    request = {
        "batch_id": str(batch_id),
        "tenant": TENANT,
        "essays": [essay.model_dump(mode="json") for essay in essays(6)],
        "budget": 30,
        "judge": NOBODY.model_dump(mode="json"),
    }
    deployment.producer.send_task(
        task_names.CREATE_BATCH, kwargs={"request": request}, queue=task_names.INTAKE_QUEUE
    )
    pending = _wait_for_pending(deployment.database_url, batch_id)
    first, *rest = pending
    after = deployment.log_offset()
    client.record_result(
        first, token=sign(first), winner="A", judge_id="j", app=deployment.producer
    )
    deployment.wait_for_log(
        lambda r: (
            "Task cj.record_comparison_result[" in r.get("message", "")
            and "succeeded in" in r["message"]
        ),
        after,
    )
    return RunningBatch(batch_id, request, first, rest)


@pytest.fixture(scope="package")
def completed(deployment: Deployment) -> CompletedBatch:
    """Four essays run to the end by the simulated judge."""
    batch_id = client.submit_batch(
        essays(4, prefix="c"),
        budget=12,
        judge=SimulatedJudge(discrimination=3.0, seed=1),
        tenant="tenant-b",
        app=deployment.producer,
    )
    status = wait_terminal(batch_id, deployment.database_url, timeout=120)
    assert status.state == "completed", status
    with session_scope(deployment.database_url) as session:
        rows = list(
            session.scalars(sa.select(Comparison.id).where(Comparison.batch_id == batch_id))
        )
    return CompletedBatch(batch_id, rows)


def _wait_for_pending(database_url: str, batch_id: uuid.UUID) -> list[uuid.UUID]:
    """The comparisons of the batch's first wave, once it was dispatched."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with session_scope(database_url) as session:
            batch = session.get(Batch, batch_id)
            rows = list(
                session.scalars(
                    sa.select(Comparison.id)
                    .where(
                        Comparison.batch_id == batch_id,
                        Comparison.status == ComparisonRowStatus.PENDING,
                    )
                    .order_by(Comparison.id)
                )
            )
            if batch is not None and batch.current_wave == 1 and len(rows) >= 2:
                assert len(rows) == batch.comparisons_submitted
                return rows
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} never dispatched its first wave")


def take_event(app: Celery, queue_name: str, timeout: float = 30.0) -> dict[str, Any]:
    """The first task message on a producer's queue: its ``event`` kwarg."""
    deadline = time.monotonic() + timeout
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(queue_name)
        try:
            while True:
                try:
                    message = queue.get(timeout=1)
                except queue.Empty:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"no event on {queue_name}") from None
                    continue
                message.ack()
                _, kwargs, _ = message.payload
                event: dict[str, Any] = kwargs["event"]
                return event
        finally:
            queue.close()
