"""The pipeline benchmark of issue 13: callbacks/s, latencies, wave cost and broker bytes.

Run from the repository root: ``PYTHONPATH=. python benchmarks/pipeline.py`` (four to eight
minutes on two cores), or ``--quick`` for a smoke run at tiny sizes (no targets apply).
Needs the local PostgreSQL (``CJ_TEST_POSTGRES_ADMIN_URL`` or postgres@127.0.0.1) and Redis.

**What it starts.** Everything is its own: a fresh PostgreSQL database ``cj_bench_<hex>``
(migrated with ``cj_worker.db.migrate.upgrade``, dropped at exit) and a Redis database of
its own (``--redis-url``, default ``redis://127.0.0.1:6379/9``; refused if it holds keys of
anyone else, flushed at the start and the end) as the broker. One cj worker with two pool
processes (``celery -A cj_worker.celery_app worker --concurrency 2 -Q <every cj queue>
--include benchmarks.pipeline_tasks``, settings as ``CJ_*`` variables, default log level
and format) and one judge process (``pipeline_judge.py``: a kombu consumer of the batches'
external judge queue that answers every request at once through ``cj_worker.client``,
echoing its token, the winner a coin seeded by the comparison id). Every process is ended
and the database dropped at exit, also on Ctrl-C or an error.

**Sections** (in the order they run):

f  Redis bytes per pending judge request, built-in simulated judge and external judge: one
   coverage wave dispatched by the package's own transport into queues nobody consumes,
   ``MEMORY USAGE ... SAMPLES 0`` of the queues over their length; and whether a marker
   in every essay text appears in the message headers (``argsrepr``/``kwargsrepr``, what
   task events and so Flower show). Runs before any worker starts (``pipeline_offline``).
e  Continuation and finalize time and peak RSS at ``--sizes`` essays, each size in fresh
   processes (``pipeline_offline``: one stores the batch through ``cj.create_batch``, the
   next runs the wave-0 continuation, answers the wave by SQL, then times the wave-1
   continuation (fit, decide, insert and dispatch wave 2, into Redis), answers the rest
   and times ``cj.finalize_scoring``; ``ru_maxrss`` of that second process).
base  The same worker's floor, same broker, same queue (``cj.callbacks``), same run: a
   no-op task and a one-transaction task (lock a row ``FOR UPDATE``, insert a row, update
   the locked row), N sent at once; both count completions with one Redis ``INCR``
   (``pipeline_tasks``); rate = (N - 1) / (last completion - first completion). Taken
   before a and after each of a, b and c: a section's ratios divide by the mean of the
   two taken around it, so a drift in the machine's load (other processes) cancels.
a, b  Callbacks/s through the whole pipeline with the instant judge: (a) one batch of 200
   essays, (b) 50 batches of 30 essays, 10 comparisons per essay, stability threshold 0
   (batches spend exactly their budget). Rate = answered comparisons / the time during
   which at least one wave was open, a wave being open from the judge's first callback of
   it to its last row's ``completed_at``: the continuations between the waves of one batch
   are section d's business, not the callbacks'. The end-to-end rate (first callback to
   last commit, continuations included) is printed beside it.
c  Per-callback cost against the size of the wave: a 200-essay batch with one wave of
   100 / 1,000 / 20,000 pending rows prepared in the database, up to 1,000 callbacks sent
   straight to ``cj.callbacks`` (never the wave's last, so no continuation runs), in five
   rounds each visiting every size; rate from the first to the last ``completed_at`` of
   each round, shown as wall microseconds per callback with two processes. "Flat" here:
   the cost at the largest wave at most 1.25 times that at 100.
d  Latencies at half the peak rate: batches of section b's shape (16 of 30 essays),
   submitted one per (budget / rate) seconds, the judge pacing its callbacks to half the
   rate section b reached (the peak of that workload: its continuations share the two
   processes with its callbacks).
   Callback->commit: the judge's send time (recorded in Redis) to the row's
   ``completed_at`` (set in the callback's transaction, just before its commit).
   Wave->next wave: last ``completed_at`` of wave w to the first ``created_at`` of wave
   w + 1 (the next wave's rows exist), and to its first ``sent_at`` (its requests are in
   the broker).

All rates and ratios are of the same run on the same machine; the figures move with the
machine's load (printed in the header), the ratios much less.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pipeline_support as support
import pipeline_tasks
import redis
import sqlalchemy as sa
from celery import Celery
from results_table import Row, render, verdict
from sqlalchemy.orm import Session

from cj_worker import task_names, tokens
from cj_worker.celery_app import configure
from cj_worker.client import record_result, submit_batch
from cj_worker.config import AlgorithmSettings, Settings
from cj_worker.db.migrate import upgrade
from cj_worker.db.models import Batch, Comparison, Essay
from cj_worker.db.states import BatchState, ComparisonRowStatus, GenerationMode
from cj_worker.payloads import ExternalJudge

TARGET_RATIO_TO_NOOP = 0.5
TARGET_P95_CALLBACK_MS = 100.0
TARGET_P95_WAVE_GAP_MS = 250.0
TARGET_CONTINUATION_S = 3.0
TARGET_FINALIZE_S = 3.0
TARGET_RSS_MB = 400.0
TARGET_SIZE = 20_000
"""The essays at which the continuation, finalize and RSS targets apply."""
TARGET_BUILT_IN_REQUEST_BYTES = 1024
FLAT_TOLERANCE = 1.25
"""Per-callback cost at the largest wave over the cost at 100 pending rows that counts as
flat: a quarter allows for the noise of a two-core machine running five busy processes."""
NEVER_STABLE = {"score_stability_threshold": 0.0}
TERMINAL = (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED)
PENDING_ROUNDS = 5
"""Section c sends its callbacks in this many rounds, each visiting every wave size."""
PREPARED_ESSAYS = 200
"""Essays of section c's prepared batch: 39,800 ordered pairs, room for a 20,000-row wave."""


