"""A small cj-worker deployment of real processes: control workers, a judge worker, a beat.

Each worker is ``python -m celery -A tests.fault.faulty_app worker`` in a process group of
its own (so a crash point can SIGKILL the whole worker, main process and pool), configured
only through the environment with the **default** deployment settings, as a deployment is.
A supervisor thread, when on, restarts a dead worker after a second, like a container
restart policy; the broker-restart tests turn it off to show workers outlive the broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery

from cj_worker import task_names
from cj_worker.celery_app import configure
from cj_worker.config import Settings
from cj_worker.payloads import BatchRequest
from tests.fault.crash_points import PLAN_ENV

ROOT = Path(__file__).resolve().parents[2]
CONTROL_QUEUES = ",".join(
    (task_names.INTAKE_QUEUE, task_names.CALLBACKS_QUEUE, task_names.CONTROL_QUEUE)
)
RESTART_DELAY_SECONDS = 1.0


@dataclass
class Process:
    """One worker or beat process and how to start it again."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    deaths: list[float] = field(default_factory=list)

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def stop(self) -> None:
        """End the process group at once: the tests are over, nothing needs to finish."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGKILL)
        self.popen.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Cluster:
    """Two control workers, one judge worker and a beat on one broker and database."""

    def __init__(self, broker_url: str, database_url: str, directory: Path) -> None:
        self.broker_url = broker_url
        self.database_url = database_url
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.plan_path = directory / "plan.json"
        self.plan_path.write_text("[]")
        self.env = self._environment()
        self.processes: dict[str, Process] = {}
        self.supervise = True
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._watch, daemon=True)
        self.producer = Celery("producer")
        configure(self.producer, Settings(database_url=database_url, broker_url=broker_url))

    def _environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("CJ_") and key != "PROMETHEUS_MULTIPROC_DIR"
        }
        env.update(
            CJ_DATABASE_URL=self.database_url,
            CJ_BROKER_URL=self.broker_url,
            CJ_METRICS_PORT="0",
            CJ_LOG_FORMAT="text",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
        )
        env[PLAN_ENV] = str(self.plan_path)
        env["CJ_FAULT_DEBUG"] = str(self.directory / "fire.log")
        if "result_token_secrets" in Settings.model_fields:
            env["CJ_RESULT_TOKEN_SECRETS"] = "fault-tests-secret"
        return env

    # ------------------------------------------------------------------ processes

    def _worker(self, name: str, queues: str, concurrency: int) -> Process:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.fault.faulty_app",
            "worker",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]
        return Process(name, command, self.directory / f"{name}.log", self.env)

    def start(self) -> None:
        beat_schedule = self.directory / "beat-schedule"
        self.processes = {
            "control-a": self._worker("control-a", CONTROL_QUEUES, 2),
            "control-b": self._worker("control-b", CONTROL_QUEUES, 2),
            "judge": self._worker("judge", task_names.JUDGE_QUEUE, 2),
            "beat": Process(
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "cj_worker.celery_app",
                    "beat",
                    "--schedule",
                    str(beat_schedule),
                    "--loglevel",
                    "INFO",
                ],
                self.directory / "beat.log",
                self.env,
            ),
        }
        for process in self.processes.values():
            process.start()
        self.wait_ready(list(self.processes))
        self._supervisor.start()

    def wait_ready(self, names: Sequence[str], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            process = self.processes[name]
            marker = "beat: Starting" if name == "beat" else "ready."
            while process.log().count(marker) < process.starts:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready:\n{process.log()[-3000:]}")
                time.sleep(0.2)

    def wait_alive(self, timeout: float = 90) -> None:
        """Until every process runs (the supervisor restarts the dead) and is ready."""
        deadline = time.monotonic() + timeout
        while not all(process.alive for process in self.processes.values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"processes still dead:\n{self.logs()}")
            time.sleep(0.2)
        self.wait_ready(list(self.processes), timeout)

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            for process in self.processes.values():
                if process.popen is None or process.alive:
                    continue
                if not process.deaths or process.deaths[-1] < process.starts:
                    process.deaths.append(process.starts)
                if self.supervise and not self._stopping.is_set():
                    time.sleep(RESTART_DELAY_SECONDS)
                    process.signal_group(signal.SIGKILL)  # orphaned pool processes
                    process.start()

    @contextmanager
    def unsupervised(self) -> Iterator[None]:
        self.supervise = False
        try:
            yield
        finally:
            self.supervise = True

    def deaths(self) -> dict[str, int]:
        """How often each process died (crash points, kills) since the cluster started."""
        return {name: len(process.deaths) for name, process in self.processes.items()}

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=5)
        for process in self.processes.values():
            process.stop()

    def submit(self, request: BatchRequest, **fields: Any) -> None:
        """Send ``cj.create_batch`` as a producer does (``fields`` add to the request)."""
        payload = request.model_copy(update=fields).model_dump(mode="json")
        self.producer.signature(task_names.CREATE_BATCH, kwargs={"request": payload}).apply_async(
            queue=task_names.INTAKE_QUEUE
        )

    # ------------------------------------------------------------------ faults

    def plan(self, faults: list[dict[str, Any]]) -> list[Path]:
        """Arm crash points (see ``tests.fault.crash_points``); returns their marker files.

        A fault strikes once unless it says ``"once": False`` (a poison message).
        """
        armed, markers = [], []
        for fault in faults:
            fault = dict(fault)
            if fault.pop("once", True):
                marker = self.directory / f"marker-{uuid.uuid4().hex}"
                fault["marker"] = str(marker)
                markers.append(marker)
            armed.append(fault)
        self._write_plan(armed)
        return markers

    def _write_plan(self, faults: list[dict[str, Any]]) -> None:
        # Atomically: a worker reading the plan never sees half of it.
        staged = self.plan_path.with_suffix(".tmp")
        staged.write_text(json.dumps(faults))
        staged.replace(self.plan_path)

    def disarm(self) -> None:
        self._write_plan([])

    def logs(self) -> str:
        return "\n".join(
            f"===== {name} =====\n{process.log()[-4000:]}"
            for name, process in self.processes.items()
        )
