"""Real Celery workers on the local Redis and a throw-away PostgreSQL database.

Each worker is a separate ``cj-worker worker`` process, configured only through the
environment (as a deployment is), on a Redis database index of its own that is flushed
first, so stray messages from another run cannot reach it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from cj_worker import task_names
from cj_worker.celery_app import configure
from cj_worker.client import get_status
from cj_worker.config import Settings
from cj_worker.db.repositories.reports import BatchStatus

REDIS_URL = os.environ.get("CJ_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {error}")
    client.flushdb()
    return REDIS_URL


@pytest.fixture(scope="session")
def worker_env(pg_url: str, redis_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CJ_")}
    env.update(
        CJ_DATABASE_URL=pg_url,
        CJ_BROKER_URL=redis_url,
        CJ_SWEEP_INTERVAL_SECONDS="3600",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def producer(worker_env: dict[str, str]) -> Celery:
    """A producer's app: same broker, no tasks of its own."""
    app = Celery("producer")
    configure(
        app,
        Settings(
            database_url=worker_env["CJ_DATABASE_URL"], broker_url=worker_env["CJ_BROKER_URL"]
        ),
    )
    return app


class Worker:
    def __init__(
        self, env: dict[str, str], log_path: Path, concurrency: int, queues: str, via_celery: bool
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        # Both documented ways to start a worker: ``cj-worker worker`` and ``celery -A``.
        entry = (
            ["-m", "celery", "-A", "cj_worker.celery_app"]
            if via_celery
            else ["-m", "cj_worker.cli"]
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                *entry,
                "worker",
                "--queues",
                queues,
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"test-{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if "ready." in self.log():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(
        concurrency: int = 2,
        queues: str = ",".join(task_names.QUEUES),
        via_celery: bool = False,
        **settings: str,
    ) -> Worker:
        env = dict(worker_env)
        env.update({f"CJ_{key.upper()}": value for key, value in settings.items()})
        log_path = tmp_path / f"worker-{len(workers)}.log"
        worker = Worker(env, log_path, concurrency, queues, via_celery)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_terminal(batch_id: uuid.UUID, database_url: str, timeout: float = 180.0) -> BatchStatus:
    """Poll until the batch is completed/failed; fail the test with its status otherwise."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        try:
            status = get_status(batch_id, database_url=database_url)
        except LookupError:
            status = None
        if status is not None and status.state in TERMINAL:
            return status
        time.sleep(0.25)
    raise AssertionError(f"batch {batch_id} did not end within {timeout}s: {status}")
