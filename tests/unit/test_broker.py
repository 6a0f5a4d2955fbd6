"""Per-broker options, and the kombu workaround that keeps workers alive on a Redis restart."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import redis
from kombu import Connection
from kombu.transport import redis as kombu_redis

from cj_worker import broker, task_names
from cj_worker.config import Settings


@pytest.mark.parametrize(
    ("url", "rabbit", "is_redis"),
    [
        ("amqp://guest:guest@127.0.0.1:5672//", True, False),
        ("amqps://host/vhost", True, False),
        ("pyamqp://host", True, False),
        ("redis://127.0.0.1:6379/0", False, True),
        ("rediss://host:6380/1", False, True),
        ("memory://", False, False),
    ],
)
def test_the_broker_kind_comes_from_the_url_scheme(url: str, rabbit: bool, is_redis: bool) -> None:
    assert (broker.is_rabbitmq(url), broker.is_redis(url)) == (rabbit, is_redis)


def test_redis_queues_are_plain_queues_on_their_own_direct_exchanges() -> None:
    queues = broker.queues("redis://127.0.0.1:6379/0")
    assert [q.name for q in queues] == list(task_names.QUEUES)
    for queue in queues:
        assert queue.exchange.type == "direct"
        assert not queue.queue_arguments


def test_redis_options_carry_the_visibility_timeout_of_the_settings() -> None:
    settings = Settings(broker_url="redis://r:6379/0", broker_visibility_timeout_seconds=1234)
    options = broker.celery_options(settings)
    assert options["broker_transport_options"]["visibility_timeout"] == 1234
    assert options["result_backend_transport_options"] == {"visibility_timeout": 1234}
    assert options["broker_connection_max_retries"] is None


def detached_channel() -> Any:
    """A kombu Redis channel as Celery leaves it after collecting a lost connection."""
    channel: Any = object.__new__(kombu_redis.Channel)
    channel.connection = SimpleNamespace(client=None, default_port=6379)
    channel._pool = None
    return channel


def test_a_detached_redis_channel_reports_a_lost_connection_not_an_attribute_error() -> None:
    """kombu 5.7.0 raised ``AttributeError: 'NoneType' object has no attribute 'hostname'``
    here, which ended the worker; a connection error is what Celery's cleanup expects."""
    channel = detached_channel()

    with pytest.raises(redis.exceptions.ConnectionError):
        channel._connparams()
    closed: Any = object.__new__(kombu_redis.Channel)
    closed.connection = None  # closed channel: kombu's own close_channel sets this
    with pytest.raises(redis.exceptions.ConnectionError):
        closed._connparams()


def test_restoring_unacked_messages_on_a_detached_channel_is_a_connection_error() -> None:
    """Closing the channel restores its unacked messages; the error must be one that
    ``Connection.maybe_close_channel`` ignores."""
    qos: Any = kombu_redis.QoS(detached_channel())
    qos._on_collect.cancel()  # no second restore attempt when the test process exits
    qos._delivered["tag"] = object()

    with pytest.raises(redis.exceptions.ConnectionError):
        qos.restore_unacked()


def test_an_attached_channel_still_builds_its_connection_parameters() -> None:
    connection = Connection("redis://10.0.0.9:6390/2")  # never connected
    channel: Any = object.__new__(kombu_redis.Channel)
    channel.connection = connection.transport

    params = channel._connparams()

    assert (params["host"], params["port"]) == ("10.0.0.9", 6390)


def test_the_workaround_is_applied_once() -> None:
    channel: Any = kombu_redis.Channel
    before = channel._connparams
    broker.treat_a_detached_redis_channel_as_disconnected()
    assert channel._connparams is before
