"""What each broker needs so that delivery is at-least-once and survives restarts.

RabbitMQ (``amqp://``) is the broker to run in production, Redis (``redis://``) the simple
one:

- **RabbitMQ** acknowledges for real: a message whose consumer died (its connection closed)
  is delivered again at once, flagged as redelivered. Queues are *quorum* queues (replicated
  Raft logs, durable across broker restarts) with a delivery limit, so a message that kills
  every worker that takes it is dropped after :data:`DELIVERY_LIMIT` deliveries instead of
  looping. Publisher confirms make a publish return only once the broker has the message.
  Countdowns (retries) use Celery's native delayed delivery, which needs topic exchanges.
- **Redis** emulates acknowledgements: a popped message sits in an ``unacked`` hash until
  acknowledged, and only after ``broker_visibility_timeout_seconds`` does another worker's
  periodic scan put it back. A worker killed between its ``BRPOP`` and the write to that
  hash loses the message outright (kombu#305). The sweep repairs both (re-sends), but a
  lost intake message waits for the visibility timeout, and a message Redis loses on an
  unpersisted restart is gone.

Either way, workers reconnect forever (no supervisor needed) and the engine's own repairs
(``tasks.sweep``) never rely on the broker returning a message.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import redis
from kombu import Exchange, Queue
from kombu.transport import redis as kombu_redis

from cj_worker import task_names
from cj_worker.config import Settings
from cj_worker.core.errors import CJWorkerError

DELIVERY_LIMIT = 10
"""RabbitMQ: deliveries of one message before the quorum queue drops it (poison guard)."""
HEARTBEAT_SECONDS = 30
"""RabbitMQ: a connection silent this long (about twice) is dead, e.g. a half-open socket."""
REDIS_RESTORE_INTERVAL_SECONDS = 10
"""Redis: how often a worker scans ``unacked`` for messages past the visibility timeout."""
REDIS_SOCKET_TIMEOUT_SECONDS = 15
"""Redis: a command (a publish) on a dead connection fails after this instead of hanging."""


def is_rabbitmq(broker_url: str) -> bool:
    return broker_url.split("://", 1)[0] in ("amqp", "amqps", "pyamqp")


def is_redis(broker_url: str) -> bool:
    return broker_url.split("://", 1)[0] in ("redis", "rediss")


def queues(broker_url: str) -> list[Queue]:
    """The ``cj.*`` queues, each on its own exchange and key.

    A bare ``Queue(name)`` would bind every queue to the default exchange with one key, so
    each message would land in all four. On RabbitMQ they are quorum queues on topic
    exchanges (native delayed delivery routes countdowns by topic).
    """
    if is_rabbitmq(broker_url):
        arguments = {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT}
        return [
            Queue(name, Exchange(name, "topic"), routing_key=name, queue_arguments=arguments)
            for name in task_names.QUEUES
        ]
    return [Queue(name, Exchange(name, "direct"), routing_key=name) for name in task_names.QUEUES]


def transport_options(settings: Settings) -> dict[str, Any]:
    """``broker_transport_options`` for the configured broker."""
    if is_rabbitmq(settings.broker_url):
        return {"confirm_publish": True}
    return {
        "visibility_timeout": settings.broker_visibility_timeout_seconds,
        # Scan every interval (kombu's default scans one call in ten: every 100 s).
        "unacked_restore_interval": REDIS_RESTORE_INTERVAL_SECONDS,
        "unacked_restore_throttle": 1,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }


def celery_options(settings: Settings) -> dict[str, Any]:
    """The Celery settings that make delivery survive worker and broker failures."""
    options: dict[str, Any] = {
        "task_queues": queues(settings.broker_url),
        "broker_transport_options": transport_options(settings),
        # Never give up reconnecting: a broker restart must not end the workers.
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
    }
    if is_rabbitmq(settings.broker_url):
        options["broker_heartbeat"] = HEARTBEAT_SECONDS
        options["task_default_exchange_type"] = "topic"  # as the queues' own exchanges
    else:
        options["result_backend_transport_options"] = {
            "visibility_timeout": settings.broker_visibility_timeout_seconds
        }
    return options


# --------------------------------------------------------------- kombu workaround

log = logging.getLogger(__name__)


class DetachedChannelError(CJWorkerError, redis.exceptions.ConnectionError):
    """A Redis channel used after its connection was lost and collected."""


def treat_a_detached_redis_channel_as_disconnected() -> None:
    """Keep a worker alive when Redis drops its connection (kombu 5.7.0).

    On a lost connection Celery 5.7 *collects* the kombu connection, which detaches the
    transport from its connection details, and closes its channels. Two things then
    reach for a Redis client through the detached channel and fail with an
    ``AttributeError`` (``'NoneType' object has no attribute 'hostname'`` or ``'client'``
    in ``Channel._connparams``), which no cleanup handler expects, so the worker stops with
    "Unrecoverable error" and, without a supervisor, never comes back:

    - closing the channel pushes its unacknowledged messages back (``restore_unacked``);
    - a task that was running during the outage finishes after the reconnection and
      acknowledges its message on the old channel.

    Here a detached channel raises a Redis *connection* error instead, which is what it
    is: Celery and kombu already handle those (the restore is skipped, the ack is logged as
    failed). The messages concerned stay in Redis's ``unacked`` hash, from which a worker
    puts them back after the visibility timeout; every task is idempotent, and the sweep
    re-sends whatever a batch waits for long before that. Applied once, to kombu's Redis
    channel, so every Redis channel class (subclasses included) gets it.
    """
    channel: Any = kombu_redis.Channel
    if getattr(channel._connparams, "cj_detached_is_disconnected", False):
        return
    connparams = channel._connparams

    @functools.wraps(connparams)
    def _connparams(self: Any, asynchronous: bool = False) -> Any:
        transport = getattr(self, "connection", None)
        if transport is None or getattr(transport, "client", None) is None:
            raise DetachedChannelError(
                "the Redis channel was closed after a lost connection; its unacknowledged"
                " messages return after the visibility timeout"
            )
        return connparams(self, asynchronous=asynchronous)

    _connparams.cj_detached_is_disconnected = True  # type: ignore[attr-defined]
    channel._connparams = _connparams


treat_a_detached_redis_channel_as_disconnected()
