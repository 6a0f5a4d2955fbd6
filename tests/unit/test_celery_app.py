"""The Celery configuration that the reliability contract rests on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cj_worker import task_names
from cj_worker.celery_app import TASK_MODULES, app
from cj_worker.config import Settings


def test_messages_are_json_only() -> None:
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.result_accept_content == ["json"]


def test_delivery_is_at_least_once_one_message_at_a_time() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_time_limits_end_a_task_before_redis_redelivers_it() -> None:
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit < visibility
    with pytest.raises(ValidationError, match="visibility_timeout"):
        Settings(task_time_limit_seconds=4000, broker_visibility_timeout_seconds=3600)


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
