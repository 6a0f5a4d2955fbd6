"""What every task shell shares: retry policy, settings, messages and how they leave.

Rule of the shells: open one transaction, take the batch row lock, do the work, commit, and
only *then* send follow-up messages. Nothing is enqueued while a lock is held, so eager-mode
tests cannot deadlock on their own locks, and nothing is sent for a change that rolled back.
:func:`cj_worker.tasks.unit_of_work.run` is that rule as one function; the transport and the
settings it uses are injectable here.

A crash between commit and send loses nothing: a judge request leaves through its
comparison row (:mod:`cj_worker.tasks.dispatch`), which the sweep sends if the dispatch
never counted it; a trigger (continuation, finalization) is re-derived by the sweep from
the state the commit left (a complete undecided wave, a batch in ``scoring``).

Reliability options of every task (:func:`cj_task`): acknowledged after it ran; a task
whose worker process died is run again a bounded number of times (``max_retries``), then
dropped, which the sweep repairs like any lost message; transient database errors, a busy
batch lock (``db_lock_timeout_seconds``) and the soft time limit are retried with
jittered exponential backoff.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, runtime_checkable

import sqlalchemy.exc
from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from kombu import Producer
from kombu.common import maybe_declare

from cj_worker import task_names
from cj_worker.celery_app import app
from cj_worker.config import RETRY_BACKOFF_MAX_SECONDS, Settings, get_settings
from cj_worker.logs import EVENT_ATTRIBUTE


class _EventLogger(logging.LoggerAdapter[logging.Logger]):
    """Appends the ``extra`` fields to the message as JSON.

    Celery's default formatter drops ``extra``; this way every decision line carries batch
    id, wave and reason in any log format, and a JSON formatter still gets the attributes.
    """

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        fields = kwargs.get("extra") or {}
        if fields:
            # The JSON formatter logs the bare event and the fields as keys, not both twice.
            kwargs["extra"] = {**fields, EVENT_ATTRIBUTE: str(msg)}
            msg = f"{msg} {json.dumps(fields, default=str, sort_keys=True)}"
        return msg, kwargs


log = _EventLogger(logging.getLogger("cj_worker"), {})

P = ParamSpec("P")
R = TypeVar("R")

TRANSIENT_DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
)
"""Errors worth retrying with backoff: the database is unreachable or restarting, or a
batch lock was not granted within ``db_lock_timeout_seconds`` (``LockNotAvailable`` is an
``OperationalError``)."""
RETRIED_ERRORS: tuple[type[Exception], ...] = (*TRANSIENT_DATABASE_ERRORS, SoftTimeLimitExceeded)
"""A task cut short by its soft time limit rolled back; it is retried like a busy database."""
MAX_RETRIES = 20
"""Retries of a task (errors above, or its worker process died): about half an hour of
backoff for a database outage."""
WORKER_LOST_RETRY_DELAY_SECONDS = 2
"""Countdown of the run that follows one whose worker process died."""


def cj_task(name: str, *, max_retries: int = MAX_RETRIES) -> Callable[[Callable[P, R]], Task[P, R]]:
    """Register a task under its stable ``name`` with the shared reliability options.

    Its queue comes from ``task_routes`` (built from ``task_names.ROUTES``), not a task
    attribute, which Celery 6 drops. ``max_retries`` bounds both the retries after errors
    and the runs after a dead worker process (``retry_on_worker_lost``): a message that
    kills every process that takes it is dropped after ``max_retries + 1`` runs.
    """
    if name not in task_names.ROUTES:
        raise KeyError(f"{name!r} has no queue in task_names.ROUTES")

    def register(function: Callable[P, R]) -> Task[P, R]:
        task: Task[P, R] = app.task(
            name=name,
            autoretry_for=RETRIED_ERRORS,
            retry_backoff=True,
            retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
            retry_jitter=True,
            max_retries=max_retries,
            default_retry_delay=WORKER_LOST_RETRY_DELAY_SECONDS,
            acks_late=True,
            reject_on_worker_lost=True,
            retry_on_worker_lost=True,
        )(function)
        return task

    return register


_settings: Settings | None = None


def settings() -> Settings:
    """The settings the task bodies run with: the environment's, unless a runner set its own."""
    return get_settings() if _settings is None else _settings


def set_settings(settings: Settings | None) -> Settings | None:
    """Run the task bodies with ``settings`` (None: the environment's); returns the previous.

    The embedded runner uses it to hand its database to the bodies without writing
    ``CJ_DATABASE_URL`` into the process environment.
    """
    global _settings
    previous, _settings = _settings, settings
    return previous


