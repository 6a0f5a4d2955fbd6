"""The Celery configuration that the reliability contract rests on."""

from __future__ import annotations

import pytest
from celery import Celery
from pydantic import ValidationError

from cj_worker import task_names
from cj_worker.celery_app import TASK_MODULES, app, configure
from cj_worker.config import Settings


def test_messages_are_json_only() -> None:
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.result_accept_content == ["json"]


def test_delivery_is_at_least_once_one_message_at_a_time() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_retry_on_worker_lost is True, "bounded, unlike a plain requeue"
    assert app.conf.worker_prefetch_multiplier == 1


def test_a_task_killed_by_its_time_limit_is_delivered_again_not_acknowledged() -> None:
    """A callback blocked past its hard limit must not drop the judge's answer."""
    assert app.conf.task_acks_on_timeout is False
    assert app.conf.task_acks_on_failure is False


def test_workers_reconnect_to_the_broker_forever() -> None:
    assert app.conf.broker_connection_retry is True
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.broker_connection_max_retries is None


def test_time_limits_end_a_task_before_redis_redelivers_it() -> None:
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit < visibility
    with pytest.raises(ValidationError, match="visibility_timeout"):
        Settings(task_time_limit_seconds=4000, broker_visibility_timeout_seconds=3600)


def test_redis_restores_a_dead_worker_s_messages_without_kombu_s_ten_fold_throttle() -> None:
    options = app.conf.broker_transport_options
    assert options["unacked_restore_throttle"] == 1
    assert options["unacked_restore_interval"] <= 10
    assert options["socket_timeout"] > 1, "longer than kombu's one-second BRPOP"


def test_on_rabbitmq_the_queues_are_quorum_queues_with_publisher_confirms() -> None:
    rabbit = Celery("rabbit")
    configure(rabbit, Settings(broker_url="amqp://guest:guest@127.0.0.1:5672//"))

    assert rabbit.conf.broker_transport_options == {"confirm_publish": True}
    assert {q.name for q in rabbit.conf.task_queues} == set(task_names.QUEUES)
    for queue in rabbit.conf.task_queues:
        assert queue.queue_arguments["x-queue-type"] == "quorum"
        assert queue.queue_arguments["x-delivery-limit"] >= 2
        assert queue.exchange.type == "topic", "native delayed delivery needs topic exchanges"
        assert (queue.exchange.name, queue.routing_key) == (queue.name, queue.name)
    assert rabbit.conf.task_default_exchange_type == "topic"
    assert 0 < rabbit.conf.broker_heartbeat <= 60
    assert "visibility_timeout" not in rabbit.conf.broker_transport_options


def test_each_queue_has_its_own_binding() -> None:
    """A message routed to one queue must not also land in the others (a shared default
    exchange and routing key would copy every message into all four queues)."""
    bindings = {(q.exchange.name, q.routing_key) for q in app.conf.task_queues}
    assert len(bindings) == len(task_names.QUEUES)
    assert {q.name for q in app.conf.task_queues} == set(task_names.QUEUES)
    for task, queue in task_names.ROUTES.items():
        route = app.amqp.router.route({}, task)
        assert route["queue"].name == queue
        assert route["queue"].routing_key == queue


def test_every_routed_task_is_registered_under_its_stable_name() -> None:
    app.loader.import_default_modules()
    assert set(TASK_MODULES) <= set(app.conf.include)
    for task in task_names.ROUTES:
        assert task in app.tasks, task
        assert app.tasks[task].acks_late is True


def test_beat_runs_the_sweep_and_the_outbox_relay() -> None:
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled == {task_names.SWEEP, task_names.RELAY_OUTBOX}
