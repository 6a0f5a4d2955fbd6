"""One real worker with metrics on, Flower watching it, and one batch run through both.

The worker and Flower are separate processes on the local Redis (``worker_env``) and a
PostgreSQL database of this package's own, so the backlog gauges see this batch only.
They live for the package's tests and stop before any other test runs, so
they never take messages meant for another test's worker.
"""

from __future__ import annotations

import base64
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery

from cj_worker import client
from cj_worker.db.migrate import upgrade
from cj_worker.db.repositories.reports import BatchStatus
from cj_worker.payloads import EssayIn, SimulatedJudge
from tests.databases import temporary_database
from tests.integration.pipeline.conftest import Worker, wait_terminal

FLOWER_USER = ("ops", "not-a-secret")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    """Status and body of a GET (an HTTP error status is returned, not raised)."""
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(":".join(auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout}s")
        time.sleep(0.2)


@dataclass(frozen=True)
class Deployment:
    worker: Worker
    metrics_url: str
    flower_url: str
    database_url: str


@dataclass(frozen=True)
class ObservedBatch:
    deployment: Deployment
    batch_id: uuid.UUID
    status: BatchStatus


@pytest.fixture(scope="package")
def ops_database(pg_admin_url: str) -> Iterator[str]:
    with temporary_database(pg_admin_url) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="package")
def deployment(
    worker_env: dict[str, str], ops_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    logs = tmp_path_factory.mktemp("ops")
    env = {**worker_env, "CJ_DATABASE_URL": ops_database}
    metrics_port, flower_port = free_port(), free_port()
    worker = Worker(
        {**env, "CJ_METRICS_PORT": str(metrics_port)},
        logs / "worker.log",
        concurrency=2,
        queues="cj.intake,cj.callbacks,cj.control,cj.judge",
        via_celery=False,
    )
    flower = _start_flower(env, flower_port, logs / "flower.log")
    try:
        worker.wait_ready()
        flower_url = f"http://127.0.0.1:{flower_port}"
        wait_for(lambda: _answers(f"{flower_url}/healthcheck"), "Flower did not answer")
        yield Deployment(
            worker, f"http://127.0.0.1:{metrics_port}/metrics", flower_url, env["CJ_DATABASE_URL"]
        )
    finally:
        worker.stop()
        flower.send_signal(signal.SIGTERM)
        try:
            flower.wait(timeout=15)
        except subprocess.TimeoutExpired:
            flower.kill()
            flower.wait()


@pytest.fixture(scope="package")
def observed_batch(deployment: Deployment, producer: Celery) -> ObservedBatch:
    """A small batch run to the end while Flower watches."""
    essays = [EssayIn(id=f"e{i}", text=f"essay {i}", true_score=float(i)) for i in range(6)]
    batch_id = client.submit_batch(
        essays, budget=30, judge=SimulatedJudge(discrimination=3.0, seed=2), app=producer
    )
    status = wait_terminal(batch_id, deployment.database_url, timeout=90)
    assert status.state == "completed", status
    return ObservedBatch(deployment, batch_id, status)


def _start_flower(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("w") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cj_worker.cli",
                "flower",
                "--port",
                str(port),
                "--address=127.0.0.1",
                f"--basic_auth={':'.join(FLOWER_USER)}",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _answers(url: str) -> bool:
    try:
        return http_get(url, FLOWER_USER)[0] == 200
    except OSError:
        return False