def database_url() -> str:
    return settings().database_url


@dataclass(frozen=True)
class Message:
    """A task to enqueue once the current transaction has committed."""

    task: str
    kwargs: dict[str, Any]
    queue: str | None = None
    kwargsrepr: str | None = None
    """What monitoring shows of ``kwargs``; None: their redacted repr
    (:mod:`cj_worker.redaction`). Judge requests show their comparison id only."""

    @property
    def route(self) -> str:
        return self.queue or task_names.ROUTES.get(self.task, task_names.CONTROL_QUEUE)


class Transport(Protocol):
    def send(self, message: Message) -> None: ...


@runtime_checkable
class BulkTransport(Transport, Protocol):
    """A transport that sends many messages faster than one by one."""

    def send_many(self, messages: Sequence[Message]) -> None: ...


class CeleryTransport:
    """Enqueue through a Celery app (the cj app unless another is given) by task name.

    A signature runs a task registered here through its ``Task`` (so eager mode runs it
    inline) and sends any other name (external judges, result handlers) by ``send_task``.
    """

    def __init__(self, celery: Celery | None = None) -> None:
        self.app = app if celery is None else celery

    def send(self, message: Message) -> None:
        self.app.signature(message.task, kwargs=message.kwargs).apply_async(
            queue=message.route, kwargsrepr=message.kwargsrepr
        )

    def send_many(self, messages: Sequence[Message]) -> None:
        """Publish ``messages`` in order on one producer: one connection and channel.

        A wave's judge requests leave this way: one connection checkout, each queue
        declared once, and on Redis kombu's publish batch (``Producer.batch``: the
        ``LPUSH`` es pipelined, flushed when the block ends, so a message counts as sent
        only once it is in Redis); on RabbitMQ kombu publishes each at once, confirmed.
        Task-sent events are off for the whole app (``celery_app``); the workers'
        received/started events still show each task in Flower. Eager mode runs each
        task inline, as :meth:`send` does.

        Measured (3,000 requests of two 2,000-character essays to a local Redis, one
        process): 600 us a message through ``send_task`` one by one, 110 us here.
        """
        if self.app.conf.task_always_eager:
            for message in messages:
                self.send(message)
            return
        with self.app.producer_or_acquire() as producer, producer.batch():
            for route in sorted({message.route for message in messages}):
                maybe_declare(self.app.amqp.queues[route], producer.channel)
            for message in messages:
                self.publish(message, producer)

    def publish(self, message: Message, producer: Producer) -> None:
        """Send one message of :meth:`send_many` on its shared ``producer``.

        Celery's own two steps (``amqp.create_task_message``, ``amqp.send_task_message``)
        without ``send_task``'s per-call routing, option merging and result object: the
        queue is the message's, declared once for the whole batch (``declare=[]``), and
        the message is the protocol-2 message ``send_task`` would build, linked to the
        task that sends it (``root_id``, ``parent_id``) as ``send_task`` links it.
        """
        amqp = self.app.amqp
        parent = self.app.current_worker_task
        parent_id = root_id = None
        if parent is not None and parent.request.id is not None:
            parent_id = parent.request.id
            root_id = parent.request.root_id or parent_id
        task_id = str(uuid.uuid4())
        created = amqp.create_task_message(
            task_id,
            message.task,
            (),
            message.kwargs,
            root_id=root_id,
            parent_id=parent_id,
            kwargsrepr=message.kwargsrepr,
        )
        amqp.send_task_message(producer, message.task, created, queue=message.route, declare=[])


_transport: Transport = CeleryTransport()


def set_transport(transport: Transport) -> Transport:
    """Swap how messages leave the process (the embedded runner); returns the previous one."""
    global _transport
    previous, _transport = _transport, transport
    return previous


def current_transport() -> Transport:
    """The transport messages leave by unless a caller passes its own."""
    return _transport


def send(messages: Iterable[Message], transport: Transport | None = None) -> None:
    """Send ``messages`` in order, by ``transport`` or the current one.

    Call it outside any transaction: in eager mode and in the embedded runner a message
    runs its task inline, which takes locks of its own.
    """
    via = _transport if transport is None else transport
    batch = list(messages)
    if len(batch) > 1 and isinstance(via, BulkTransport):
        via.send_many(batch)
        return
    for message in batch:
        via.send(message)
