"""What every test with real worker processes shares: the broker, their environment, a producer.

Workers use a Redis database index of their own that is flushed first, so stray messages
from another run cannot reach them, and are configured only through the environment, as a
deployment is.
"""

from __future__ import annotations

import os

import pytest
from celery import Celery

from cj_worker.celery_app import configure
from cj_worker.config import Settings
from tests.databases import reachable_redis

REDIS_URL = os.environ.get("CJ_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
RESULT_TOKEN_SECRET = "integration-tests-result-token-secret"
"""Workers refuse to start without one; a test that answers comparisons itself signs with
it (``cj_worker.tokens.token_for(id, [RESULT_TOKEN_SECRET.encode()])``)."""


@pytest.fixture(scope="session")
def redis_url() -> str:
    reachable_redis(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture(scope="session")
def worker_env(pg_url: str, redis_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CJ_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        CJ_DATABASE_URL=pg_url,
        CJ_BROKER_URL=redis_url,
        # No beat runs in these tests: the default sweep interval is left, which fits the
        # other time settings (a worker refuses settings that do not fit together).
        # Several workers may run at once: only a test that scrapes one gives it a port.
        CJ_METRICS_PORT="0",
        CJ_RESULT_TOKEN_SECRETS=RESULT_TOKEN_SECRET,
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def producer(worker_env: dict[str, str]) -> Celery:
    """A producer's app: same broker, no tasks of its own."""
    app = Celery("producer")
    configure(
        app,
        Settings(
            database_url=worker_env["CJ_DATABASE_URL"], broker_url=worker_env["CJ_BROKER_URL"]
        ),
    )
    return app
