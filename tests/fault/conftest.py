"""The fault suite's servers and deployments: private instances only, one cluster per broker.

A private PostgreSQL (initdb + pg_ctl on a free port) holds one database per broker; a
private redis-server and a private RabbitMQ node are the brokers. Each broker gets one
:class:`~tests.fault.cluster.Cluster` (two control workers, a judge worker, beat) for the
whole session, and every test runs its own batch on it, so tests of one broker run in
order and never share a batch. Where a server cannot be started here the tests of that
broker skip, except in CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cj_worker.db.migrate import upgrade
from tests.fault.cluster import Cluster
from tests.fault.services import (
    PrivatePostgres,
    PrivateRabbitMQ,
    PrivateRedis,
    ServiceUnavailableError,
)

Broker = PrivateRedis | PrivateRabbitMQ


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fault: kills real workers, brokers and databases (private instances); minutes",
    )


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fault_directory(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Logs, plans and markers of the session, outside pytest's temporary directories
    (which a concurrent pytest run may prune while the workers still write there); kept
    when a test failed, or ``CJ_FAULT_KEEP_LOGS`` is set, for the worker logs."""
    directory = Path(tempfile.mkdtemp(prefix="cj-fault-"))
    yield directory
    if request.session.testsfailed or os.environ.get("CJ_FAULT_KEEP_LOGS"):
        print(f"\nfault suite logs kept in {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres()
    except (ServiceUnavailableError, OSError) as error:
        _unavailable(f"no private PostgreSQL: {error}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session", params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, fault_directory: Path) -> Iterator[Broker]:
    server: Broker
    try:
        if request.param == "redis":
            server = PrivateRedis(fault_directory / "redis")
        else:
            server = PrivateRabbitMQ(fault_directory / "rabbitmq")
    except (ServiceUnavailableError, OSError) as error:
        _unavailable(f"no private {request.param}: {error}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def cluster(
    broker: Broker, private_postgres: PrivatePostgres, fault_directory: Path
) -> Iterator[Cluster]:
    kind = "redis" if isinstance(broker, PrivateRedis) else "rabbitmq"
    database_url = private_postgres.create_database(f"cj_fault_{kind}_{secrets.token_hex(3)}")
    upgrade(database_url)
    deployment = Cluster(broker.url, database_url, fault_directory / f"cluster-{kind}")
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def armed(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, with every process running and no fault armed after the test."""
    yield cluster
    cluster.disarm()
    cluster.supervise = True
    for process in cluster.processes.values():
        process.signal_group(signal.SIGCONT)  # a test may have paused one
    cluster.wait_alive()
