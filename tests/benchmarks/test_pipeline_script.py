"""Smoke test of benchmarks/pipeline.py: it starts its workers and prints every section.

Tiny sizes (``--quick``) and no timing assertions: the figures depend on the machine and
its load. The script runs in a subprocess, as a developer runs it, against the local
PostgreSQL (a database of its own, dropped at exit) and a Redis database of its own.
"""

from __future__ import annotations

import os

import pytest
import redis

from tests.benchmarks.scripts import run_benchmark
from tests.databases import reachable_redis

REDIS_URL = os.environ.get("CJ_TEST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
"""Not the integration tests' database (11, flushed by their session), nor the full run's
default (9), so the smoke test can run beside either."""


@pytest.fixture
def bench_redis_url() -> str:
    reachable_redis(REDIS_URL)
    return REDIS_URL


@pytest.mark.integration
def test_quick_run_prints_every_section_and_cleans_up(
    pg_admin_url: str, bench_redis_url: str
) -> None:
    result = run_benchmark(
        "pipeline.py",
        "--quick",
        "--redis-url",
        bench_redis_url,
        "--postgres-admin-url",
        pg_admin_url,
        timeout=85,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("sec "))
    for column in ("case", "measured", "target", "status"):
        assert column in header
    for section in ("base", "a", "b", "c", "d", "e", "f"):
        assert any(line.startswith(f"{section} ") for line in lines), section
    out = result.stdout
    for figure in (
        "no-op task",
        "one-transaction task",
        "callbacks/s",
        "ratio to the no-op task",
        "callback->commit",
        "wave->next wave",
        "pending:",
        "continuation (fit, decide, next wave, dispatch",
        "finalize",
        "peak RSS",
        "Redis bytes per pending request, built-in simulated judge",
        "Redis bytes per pending request, external judge",
        "argsrepr/kwargsrepr",
    ):
        assert figure in out, figure
    # --quick sizes are below the targets' sizes, so no verdict may be claimed for them.
    assert "targets: 0 PASS, 0 MISS" in out
    assert redis.Redis.from_url(bench_redis_url).dbsize() == 0, "the run left keys in Redis"
