"""``cj-worker flower`` shows the worker and its finished tasks through Flower's HTTP API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.ops.conftest import FLOWER_USER, ObservedBatch, http_get, wait_for

pytestmark = pytest.mark.integration


def flower_json(url: str) -> Any:
    status, body = http_get(url, FLOWER_USER)
    assert status == 200, body
    return json.loads(body)


def test_flower_asks_for_credentials(observed_batch: ObservedBatch) -> None:
    status, _ = http_get(f"{observed_batch.deployment.flower_url}/api/workers")
    assert status == 401


def test_flower_lists_the_worker_and_its_queues(observed_batch: ObservedBatch) -> None:
    deployment = observed_batch.deployment
    found: dict[str, Any] = {}

    def listed() -> bool:
        # Flower asks the workers (celery inspect) and waits one second for the answers.
        workers = flower_json(f"{deployment.flower_url}/api/workers?refresh=1")
        found.update(
            (name, info)
            for name, info in workers.items()
            if name.startswith(f"{deployment.worker.name}@") and info.get("active_queues")
        )
        return bool(found)

    wait_for(listed, "Flower did not list the worker")
    [info] = found.values()
    queues = {queue["name"] for queue in info["active_queues"]}
    assert queues == {"cj.intake", "cj.callbacks", "cj.control", "cj.judge"}


def test_flower_shows_the_batch_s_finished_tasks(observed_batch: ObservedBatch) -> None:
    flower = observed_batch.deployment.flower_url
    batch_id = str(observed_batch.batch_id)

    def intake_seen() -> bool:
        tasks = flower_json(f"{flower}/api/tasks?taskname=cj.create_batch")
        return any(batch_id in str(task.get("result")) for task in tasks.values())

    wait_for(intake_seen, "Flower did not see the batch's cj.create_batch succeed")
    tasks = flower_json(f"{flower}/api/tasks?taskname=cj.create_batch")
    [task_id] = [key for key, task in tasks.items() if batch_id in str(task.get("result"))]
    info = flower_json(f"{flower}/api/task/info/{task_id}")
    assert (info["name"], info["state"]) == ("cj.create_batch", "SUCCESS")
    finals = flower_json(f"{flower}/api/tasks?taskname=cj.finalize_scoring&state=SUCCESS")
    assert any(
        batch_id in str(task.get("args")) + str(task.get("kwargs")) for task in finals.values()
    )
