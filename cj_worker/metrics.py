"""Prometheus metrics of the workers: what the engine decided, and what is waiting.

Two kinds of figures, collected in two ways:

- **Events** (decisions, waves, callbacks, sweep actions, outbox deliveries, BT fit time,
  batch duration and SSR at finalization) are counters and histograms updated by the
  task that caused them. Tasks run in prefork pool processes, so the instruments use
  prometheus-client's multiprocess mode: each process writes its values to files in
  ``PROMETHEUS_MULTIPROC_DIR`` and the worker's main process merges them on every scrape
  (:func:`serve_worker_metrics`). ``cj-worker worker`` gives each worker a private,
  fresh directory; the variable must be set before ``prometheus_client`` is imported,
  which is why nothing that the CLI imports at start-up imports this module.
- **Backlogs** (pending comparisons, outbox backlog, live batches) are read from the
  database when Prometheus scrapes (:class:`DatabaseCollector`). Gauges refreshed by the
  sweep would be up to a sweep interval stale, would be written by whichever worker ran
  the last sweep (so each worker would export a different, aging value), and would need
  a multiprocess gauge mode to merge; a query on scrape is always current and costs three
  small indexed queries per scrape.

Events that a transaction causes are recorded only once it committed, so a change that
rolled back and was retried is counted once: a task body returns them as
:class:`Observation` values beside its messages, and
:func:`cj_worker.tasks.unit_of_work.run` records them after the commit. The ``observe_*``
functions record at once, for what happens outside a transaction (a rejected payload, an
outbox delivery).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import prometheus_client
import sqlalchemy.exc
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.db.repositories.operations import Backlog, backlog
from cj_worker.db.states import LIVE_STATES

log = logging.getLogger(__name__)

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where pool processes write their values (prometheus-client reads it at import)."""

DECISIONS = Counter(
    "cj_decisions_total",
    "Continuation decisions taken (one per wave), by action and reason.",
    ["action", "reason"],
)
WAVES = Counter("cj_waves_total", "Comparison waves dispatched, by generation mode.", ["mode"])
CALLBACKS = Counter(
    "cj_callbacks_total",
    "Judge answers received by cj.record_comparison_result, by outcome "
    "(recorded, late_success, duplicate, batch_closed, rejected) and the answer's status "
    "(succeeded, failed; invalid for a payload that failed validation).",
    ["outcome", "status"],
)
SWEEP_ACTIONS = Counter(
    "cj_sweep_actions_total",
    "What the sweep did: timed_out (comparisons), continuation and finalization "
    "(re-sent triggers), stalled (batches failed because they could not progress).",
    ["action"],
)
OUTBOX_DELIVERIES = Counter(
    "cj_outbox_deliveries_total", "Result events handed to the broker, by outcome.", ["outcome"]
)
REFUSED = Counter(
    "cj_refused_messages_total",
    "Well-formed messages refused because acting on them would change a batch without "
    "authority: a finalization no decision called for, a result without its token or for "
    "another batch, a resubmitted batch id with another payload; by task and reason.",
    ["task", "reason"],
)
DEAD_LETTERS = Counter(
    "cj_dead_letters_total",
    "Broker messages a worker could not decode or run, moved to the dead-letter list, by "
    "queue and reason.",
    ["queue", "reason"],
)
BT_FIT_SECONDS = Histogram(
    "cj_bt_fit_seconds",
    "Wall time of one Bradley-Terry fit.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCH_DURATION_SECONDS = Histogram(
    "cj_batch_duration_seconds",
    "Time from a batch's creation to its finalization, by final state.",
    ["state"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400),
)
BATCH_SSR = Histogram(
    "cj_batch_ssr",
    "Scale separation reliability of completed batches at finalization.",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
)


# ----------------------------------------------------------------------------- events


class Observation(Protocol):
    """An event to record once the transaction that caused it committed."""

    def record(self) -> None: ...


@dataclass(frozen=True)
class DecisionTaken:
    """A continuation decision, and the wave it dispatches (``mode``), if any."""

    action: str
    reason: str
    mode: str | None = None

    def record(self) -> None:
        DECISIONS.labels(action=self.action, reason=self.reason).inc()
        if self.mode is not None:
            WAVES.labels(mode=self.mode).inc()


@dataclass(frozen=True)
class CallbackAnswered:
    """A judge's answer stored by ``cj.record_comparison_result``."""

    outcome: str
    status: str

    def record(self) -> None:
        observe_callback(self.outcome, self.status)


@dataclass(frozen=True)
class SweepActed:
    """What the sweep did to one batch: ``count`` comparisons timed out, a trigger re-sent."""

    action: str
    count: int = 1

    def record(self) -> None:
        observe_sweep(self.action, self.count)


@dataclass(frozen=True)
class BatchFinalized:
    """A batch that reached its final state, with its duration and SSR."""

    state: str
    duration: float
    ssr: float | None

    def record(self) -> None:
        observe_finalized(self.state, self.duration, self.ssr)


@dataclass(frozen=True)
class Refused:
    """A message a task refused to act on (``cj_refused_messages_total``)."""

    task: str
    reason: str

    def record(self) -> None:
        observe_refused(self.task, self.reason)


def observe_refused(task: str, reason: str) -> None:
    REFUSED.labels(task=task, reason=reason).inc()


def observe_dead_letter(queue: str, reason: str) -> None:
    DEAD_LETTERS.labels(queue=queue, reason=reason).inc()


