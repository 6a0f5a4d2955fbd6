"""Private server instances the fault tests may kill and restart.

The machine's shared PostgreSQL, Redis and RabbitMQ are never touched: each class starts an
instance of its own on a free port, in a temporary directory, and can kill it (SIGKILL, no
shutdown) and start it again on the same port and data. Every one is a real server process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

POSTGRES_USER = "postgres"
"""initdb refuses to run as root; the instance runs as this system user."""


class ServiceUnavailableError(RuntimeError):
    """The server cannot be started here (the reason says why); tests skip or fail on it."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceUnavailableError(f"the server on port {port} exited: {process.returncode}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise ServiceUnavailableError(f"nothing listens on port {port} after {timeout} s")


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode:
        output = (done.stdout + done.stderr).decode(errors="replace")
        raise ServiceUnavailableError(f"{' '.join(command)} failed ({done.returncode}): {output}")


def _run_as(user: str) -> list[str]:
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb + pg_ctl), trust authentication."""

    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl"):
            if shutil.which(tool) is None:
                raise ServiceUnavailableError(f"{tool} is not installed")
        # Its own directory under /tmp: pytest's are private to root, and the server runs
        # as the postgres user.
        directory = Path(tempfile.mkdtemp(prefix="cj-fault-postgres-"))
        if os.geteuid() == 0:
            shutil.chown(directory, POSTGRES_USER)
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        _run(
            [
                *_run_as(POSTGRES_USER),
                "initdb",
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        self.start()

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c max_connections=200"
        )
        _run(
            [
                *_run_as(POSTGRES_USER),
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.directory / "server.log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        )

    def kill(self) -> None:
        """Stop at once, as a crash would (``immediate``: no checkpoint, clients cut off)."""
        _run([*_run_as(POSTGRES_USER), "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"])

    def create_database(self, name: str) -> str:
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(ServiceUnavailableError):
            self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """A redis-server of its own, without persistence: a restart comes back empty."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            raise ServiceUnavailableError("redis-server is not installed")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, 20, self.process)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        self.kill()


class PrivateRabbitMQ:
    """A RabbitMQ node of its own (its own node name, ports and data directory).

    Quorum queues keep their messages in the node's data directory, so a killed node
    restarted on the same directory has them back.
    """

    SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")

    def __init__(self, directory: Path) -> None:
        if not self.SERVER.exists():
            raise ServiceUnavailableError(f"{self.SERVER} is not installed")
        if os.geteuid() != 0:
            raise ServiceUnavailableError("a private RabbitMQ node needs root here")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "home").mkdir(exist_ok=True)
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"cjfault{self.port}@localhost"
        (directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (directory / "enabled_plugins").write_text("[].\n")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment.update(
            HOME=str(self.directory / "home"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.directory / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.directory / "log"),
            RABBITMQ_CONFIG_FILE=str(self.directory / "rabbitmq"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.directory / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(self.directory / "pid"),
        )
        return environment

    def start(self, timeout: float = 90) -> None:
        log = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(self.SERVER)],
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout, self.process)
        self._wait_until_it_accepts_logins(timeout)

    def _wait_until_it_accepts_logins(self, timeout: float) -> None:
        from kombu import Connection

        deadline = time.monotonic() + timeout
        while True:
            try:
                with Connection(self.url, connect_timeout=2) as connection:
                    connection.ensure_connection(max_retries=1)
                    return
            except Exception as error:
                if time.monotonic() > deadline:
                    raise ServiceUnavailableError(
                        f"RabbitMQ never accepted a login: {error}"
                    ) from error
                time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL the node's whole process group (the Erlang VM and its helpers)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
