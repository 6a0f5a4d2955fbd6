"""Poison messages never stop a worker: they go to the dead-letter list and it keeps going.

One non-JSON string pushed into a Redis queue used to stop a worker and its pool with
``Unrecoverable error: JSONDecodeError`` (celery#7975, kombu#2421): kombu's Redis transport
decodes the message envelope in the event loop, outside any handler that could refuse one
message. Every batch then waits until someone restarts the worker. Two hooks of ours stand
where a message can fail before any task runs:

- :class:`Transport` (the Redis transport, ``broker_transport``) screens every message a
  worker pops (``BRPOP``, and ``RPOP`` when polling) *before* kombu decodes it: one that is
  not JSON, or not an envelope kombu can deliver and acknowledge, is moved to the dead-letter
  list and the pop reports "nothing yet", so the loop carries on.
- :class:`Consumer` (``worker_consumer``) moves to the list what Celery's consumer would
  otherwise only log and discard (a body that cannot be decoded, a message that is not a
  task, an unknown task name, an invalid task message), and catches anything else that
  escapes the dispatch of one message, rejecting that message instead of dying of it.

Each dead letter is logged at ERROR and counted (``cj_dead_letters_total``); inspecting and
replaying them: :mod:`cj_worker.dead_letters`. On a broker other than Redis the consumer hook
still protects the worker and logs and counts, but keeps no list.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import redis
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from cj_worker import dead_letters

__all__ = ["Consumer", "Transport", "celery_options", "envelope_problem"]

log = logging.getLogger(__name__)

_RedisChannel: Any = kombu_redis.Channel
_RedisTransport: Any = kombu_redis.Transport
"""kombu's classes, untyped: the stubs do not describe the internals extended here."""

TRANSPORT = "cj_worker.poison:Transport"
CONSUMER = "cj_worker.poison:Consumer"


def celery_options(broker_url: str) -> dict[str, str]:
    """The Celery settings that install the hooks for a broker at ``broker_url``."""
    options = {"worker_consumer": CONSUMER}
    if broker_url.startswith("redis://"):
        options["broker_transport"] = TRANSPORT
    return options


def record(client: redis.Redis | None, letter: dead_letters.DeadLetter) -> None:
    """Log and count ``letter`` and, with a client, keep it in the list.

    Never raises: a worker that cannot keep a dead letter still must not stop over it.
    """
    from cj_worker import metrics  # not at import: see cj_worker.metrics on multiprocess mode

    kept = False
    if client is not None:
        try:
            dead_letters.push(client, letter)
            kept = True
        except Exception as error:  # the broker just failed us; say so and go on
            log.error("could not keep a dead letter: %r", error)
    log.error(
        "dead letter: %s message on %s (%s)%s; raw: %.300r",
        letter.reason,
        letter.queue,
        letter.error,
        f", kept in {dead_letters.KEY}" if kept else ", NOT kept",
        letter.raw,
    )
    metrics.observe_dead_letter(letter.queue, letter.reason)


# ------------------------------------------------------------------------- transport


def envelope_problem(
    item: bytes | str, decode_body: Callable[[Any, Any], Any]
) -> tuple[str, str] | None:
    """Why kombu's Redis transport could not deliver ``item`` (reason, detail); None if it can.

    The checks are what delivery needs before any handler of ours or Celery's runs: the
    envelope is JSON, an object, with ``properties`` naming a ``delivery_tag`` and a
    ``delivery_info`` (the unacked index stores both), headers that are an object, and a
    body its ``body_encoding`` decodes.
    """
    try:
        payload = loads(bytes_to_str(item))
    except Exception as error:
        return "undecodable", f"not JSON: {error}"
    malformed = "malformed_envelope"
    if not isinstance(payload, dict):
        return malformed, f"a JSON {type(payload).__name__}, not a message envelope"
    properties = payload.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("delivery_tag"), str):
        return malformed, "no properties.delivery_tag"
    info = properties.get("delivery_info")
    if not isinstance(info, dict) or "exchange" not in info or "routing_key" not in info:
        return malformed, "no properties.delivery_info with exchange and routing_key"
    if not isinstance(payload.get("headers") or {}, dict):
        return malformed, "headers are not an object"
    body = payload.get("body")
    if body:
        try:
            decode_body(body, properties.get("body_encoding"))
        except Exception as error:
            return "undecodable_body", f"body does not decode: {error!r}"
    return None


