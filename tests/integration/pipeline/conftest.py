"""Real Celery workers on each broker (Redis and RabbitMQ) and a throw-away PostgreSQL
database.

Each worker is a separate ``cj-worker worker`` process, configured only through the
environment (``worker_env``, see ``tests/integration/conftest.py``) as a deployment is.
Every test runs once per broker: on the local Redis (a database index of its own), and on
the local RabbitMQ in a virtual host of its own, created for the session and deleted after
it (the shared server itself is never restarted or reconfigured otherwise).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery

from cj_worker import task_names
from cj_worker.celery_app import configure
from cj_worker.client import get_status
from cj_worker.config import Settings
from cj_worker.db.repositories.reports import BatchStatus

RABBITMQ_URL = os.environ.get("CJ_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
"""The shared RabbitMQ; the tests use a virtual host of their own on it."""


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(["rabbitmqctl", *arguments], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """A fresh virtual host on the shared RabbitMQ, deleted after the session."""
    vhost = f"cj-test-{secrets.token_hex(4)}"
    try:
        if shutil.which("rabbitmqctl") is None:
            raise OSError("rabbitmqctl is not installed")
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError) as error:
        reason = f"no RabbitMQ virtual host: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
        pytest.skip(reason)
    try:
        yield f"{RABBITMQ_URL}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session", params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each pipeline test runs on both brokers."""
    fixture = "redis_url" if request.param == "redis" else "rabbitmq_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(scope="session")
def worker_env(worker_env: dict[str, str], broker_url: str) -> dict[str, str]:
    return {**worker_env, "CJ_BROKER_URL": broker_url}


@pytest.fixture(scope="session")
def producer(worker_env: dict[str, str]) -> Celery:
    """A producer's app on the test's broker: same broker, no tasks of its own."""
    app = Celery("producer")
    configure(
        app,
        Settings(
            database_url=worker_env["CJ_DATABASE_URL"], broker_url=worker_env["CJ_BROKER_URL"]
        ),
    )
    return app


TERMINAL = ("completed", "failed", "cancelled")


class Worker:
    def __init__(
        self, env: dict[str, str], log_path: Path, concurrency: int, queues: str, via_celery: bool
    ) -> None:
        self.log_path = log_path
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        """Node name before the ``@host`` part, as Flower and ``celery inspect`` show it."""
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
                f"{self.name}@%h",
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