@dataclass(frozen=True)
class Plan:
    """Sizes of one run; the targets apply to the full plan only."""

    baseline_tasks: int
    single: tuple[int, int, int]
    """Batches, essays per batch, comparisons per batch of section a."""
    many: tuple[int, int, int]
    latency: tuple[int, int, int]
    pending: tuple[int, ...]
    callbacks_per_wave: int
    sizes: tuple[int, ...]
    redis_essays: int
    targets_apply: bool


FULL = Plan(
    baseline_tasks=1_000,
    single=(1, 200, 2_000),
    many=(50, 30, 150),
    latency=(16, 30, 150),
    pending=(100, 1_000, 20_000),
    callbacks_per_wave=1_000,
    sizes=(1_000, 5_000, TARGET_SIZE),
    redis_essays=1_000,
    targets_apply=True,
)
QUICK = Plan(
    baseline_tasks=100,
    single=(1, 20, 60),
    many=(3, 10, 30),
    latency=(3, 10, 30),
    pending=(100, 1_000),
    callbacks_per_wave=20,
    sizes=(40,),
    redis_essays=40,
    targets_apply=False,
)


_STARTED = time.monotonic()


def progress(text: str) -> None:
    elapsed = time.monotonic() - _STARTED
    print(f"[pipeline {elapsed:5.0f} s] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- processes


class Process:
    """A child process in a session of its own, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        with log.open("ab") as output:
            self.popen = subprocess.Popen(
                command,
                env=env,
                cwd=support.ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for(self, marker: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.log():
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} died:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the process itself (not its children); NaN off Linux."""
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM to the whole group (main process and pool), SIGKILL if it lingers."""
        if self.popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # pool children left behind


def run_child(command: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``pipeline_offline.py`` with ``command``; its ``RESULT`` line as a dict."""
    popen = subprocess.Popen(
        [sys.executable, str(support.BENCHMARKS / "pipeline_offline.py"), *command],
        env=env,
        cwd=support.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = popen.communicate(timeout=timeout)
    finally:
        if popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if popen.returncode != 0 or not lines:
        raise RuntimeError(f"pipeline_offline.py {' '.join(command)} failed:\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


# ---------------------------------------------------------------------------- the run


@dataclass
class Flow:
    """What a set of batches did, from their rows and the judge's send times."""

    answered: int
    open_seconds: float
    span_seconds: float
    callback_ms: list[float]
    gap_created_ms: list[float]
    gap_sent_ms: list[float]

    @property
    def rate(self) -> float:
        return self.answered / self.open_seconds if self.open_seconds > 0 else math.nan

    @property
    def end_to_end_rate(self) -> float:
        return self.answered / self.span_seconds if self.span_seconds > 0 else math.nan


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


@dataclass
class Bench:
    """The servers, processes and clients of one run."""

    plan: Plan
    database_url: str
    redis_url: str
    essay_chars: int
    log_dir: Path
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = support.environment(self.database_url, self.redis_url, self.secret)
        self.redis = support.redis_client(self.redis_url)
        self.engine = sa.create_engine(self.database_url)
        self.producer = Celery("cj-bench-producer")
        configure(
            self.producer, Settings(database_url=self.database_url, broker_url=self.redis_url)
        )
        self.judge_spec = ExternalJudge(task=support.JUDGE_TASK, queue=support.JUDGE_QUEUE)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.engine.dispose()
        self.producer.close()

    # ------------------------------------------------------------------ processes

    def start(self) -> None:
        worker = Process(
            "cj worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "cj_worker.celery_app",
                "worker",
                "--concurrency",
                "2",
                "--queues",
                ",".join(task_names.QUEUES),
                "--include",
                "benchmarks.pipeline_tasks",
                "--hostname",
                f"cjbench-{secrets.token_hex(3)}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            self.env,
            self.log_dir / "worker.log",
        )
        self.processes.append(worker)
        self.judge = Process(
            "judge",
            [sys.executable, str(support.BENCHMARKS / "pipeline_judge.py")],
            self.env,
            self.log_dir / "judge.log",
        )
        self.processes.append(self.judge)
        worker.wait_for("ready.", timeout=90)
        self.judge.wait_for("judge ready", timeout=60)

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log_path})\n{p.tail()}" for p in self.processes)

    # ------------------------------------------------------------------ baselines

    def baseline(self, task: str, count: int) -> float:
        """Tasks/s of ``count`` tasks sent at once to ``cj.callbacks``."""
        run = f"{task}-{secrets.token_hex(4)}"
        with self.producer.producer_or_acquire() as producer:
            for _ in range(count):
                self.producer.send_task(
                    task,
                    args=[run, count],
                    queue=task_names.CALLBACKS_QUEUE,
                    producer=producer,
                )
        deadline = time.monotonic() + 60 + count / 20
        while not self.redis.exists(pipeline_tasks.last_key(run)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{task}: not all {count} tasks ran\n{self.logs()}")
            self.check_alive()
            time.sleep(0.05)
        first = float(self.redis.get(pipeline_tasks.first_key(run)) or 0)
        last = float(self.redis.get(pipeline_tasks.last_key(run)) or 0)
        return (count - 1) / (last - first) if last > first else math.nan

    # ------------------------------------------------------------------ batches

    def run_batches(self, count: int, essays: int, budget: int, stagger: float = 0.0) -> Flow:
        """Submit ``count`` batches, ``stagger`` seconds apart; wait for them to end; read
        what they did."""
        texts = support.essays(essays, self.essay_chars)
        ids = [uuid.uuid4() for _ in range(count)]
        for index, batch_id in enumerate(ids):
            if index and stagger:
                self.check_alive()
                time.sleep(stagger)
            submit_batch(
                texts,
                budget=budget,
                judge=self.judge_spec,
                settings=NEVER_STABLE,
                batch_id=batch_id,
                app=self.producer,
            )
        self.wait_terminal(ids, timeout=120 + count * budget / 10)
        return self.flow(ids)

    def wait_terminal(self, ids: list[uuid.UUID], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        statement = sa.select(Batch.state, sa.func.count()).where(Batch.id.in_(ids))
        while True:
            with self.engine.connect() as connection:
                states = dict(connection.execute(statement.group_by(Batch.state)).all())
            ended = sum(n for state, n in states.items() if BatchState(state) in TERMINAL)
            if ended == len(ids):
                failed = states.get(BatchState.FAILED, 0) + states.get(BatchState.CANCELLED, 0)
                if failed:
                    raise RuntimeError(f"{failed} of {len(ids)} batches failed\n{self.logs()}")
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"batches not ended after {timeout:.0f} s: {states}")
            self.check_alive()
            time.sleep(0.25)

    def sent_times(self, ids: Sequence[str]) -> dict[str, float]:
        """The judge's send time of each comparison id it answered (waits for its flush)."""
        times: dict[str, float] = {}
        deadline = time.monotonic() + 5
        missing = list(ids)
        while missing:
            for start in range(0, len(missing), 1_000):
                chunk = missing[start : start + 1_000]
                values = self.redis.hmget(support.JUDGE_SENT_KEY, chunk)
                for key, value in zip(chunk, values, strict=True):
                    if value is not None:
                        times[key] = float(value)
            missing = [key for key in missing if key not in times]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return times

    def flow(self, ids: list[uuid.UUID]) -> Flow:
        sent_at = getattr(Comparison, "sent_at", None)
        columns = [
            Comparison.id,
            Comparison.batch_id,
            Comparison.wave,
            Comparison.created_at,
            Comparison.completed_at,
        ]
        statement = sa.select(*columns, *([sent_at] if sent_at is not None else [])).where(
            Comparison.batch_id.in_(ids)
        )
        with Session(self.engine) as session:
            rows = session.execute(statement).all()
        answered = [row for row in rows if row.completed_at is not None]
        sent = self.sent_times([str(row.id) for row in answered])
        waves: dict[tuple[uuid.UUID, int], list[Any]] = defaultdict(list)
        for row in rows:
            waves[(row.batch_id, row.wave)].append(row)
        intervals: list[tuple[float, float]] = []
        latencies: list[float] = []
        for wave_rows in waves.values():
            pairs = [
                (sent[str(row.id)], _epoch(row.completed_at))
                for row in wave_rows
                if str(row.id) in sent and row.completed_at is not None
            ]
            done = [(s, c) for s, c in pairs if c is not None]
            if done:
                intervals.append((min(s for s, _ in done), max(c for _, c in done)))
                latencies.extend((c - s) * 1000 for s, c in done)
        gaps_created: list[float] = []
        gaps_sent: list[float] = []
        for (batch_id, wave), wave_rows in waves.items():
            following = waves.get((batch_id, wave + 1))
            finished = [_epoch(row.completed_at) for row in wave_rows]
            if not following or any(value is None for value in finished):
                continue
            last = max(value for value in finished if value is not None)
            created = [_epoch(row.created_at) for row in following]
            gaps_created.append((min(v for v in created if v is not None) - last) * 1000)
            sends = [_epoch(getattr(row, "sent_at", None)) for row in following]
            if sends and all(value is not None for value in sends):
                gaps_sent.append((min(v for v in sends if v is not None) - last) * 1000)
        span = (
            max(stop for _, stop in intervals) - min(start for start, _ in intervals)
            if intervals
            else 0.0
        )
        return Flow(
            answered=len(latencies),
            open_seconds=_union_seconds(intervals),
            span_seconds=span,
            callback_ms=latencies,
            gap_created_ms=gaps_created,
            gap_sent_ms=gaps_sent,
        )

    # ------------------------------------------------------------------ prepared waves

    def prepared_wave(self, pending: int, seed: int) -> list[uuid.UUID]:
        """A 200-essay batch collecting wave 1 of ``pending`` rows; their ids."""
        batch_id = uuid.uuid4()
        rng = random.Random(seed)
        pairs = [(a, b) for a in range(PREPARED_ESSAYS) for b in range(PREPARED_ESSAYS) if a != b]
        chosen = rng.sample(pairs, pending)
        now = datetime.now(UTC)
        comparison_ids = [uuid.uuid4() for _ in chosen]
        with Session(self.engine) as session, session.begin():
            session.add(
                Batch(
                    id=batch_id,
                    state=BatchState.COLLECTING,
                    total_budget=2 * pending,
                    settings=AlgorithmSettings().override(NEVER_STABLE).model_dump(mode="json"),
                    judge=ExternalJudge(
                        task=support.JUDGE_TASK, queue=support.PARKED_QUEUE
                    ).model_dump(mode="json"),
                    seed=seed,
                    current_wave=1,
                    comparisons_submitted=pending,
                )
            )
            session.flush()
            session.execute(
                sa.insert(Essay),
                [
                    {
                        "batch_id": batch_id,
                        "external_id": f"essay-{position:05d}",
                        "position": position,
                        "text": support.essay_text(position, self.essay_chars),
                    }
                    for position in range(PREPARED_ESSAYS)
                ],
            )
            session.execute(
                sa.insert(Comparison),
                [
                    {
                        "id": comparison_id,
                        "batch_id": batch_id,
                        "wave": 1,
                        "essay_a": a,
                        "essay_b": b,
                        "mode": GenerationMode.COVERAGE,
                        "attempt": 1,
                        "status": ComparisonRowStatus.PENDING,
                        "sends": 1,
                        "sent_at": now,
                    }
                    for comparison_id, (a, b) in zip(comparison_ids, chosen, strict=True)
                ],
            )
        return comparison_ids

    def callbacks_into(self, comparison_ids: list[uuid.UUID]) -> tuple[int, float]:
        """Send one callback per id straight to ``cj.callbacks``; (answered, seconds from
        the first to the last ``completed_at``)."""
        keys = [self.secret.encode()]
        for comparison_id in comparison_ids:
            record_result(
                comparison_id,
                token=tokens.token_for(comparison_id, keys),
                winner=support.coin(comparison_id),
                judge_id=support.JUDGE_ID,
                app=self.producer,
            )
        statement = sa.select(
            sa.func.count(),
            sa.func.min(Comparison.completed_at),
            sa.func.max(Comparison.completed_at),
        ).where(Comparison.id.in_(comparison_ids), Comparison.completed_at.is_not(None))
        deadline = time.monotonic() + 60 + len(comparison_ids) / 10
        while True:
            with Session(self.engine) as session:
                done, first, last = session.execute(statement).one()
            if done == len(comparison_ids):
                return done, (_epoch(last) or 0.0) - (_epoch(first) or 0.0)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {len(comparison_ids)} callbacks committed")
            self.check_alive()
            time.sleep(0.1)


# ---------------------------------------------------------------------------- sections


def _ms(values: list[float]) -> str:
    if not values:
        return "no samples"
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"p50 {p50:.0f} / p95 {p95:.0f} / p99 {p99:.0f} ms (n={len(values)})"


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else math.nan


JUDGE_KINDS = (
    ("simulated", "built-in simulated judge", True),
    ("llm", "built-in LLM judge", True),
    ("external", "external judge", False),
)
"""Judges of section f, and whether the built-in request target applies to them."""


def section_redis(bench_env: dict[str, str], plan: Plan, chars: int) -> list[Row]:
    result = run_child(
        ["redis-bytes", "--essays", str(plan.redis_essays), "--essay-chars", str(chars)],
        bench_env,
        timeout=300,
    )
    rows = []
    for kind, label, built_in in JUDGE_KINDS:
        figures = result[kind]
        per = figures["bytes_per_request"]
        measured = f"{per:,.0f} B" if per is not None else "no requests"
        case = (
            f"Redis bytes per pending request, {label}"
            f" ({figures['requests']} in {figures['messages']} messages)"
        )
        if built_in:
            ok = per is not None and per <= TARGET_BUILT_IN_REQUEST_BYTES
            rows.append(Row("f", case, measured, "<= 1,024 B", verdict(ok, plan.targets_apply)))
        else:
            rows.append(Row("f", case, measured, "(carries the texts)"))
    for kind, label, _ in JUDGE_KINDS:
        figures = result[kind]
        headers, bodies = figures["marker_in_headers"], figures["marker_in_body"]
        messages = figures["messages"]
        rows.append(
            Row(
                "f",
                f"essay text in argsrepr/kwargsrepr (Flower), {label}",
                f"{headers} of {messages} messages",
                "0",
                verdict(headers == 0, plan.targets_apply),
            )
        )
        rows.append(Row("f", f"essay text in message bodies, {label}", f"{bodies} of {messages}"))
    return rows


def section_sizes(
    bench_env: dict[str, str], plan: Plan, sizes: Sequence[int], chars: int
) -> list[Row]:
    rows = []
    for size in sizes:
        progress(f"e: {size:,} essays")
        prepared = run_child(
            ["prepare", "--essays", str(size), "--essay-chars", str(chars)],
            bench_env,
            timeout=900,
        )
        measured = run_child(
            ["measure", "--batch-id", prepared["batch_id"]], bench_env, timeout=900
        )
        applies = plan.targets_apply and size == TARGET_SIZE
        where = f"{size:,} essays"
        rows += [
            Row(
                "e",
                f"{where}: intake (cj.create_batch, one process)",
                f"{prepared['intake_s']:.2f} s",
            ),
            Row(
                "e",
                f"{where}: wave-0 continuation ({measured['wave1_rows']:,} rows, dispatched;"
                " transaction before commit)",
                f"{measured['wave0_s']:.2f} s ({measured['wave0_body_s']:.2f})",
            ),
            Row(
                "e",
                f"{where}: continuation (fit, decide, next wave, dispatch; before commit)",
                f"{measured['continuation_s']:.2f} s ({measured['continuation_body_s']:.2f})",
                f"<= {TARGET_CONTINUATION_S:.0f} s at {TARGET_SIZE:,}",
                verdict(measured["continuation_s"] <= TARGET_CONTINUATION_S, applies),
            ),
            Row(
                "e",
                f"{where}: last continuation (fit, decide to finalize)",
                f"{measured['last_decision_s']:.2f} s",
            ),
            Row(
                "e",
                f"{where}: finalize (cj.finalize_scoring)",
                f"{measured['finalize_s']:.2f} s",
                f"<= {TARGET_FINALIZE_S:.0f} s at {TARGET_SIZE:,}",
                verdict(measured["finalize_s"] <= TARGET_FINALIZE_S, applies),
            ),
            Row(
                "e",
                f"{where}: peak RSS (after continuations; imports alone"
                f" {measured['rss_start_mb']:.0f} MB)",
                f"{measured['rss_peak_mb']:.0f} MB ({measured['rss_after_continuation_mb']:.0f})",
                f"<= {TARGET_RSS_MB:.0f} MB at {TARGET_SIZE:,}",
                verdict(measured["rss_peak_mb"] <= TARGET_RSS_MB, applies),
            ),
        ]
    return rows


@dataclass(frozen=True)
class Baseline:
    """One measurement of the floor: no-op and one-transaction tasks/s."""

    noop: float
    one_transaction: float


@dataclass
class Online:
    """Figures of the sections run against the live worker, and their rows."""

    rows: list[Row] = field(default_factory=list)
    baselines: list[Baseline] = field(default_factory=list)
    peak: float = math.nan

    def around(self) -> Baseline:
        """The mean of the last two baselines: those taken just before and after a section."""
        last = self.baselines[-2:]
        return Baseline(
            statistics.fmean(b.noop for b in last),
            statistics.fmean(b.one_transaction for b in last),
        )


def measure_baseline(bench: Bench, plan: Plan, online: Online) -> None:
    """The floor, taken between the sections so that each ratio compares like with like.

    The machine's load drifts during a run (other processes, PostgreSQL's checkpoints);
    a section's ratio uses the mean of the baselines taken right before and right after it.
    """
    online.baselines.append(
        Baseline(
            bench.baseline(pipeline_tasks.NOOP, plan.baseline_tasks),
            bench.baseline(pipeline_tasks.ONE_TRANSACTION, plan.baseline_tasks // 2),
        )
    )


def baseline_rows(plan: Plan, online: Online) -> list[Row]:
    noop = [b.noop for b in online.baselines]
    one = [b.one_transaction for b in online.baselines]
    runs = len(online.baselines)
    return [
        Row(
            "base",
            f"no-op task ({plan.baseline_tasks:,} at once, 1 Redis INCR each; {runs} runs)",
            f"{statistics.fmean(noop):.0f} /s ({min(noop):.0f}-{max(noop):.0f})",
        ),
        Row(
            "base",
            f"one-transaction task (lock + insert + update; {plan.baseline_tasks // 2:,})",
            f"{statistics.fmean(one):.0f} /s ({min(one):.0f}-{max(one):.0f})",
        ),
    ]


def _ratio_rows(section: str, rate: float, floor: Baseline, applies: bool) -> list[Row]:
    to_noop = rate / floor.noop
    return [
        Row(
            section,
            f"  ratio to the no-op task ({floor.noop:.0f} /s around it)",
            f"{to_noop:.2f}x",
            f">= {TARGET_RATIO_TO_NOOP}x",
            verdict(to_noop >= TARGET_RATIO_TO_NOOP, applies),
        ),
        Row(
            section,
            f"  ratio to the one-transaction task ({floor.one_transaction:.0f} /s)",
            f"{rate / floor.one_transaction:.2f}x",
        ),
    ]


def section_throughput(
    bench: Bench, plan: Plan, online: Online, section: str, shape: tuple[int, int, int]
) -> Flow:
    count, essays, budget = shape
    progress(f"{section}: {count} x {essays} essays, {budget} comparisons each")
    judge_cpu = bench.judge.cpu_seconds()
    flow = bench.run_batches(count, essays, budget)
    judge_ms = (bench.judge.cpu_seconds() - judge_cpu) * 1000 / max(flow.answered, 1)
    measure_baseline(bench, plan, online)
    label = f"{count} batch{'es' if count > 1 else ''} x {essays} essays"
    online.rows += [
        Row(
            section,
            f"{label}: callbacks/s while waves are open ({flow.answered:,} answers)",
            f"{flow.rate:.0f} /s",
        ),
        *_ratio_rows(section, flow.rate, online.around(), plan.targets_apply),
        Row(section, "  end to end (continuations included)", f"{flow.end_to_end_rate:.0f} /s"),
        Row(
            section,
            "  callback->commit at full rate (queueing: a wave is answered at once)",
            _ms(flow.callback_ms),
        ),
        Row(
            section, "  judge process CPU per answer (it shares the 2 cores)", f"{judge_ms:.1f} ms"
        ),
    ]
    return flow


def section_pending(bench: Bench, plan: Plan, online: Online) -> None:
    """Callbacks into waves of each size, in interleaved rounds so that drift hits all alike."""
    rounds = PENDING_ROUNDS if plan.targets_apply else 2
    per_round = {p: min(p - 1, plan.callbacks_per_wave // rounds) for p in plan.pending}
    progress(f"c: preparing waves of {', '.join(f'{p:,}' for p in plan.pending)} pending rows")
    waves: dict[int, list[list[uuid.UUID]]] = {}
    for index, pending in enumerate(plan.pending):
        if per_round[pending] * rounds <= pending - 1:
            ids = bench.prepared_wave(pending, seed=1_000 * index)
            waves[pending] = [
                ids[r * per_round[pending] : (r + 1) * per_round[pending]] for r in range(rounds)
            ]
        else:  # a fresh wave per round: a round must never answer a wave's last row
            waves[pending] = [
                bench.prepared_wave(pending, seed=1_000 * index + r)[: per_round[pending]]
                for r in range(rounds)
            ]
    progress(f"c: {rounds} rounds of callbacks")
    answered: dict[int, int] = defaultdict(int)
    seconds: dict[int, float] = defaultdict(float)
    for round_ in range(rounds):
        for pending in plan.pending:
            done, span = bench.callbacks_into(waves[pending][round_])
            answered[pending] += done - 1
            seconds[pending] += span
    measure_baseline(bench, plan, online)
    floor = online.around()
    costs: dict[int, float] = {}
    for pending in plan.pending:
        rate = answered[pending] / seconds[pending] if seconds[pending] > 0 else math.nan
        costs[pending] = 1e6 / rate
        online.rows += [
            Row(
                "c",
                f"200 essays, wave of {pending:,} pending: {rounds} x {per_round[pending]}"
                " callbacks",
                f"{rate:.0f} /s = {costs[pending]:,.0f} us each",
            ),
            Row(
                "c",
                f"  ratio to the no-op task ({floor.noop:.0f} /s around it)",
                f"{rate / floor.noop:.2f}x",
            ),
        ]
    smallest, largest = min(costs), max(costs)
    growth = costs[largest] / costs[smallest]
    online.rows.append(
        Row(
            "c",
            f"cost at {largest:,} pending / cost at {smallest:,}",
            f"{growth:.2f}x",
            f"<= {FLAT_TOLERANCE}x (flat)",
            verdict(growth <= FLAT_TOLERANCE, plan.targets_apply and largest >= TARGET_SIZE),
        )
    )


def section_latency(bench: Bench, plan: Plan, online: Online) -> None:
    rate = online.peak / 2
    count, essays, budget = plan.latency
    progress(f"d: {count} x {essays} essays with the judge at {rate:.0f} callbacks/s")
    bench.redis.set(support.JUDGE_RATE_KEY, repr(rate))
    try:
        time.sleep(1.0)  # the judge reads the rate twice a second
        # Arrivals spread over the run (one batch per batch's worth of answers at the rate):
        # submitted at once, the batches would move in lockstep and every wave's
        # continuations would arrive as one burst, which no steady load produces.
        flow = bench.run_batches(count, essays, budget, stagger=budget / rate)
    finally:
        bench.redis.set(support.JUDGE_RATE_KEY, "0")
    applies = plan.targets_apply
    online.rows += [
        Row(
            "d",
            f"{count} batches x {essays} essays, judge paced at half of b's rate",
            f"{rate:.0f} /s ({flow.rate:.0f} /s while waves are open)",
        ),
        Row(
            "d",
            "callback->commit",
            _ms(flow.callback_ms),
            f"p95 <= {TARGET_P95_CALLBACK_MS:.0f} ms",
            verdict(_p95(flow.callback_ms) <= TARGET_P95_CALLBACK_MS, applies),
        ),
        Row(
            "d",
            "wave->next wave (its rows created)",
            _ms(flow.gap_created_ms),
            f"p95 <= {TARGET_P95_WAVE_GAP_MS:.0f} ms",
            verdict(_p95(flow.gap_created_ms) <= TARGET_P95_WAVE_GAP_MS, applies),
        ),
        Row(
            "d",
            "wave->next wave (its requests sent: sent_at)",
            _ms(flow.gap_sent_ms),
            f"p95 <= {TARGET_P95_WAVE_GAP_MS:.0f} ms",
            verdict(_p95(flow.gap_sent_ms) <= TARGET_P95_WAVE_GAP_MS, applies),
        ),
    ]


# ---------------------------------------------------------------------------- driver


def environment(database_url: str, client: redis.Redis) -> list[str]:
    with sa.create_engine(database_url).connect() as connection:
        postgres = str(connection.execute(sa.text("SHOW server_version")).scalar())
    redis_version = str(client.info("server").get("redis_version"))
    lines = [
        f"python {platform.python_version()}  celery {version('celery')}  kombu"
        f" {version('kombu')}  SQLAlchemy {version('sqlalchemy')}  PostgreSQL {postgres}"
        f"  Redis {redis_version}",
        f"machine {platform.machine()}  cpus {os.cpu_count()}",
    ]
    if hasattr(os, "getloadavg"):
        one, five, fifteen = os.getloadavg()
        lines.append(f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) at the start")
    return lines


@contextmanager
def owned_redis(url: str) -> Iterator[redis.Redis]:
    """The benchmark's Redis database: refused if someone else's, flushed before and after."""
    client = support.redis_client(url)
    owner = client.get(support.LOCK_KEY)
    if owner is not None and _alive(int(owner)):
        raise SystemExit(f"pipeline: Redis {url} is in use by another run (pid {int(owner)})")
    if owner is None and client.dbsize():
        raise SystemExit(
            f"pipeline: Redis {url} holds {client.dbsize()} keys of someone else;"
            " choose an empty database with --redis-url"
        )
    client.flushdb()
    client.set(support.LOCK_KEY, str(os.getpid()))
    try:
        yield client
    finally:
        client.flushdb()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(signum: int, _: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes; no targets apply")
    parser.add_argument(
        "--sizes",
        type=lambda text: tuple(int(part) for part in text.split(",") if part),
        default=None,
        help="essays of section e, comma-separated (default 1000,5000,20000; --quick 40)",
    )
    parser.add_argument("--redis-url", default=support.DEFAULT_REDIS_URL)
    parser.add_argument("--postgres-admin-url", default=support.DEFAULT_POSTGRES_ADMIN_URL)
    parser.add_argument(
        "--essay-chars", type=int, default=support.DEFAULT_ESSAY_CHARS, help="length of each essay"
    )
    parser.add_argument(
        "--skip", default="", help="sections to leave out, e.g. 'e' or 'e,f' (the rest run)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker and judge logs")
    parser.add_argument("--fail-on-miss", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args(argv)


def run(arguments: argparse.Namespace, stack: ExitStack) -> list[Row]:
    plan = QUICK if arguments.quick else FULL
    sizes: Sequence[int] = arguments.sizes or plan.sizes
    skip = {part.strip() for part in arguments.skip.split(",") if part.strip()}
    chars: int = arguments.essay_chars
    client = stack.enter_context(owned_redis(arguments.redis_url))
    database_url = stack.enter_context(support.temporary_database(arguments.postgres_admin_url))
    upgrade(database_url)
    with sa.create_engine(database_url).begin() as connection:
        for statement in pipeline_tasks.TABLES:
            connection.execute(sa.text(statement))
    print(
        "Pipeline benchmark (issue 13)"
        + (" (--quick: no targets apply)" if arguments.quick else "")
    )
    for text in environment(database_url, client):
        print("  " + text)
    print(
        "  one cj worker, 2 pool processes; one judge process answering at once; essays of"
        f" {chars:,} characters"
    )
    print()
    sys.stdout.flush()
    env = support.environment(database_url, arguments.redis_url, "offline-" + secrets.token_hex(8))
    rows: list[Row] = []
    if "f" not in skip:
        progress("f: Redis bytes per pending request")
        rows += section_redis(env, plan, chars)
    if "e" not in skip:
        rows += section_sizes(env, plan, sizes, chars)
    # What the offline sections sent stays unconsumed; no process has cached a declaration
    # yet, so the database can be emptied before the workers declare their queues.
    client.flushdb()
    client.set(support.LOCK_KEY, str(os.getpid()))
    log_dir = Path(tempfile.mkdtemp(prefix="cj-bench-logs-"))
    bench = Bench(plan, database_url, arguments.redis_url, chars, log_dir)
    stack.callback(_forget_logs, log_dir, arguments.keep_logs)
    stack.callback(bench.close)
    progress("starting the worker and the judge")
    bench.start()
    progress("warming up")
    bench.baseline(pipeline_tasks.NOOP, 20)
    bench.baseline(pipeline_tasks.ONE_TRANSACTION, 20)
    bench.run_batches(2, 20, 20)
    online = Online()
    progress("base: no-op and one-transaction tasks")
    measure_baseline(bench, plan, online)
    section_throughput(bench, plan, online, "a", plan.single)
    online.peak = section_throughput(bench, plan, online, "b", plan.many).rate
    if "c" not in skip:
        section_pending(bench, plan, online)
    if "d" not in skip:
        section_latency(bench, plan, online)
    return baseline_rows(plan, online) + online.rows + rows


def _forget_logs(log_dir: Path, keep: bool) -> None:
    if keep:
        progress(f"logs kept in {log_dir}")
        return
    for path in log_dir.iterdir():
        path.unlink()
    log_dir.rmdir()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    try:
        with ExitStack() as stack:
            rows = run(arguments, stack)
    except KeyboardInterrupt:
        print("pipeline: interrupted; workers stopped, database dropped", file=sys.stderr)
        return 130
    print(render(rows))
    misses = sum(row.status == "MISS" for row in rows)
    passes = sum(row.status == "PASS" for row in rows)
    print()
    if hasattr(os, "getloadavg"):
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
        print(f"load average {load} (1/5/15 min) at the end")
    print(f"targets: {passes} PASS, {misses} MISS; total {time.perf_counter() - started:.0f} s")
    return 1 if arguments.fail_on_miss and misses else 0


if __name__ == "__main__":
    sys.exit(main())