def observe_callback(outcome: str, status: str) -> None:
    """Count one judge answer now: a rejected one (stored ones: :class:`CallbackAnswered`)."""
    CALLBACKS.labels(outcome=outcome, status=status).inc()


def observe_sweep(action: str, count: int = 1) -> None:
    if count:
        SWEEP_ACTIONS.labels(action=action).inc(count)


def observe_outbox_delivery(outcome: str) -> None:
    OUTBOX_DELIVERIES.labels(outcome=outcome).inc()


def observe_finalized(state: str, duration: float, ssr: float | None) -> None:
    """Record a finalized batch: its duration by final state and, if it has one, its SSR.

    Call it once the finalization committed (through :class:`BatchFinalized`), so that a
    finalization that rolled back and ran again is recorded once.
    """
    BATCH_DURATION_SECONDS.labels(state=state).observe(duration)
    if ssr is not None:
        BATCH_SSR.observe(ssr)


def observe_bt_fit(seconds: float) -> None:
    """Record a Bradley-Terry fit timed by the pure core (the wave step)."""
    BT_FIT_SECONDS.observe(seconds)


@contextmanager
def bt_fit_timer() -> Iterator[None]:
    """Time the Bradley-Terry fit in the block."""
    started = time.perf_counter()
    try:
        yield
    finally:
        BT_FIT_SECONDS.observe(time.perf_counter() - started)


# ---------------------------------------------------------------------------- backlogs


class DatabaseCollector(Collector):
    """Backlog gauges read from the database at scrape time.

    A scrape that cannot reach the database still answers, with ``cj_database_up 0``, so
    that a database outage shows on the dashboard instead of as a failed scrape.
    """

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "cj_database_up", "1 if the last scrape could read the database, else 0."
        )
        try:
            with session_scope(self._database_url) as session:
                figures = backlog(session)
        except sqlalchemy.exc.SQLAlchemyError as error:
            log.warning("metrics: cannot read the database: %s", error)
            up.add_metric([], 0.0)
            return [up]
        up.add_metric([], 1.0)
        return [up, *_backlog_metrics(figures, utc_now())]


def _backlog_metrics(figures: Backlog, now: datetime) -> list[Metric]:
    def age(oldest: datetime | None) -> float:
        return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())

    gauges = [
        GaugeMetricFamily(
            "cj_comparisons_pending",
            "Comparisons sent to a judge and not answered yet, in unfinished batches.",
            value=figures.pending_comparisons,
        ),
        GaugeMetricFamily(
            "cj_comparisons_pending_oldest_age_seconds",
            "Age of the oldest pending comparison (the sweep re-sends it after its "
            "judge's CJ_RESEND_*_AFTER_SECONDS); 0 when none is pending.",
            value=age(figures.oldest_pending_comparison),
        ),
        GaugeMetricFamily(
            "cj_outbox_backlog",
            "Result events committed but not yet handed to the broker.",
            value=figures.outbox_backlog,
        ),
        GaugeMetricFamily(
            "cj_outbox_oldest_age_seconds",
            "Age of the oldest undelivered result event; 0 when none is waiting.",
            value=age(figures.oldest_outbox_event),
        ),
    ]
    live = GaugeMetricFamily("cj_batches_live", "Unfinished batches, by state.", labels=["state"])
    for state in LIVE_STATES:
        live.add_metric([state.value], figures.live_batches.get(state, 0))
    return [*gauges, live]


# ------------------------------------------------------------------- worker exposition

_server: socket.socket | None = None
"""The listening socket of this worker's metrics server (main process only)."""


def serve_worker_metrics(port: int, database_url: str, tasks_in_child_processes: bool) -> bool:
    """Start the metrics HTTP server in a worker's main process; False if it cannot.

    With ``tasks_in_child_processes`` (the prefork pool) the pool processes' values are
    only visible through multiprocess mode; without ``PROMETHEUS_MULTIPROC_DIR`` the
    server would report zeros, so it is not started. A busy port is logged, not raised:
    a worker without metrics still does its work.
    """
    global _server
    multiprocess_dir = os.environ.get(MULTIPROC_DIR_ENV)
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    elif tasks_in_child_processes:
        log.error(
            "metrics disabled: the prefork pool needs %s set to an empty directory of this "
            "worker's own before it starts (cj-worker worker does that); or set "
            "CJ_METRICS_PORT=0",
            MULTIPROC_DIR_ENV,
        )
        return False
    else:
        registry = prometheus_client.REGISTRY
    registry.register(DatabaseCollector(database_url))
    try:
        server, _ = prometheus_client.start_http_server(port, registry=registry)
    except OSError as error:
        log.error("metrics disabled: cannot listen on port %d: %s", port, error)
        return False
    _server = server.socket
    log.info("metrics on port %d", port)
    return True


def close_inherited_listener() -> None:
    """In a freshly forked pool process: close the copy of the metrics socket.

    Only the main process serves scrapes; a pool process holding the listening socket
    would keep the port bound after the main process died.
    """
    if _server is not None:
        _server.close()


def mark_process_dead(pid: int) -> None:
    """Multiprocess bookkeeping for a pool process that exits (prometheus-client's rule).

    It removes the exiting process's files of live gauges (``livesum``/``livemax`` ...),
    whose values must vanish with the process; the worker defines none today, and the call
    keeps that right if one is added. Counters and histograms of dead processes stay in the
    directory and keep counting towards the totals, as monotonic counters must.
    """
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if directory:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