class Channel(_RedisChannel):  # type: ignore[misc]
    """kombu's Redis channel whose client screens what it pops."""

    def _get_client(self) -> Any:
        factory = super()._get_client()
        base, keywords = (
            (factory.func, factory.keywords)
            if isinstance(factory, functools.partial)
            else (factory, {})
        )
        bases: tuple[Any, ...] = (_Screening, base)
        screened = type(f"Screening{base.__name__}", bases, {"channel": self})
        return functools.partial(screened, **keywords) if keywords else screened

    def screen(self, key: Any, item: Any) -> bool:
        """Whether ``item``, popped from ``key``, can be delivered; if not, dead-letter it."""
        problem = envelope_problem(item, self.decode_body)
        if problem is None:
            return True
        reason, detail = problem
        queue = bytes_to_str(key).rsplit(self.sep, 1)[0]
        client: redis.Redis | None
        try:
            client = self._create_client()
        except Exception:
            client = None
        record(client, dead_letters.DeadLetter.of(queue, reason, detail, item))
        return False


class _Screening:
    """Mixed into the channel's Redis client class: pops deliver only deliverable items."""

    channel: Channel

    def parse_response(self, connection: Any, command_name: Any, **options: Any) -> Any:
        response = super().parse_response(connection, command_name, **options)  # type: ignore[misc]
        if command_name == "BRPOP" and response:
            key, item = response
            if not self.channel.screen(key, item):
                return None  # kombu reads "nothing popped" and issues the next BRPOP
        return response

    def rpop(self, name: Any, count: Any = None) -> Any:
        item = super().rpop(name, count)  # type: ignore[misc]
        if count is None and item and not self.channel.screen(name, item):
            return None
        return item


class Transport(_RedisTransport):  # type: ignore[misc]
    """kombu's Redis transport with the screening channel."""

    Channel = Channel


# -------------------------------------------------------------------------- consumer


class Consumer(CeleryConsumer):
    """Celery's consumer; what it would discard or die of goes to the dead-letter list."""

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        handler = super().create_task_handler(*args, **kwargs)
        # kombu's Redis transport counts KeyError among its connection errors; raised while
        # dispatching one message it means a message without a field, not a lost broker.
        connection_errors = tuple(
            error
            for error in (
                *(getattr(self, "connection_errors", None) or ()),
                *(getattr(self, "channel_errors", None) or ()),
            )
            if not issubclass(error, LookupError)
        )

        def on_task_received(message: Any) -> Any:
            try:
                return handler(message)
            except connection_errors:
                raise  # the consumer reconnects; the message is redelivered
            except Exception as error:
                self._dead_letter(message, "unhandled", error)
                message.reject_log_error(log, connection_errors)
                return None

        return on_task_received

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._dead_letter(message, "undecodable_body", exc)
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._dead_letter(message, "unknown_message", "not a task message")
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._dead_letter(message, "unknown_task", exc)
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._dead_letter(message, "invalid_task", exc)
        super().on_invalid_task(body, message, exc)

    def _dead_letter(self, message: Any, reason: str, error: object) -> None:
        try:
            info = message.delivery_info or {}
            queue = str(info.get("routing_key") or info.get("exchange") or "?")
            raw_envelope = getattr(message, "_raw", None)
            raw = (
                dead_letters_json(raw_envelope) if raw_envelope is not None else repr(message.body)
            )
            channel = getattr(message, "channel", None)
            client = channel._create_client() if isinstance(channel, _RedisChannel) else None
        except Exception as failure:  # a message too broken to describe
            queue, raw, client = "?", f"<unreadable message: {failure!r}>", None
        record(client, dead_letters.DeadLetter.of(queue, reason, error, raw))


def dead_letters_json(envelope: Any) -> str:
    """The envelope as the Redis list held it, for replay."""
    from kombu.utils.json import dumps

    return str(dumps(envelope))
