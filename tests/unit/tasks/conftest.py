"""Task bodies in Celery eager mode on a migrated SQLite file.

``eager_app`` runs the real ``cj_worker.celery_app.app`` with ``task_always_eager`` so that
``task.delay(...)`` executes the task in this process, Celery request context and all.
``sent`` swaps the after-commit transport for one that records the messages instead of
running them, for the tests that inspect what a task sends rather than its consequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from cj_worker.celery_app import app
from tests.unit.tasks.transports import CapturingTransport, capturing

EAGER_SETTINGS = {"task_always_eager": True, "task_eager_propagates": True}


@pytest.fixture
def eager_app(database_url: str) -> Iterator[Celery]:
    """The real app, executing tasks inline; its configuration is restored afterwards."""
    app.loader.import_default_modules()  # registers the cj.* tasks, as a worker would
    saved: dict[str, Any] = {key: app.conf[key] for key in EAGER_SETTINGS}
    app.conf.update(EAGER_SETTINGS)
    try:
        yield app
    finally:
        app.conf.update(saved)


@pytest.fixture
def sent(eager_app: Celery) -> Iterator[CapturingTransport]:
    """Messages sent after commit are recorded here instead of being executed."""
    with capturing() as transport:
        yield transport
