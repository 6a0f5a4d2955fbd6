"""The Celery application: reliability settings, queues, routes, beat schedule, signals.

Delivery is at-least-once: tasks are acknowledged after they ran (``acks_late``); a task
whose worker process died runs again a bounded number of times (``retry_on_worker_lost``,
see ``tasks.base.cj_task``); one killed by its hard time limit goes back to its queue
(``acks_on_timeout=False``); and every task is idempotent. What each broker needs on top
(quorum queues and publisher confirms on RabbitMQ, the visibility timeout on Redis,
reconnecting forever on both) is :mod:`cj_worker.broker`'s. The time settings are validated
together in ``Settings`` (see ``config.timing_problems`` and ``ops/runbook.md``).

Start a worker with ``cj-worker worker`` or
``celery -A cj_worker.celery_app worker -Q cj.intake,cj.callbacks,cj.control,cj.judge``.
The signal handlers at the end give workers and beat JSON log lines (``CJ_LOG_FORMAT``)
and workers a Prometheus endpoint (``CJ_METRICS_PORT``, see ``cj_worker.metrics``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.concurrency import get_implementation
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    worker_process_init,
    worker_process_shutdown,
)
from threadpoolctl import threadpool_limits

from cj_worker import broker, poison, task_names, tokens
from cj_worker.config import Settings, get_settings
from cj_worker.db.engine import dispose_engines, ping_on_checkout
from cj_worker.logs import use_json_format

TASK_MODULES = (
    "cj_worker.tasks.intake",
    "cj_worker.tasks.callbacks",
    "cj_worker.tasks.continuation",
    "cj_worker.tasks.finalize",
    "cj_worker.tasks.judging",
    "cj_worker.tasks.llm_judge",
    "cj_worker.tasks.outbox",
    "cj_worker.tasks.sweep",
)


def configure(celery: Celery, settings: Settings) -> None:
    """Apply ``settings`` to ``celery`` (tests call this with their own settings)."""
    celery.conf.update(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        task_ignore_result=settings.result_backend is None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_retry_on_worker_lost=True,
        # A task killed by its hard time limit goes back to the queue (a callback blocked on
        # a lock must not lose the judge's answer); one that failed is rejected, not acked,
        # so a broker with a dead-letter exchange keeps it.
        task_acks_on_timeout=False,
        task_acks_on_failure=False,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit_seconds,
        task_time_limit=settings.task_time_limit_seconds,
        # Queues, acknowledgements and reconnection per broker (see cj_worker.broker).
        **broker.celery_options(settings),
        task_default_queue=task_names.CONTROL_QUEUE,
        task_default_exchange=task_names.CONTROL_QUEUE,
        task_default_routing_key=task_names.CONTROL_QUEUE,
        task_routes={name: {"queue": queue} for name, queue in task_names.ROUTES.items()},
        # No task-sent event per message: publishing a wave of judge requests would cost
        # one event each (half of a send's time). Workers' received/started/succeeded
        # events still show every task in Flower.
        task_send_sent_event=False,
        worker_send_task_events=True,
        beat_schedule={
            "sweep": {
                "task": task_names.SWEEP,
                "schedule": float(settings.sweep_interval_seconds),
                "options": {"expires": float(settings.sweep_interval_seconds)},
            },
            "relay-outbox": {
                "task": task_names.RELAY_OUTBOX,
                "schedule": float(settings.sweep_interval_seconds),
                "options": {"expires": float(settings.sweep_interval_seconds)},
            },
        },
        timezone="UTC",
        enable_utc=True,
        # Undecodable messages go to the dead-letter list instead of stopping the worker.
        **poison.celery_options(settings.broker_url),
    )


# Task argument reprs (events, Flower, logs) never show essays or result tokens.
app = Celery("cj_worker", include=list(TASK_MODULES), amqp="cj_worker.redaction:RedactingAMQP")
tokens.require_secrets_in_workers()
configure(app, get_settings())


@worker_process_init.connect
def _prepare_pool_process(**_: Any) -> None:
    # A forked pool process must not reuse the parent's database connections, and its
    # tasks retry a dead connection instead of pinging before every checkout.
    ping_on_checkout(False)
    dispose_engines()
    # Pool processes already share the cores; BLAS threads on top only contend (measured:
    # exact SEs for 2,000 essays 3.9 s with default threads vs 0.26 s with one, under load).
    threadpool_limits(limits=1, user_api="blas")


# ------------------------------------------------------------------ logs and metrics
# ``cj_worker.metrics`` is imported inside the handlers: importing prometheus_client fixes
# its (multiprocess or not) mode, and ``cj-worker worker`` imports this module before it
# sets PROMETHEUS_MULTIPROC_DIR.


@after_setup_logger.connect
@after_setup_task_logger.connect
def _structured_logs(logger: logging.Logger, **_: Any) -> None:
    if get_settings().log_format == "json":
        use_json_format(logger)


@celeryd_after_setup.connect
def _serve_metrics(instance: Any, **_: Any) -> None:
    # Sent in the worker's main process once logging is set up (so a busy port is logged
    # in the configured format) and before the pool forks.
    settings = get_settings()
    if settings.metrics_port:
        from celery.concurrency.prefork import TaskPool as PreforkPool

        from cj_worker import metrics

        pool = get_implementation(instance.pool_cls)
        metrics.serve_worker_metrics(
            settings.metrics_port,
            settings.database_url,
            tasks_in_child_processes=issubclass(pool, PreforkPool),
        )


@worker_process_init.connect
def _pool_process_metrics(**_: Any) -> None:
    if get_settings().metrics_port:
        from cj_worker import metrics

        metrics.close_inherited_listener()


@worker_process_shutdown.connect
def _pool_process_exit(pid: int, **_: Any) -> None:
    if get_settings().metrics_port:
        from cj_worker import metrics

        metrics.mark_process_dead(pid)
