"""What the pipeline benchmark's processes share: names, keys, the environment, test data.

``benchmarks/pipeline.py`` (the orchestrator), ``pipeline_judge.py`` (the instant external
judge) and ``pipeline_offline.py`` (the one-process measurements) are run by path, so they
import this module by its plain name. ``pipeline_tasks.py``, which a Celery worker imports
as ``benchmarks.pipeline_tasks``, does not import it and repeats the few names it needs.
"""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import redis

from tests import databases

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
"""A Redis database of the benchmark's own (the tests use 11): flushed at start and end."""
DEFAULT_POSTGRES_ADMIN_URL = os.environ.get(
    "CJ_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)

KEY_PREFIX = "cjbench:"
"""Every Redis key the benchmark writes itself (besides the queues) starts with this."""
LOCK_KEY = KEY_PREFIX + "lock"
"""Set while a run owns the Redis database; its value is the owner's pid."""
JUDGE_RATE_KEY = KEY_PREFIX + "judge:rate"
"""Callbacks per second the judge may send; 0 or absent: as fast as it can."""
JUDGE_SENT_KEY = KEY_PREFIX + "judge:sent"
"""Hash comparison id -> epoch seconds at which the judge sent its callback."""
JUDGE_ANSWERED_KEY = KEY_PREFIX + "judge:answered"

JUDGE_TASK = "bench.judge"
"""The external judge's task name (never ``cj.*``: intake refuses those)."""
JUDGE_QUEUE = "bench.judge"
"""The queue the benchmark's judge consumes."""
PARKED_QUEUE = "bench.parked"
"""An external judge queue nobody consumes: requests sent there stay, to be measured."""
JUDGE_ID = "bench:instant"

MARKER = "CJBENCH-ESSAY-MARKER"
"""In every essay text, so a raw message that carries essay text can be recognised."""
DEFAULT_ESSAY_CHARS = 2_000
"""About 330 words: a school essay. Message sizes grow with it while texts travel."""

_WORDS = (
    "the",
    "argument",
    "rests",
    "on",
    "evidence",
    "that",
    "the",
    "author",
    "weighs",
    "against",
    "several",
    "competing",
    "claims",
    "while",
    "the",
    "reader",
    "follows",
    "each",
    "step",
    "of",
    "reasoning",
    "toward",
    "a",
    "conclusion",
    "about",
    "history",
    "science",
    "society",
    "language",
    "and",
    "the",
    "choices",
    "people",
    "make",
    "under",
    "uncertainty",
)


def essay_text(index: int, chars: int) -> str:
    """A deterministic essay of about ``chars`` characters, distinct per ``index``."""
    digest = hashlib.sha256(str(index).encode()).digest()
    words = [MARKER, f"essay {index}:"]
    length = sum(len(word) + 1 for word in words)
    position = 0
    while length < chars:
        word = _WORDS[(digest[position % len(digest)] + position * 7) % len(_WORDS)]
        words.append(word)
        length += len(word) + 1
        position += 1
    return " ".join(words)[:chars]


def true_score(index: int) -> float:
    """A fixed pseudo-random true quality (logits, spread about 1.5) of essay ``index``."""
    digest = hashlib.sha256(f"score:{index}".encode()).digest()
    u = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
    # Logistic quantile: close enough to the pairing study's N(0, 1.5^2) for timing.
    return 1.5 * 0.55 * math.log(u / (1 - u))


def essays(count: int, chars: int, *, with_scores: bool = False) -> list[dict[str, Any]]:
    """``count`` essays as ``EssayIn`` dicts (``true_score`` for the simulated judge)."""
    return [
        {
            "id": f"essay-{index:05d}",
            "text": essay_text(index, chars),
            **({"true_score": true_score(index)} if with_scores else {}),
        }
        for index in range(count)
    ]


def coin(comparison_id: uuid.UUID) -> Literal["A", "B"]:
    """The instant judge's verdict: a fair coin seeded by the comparison id.

    Deterministic, and needs no essay truth. Batches run with a stability threshold of 0,
    so outcomes never end one early: every batch spends exactly its budget.
    """
    return "A" if hashlib.sha256(comparison_id.bytes).digest()[0] & 1 else "B"


def environment(database_url: str, broker_url: str, secret: str) -> dict[str, str]:
    """The environment of every process of a run: the deployment settings, as ``CJ_*``.

    Inherited ``CJ_*`` settings are dropped so a developer's shell cannot change what is
    measured. Metrics are off (``CJ_METRICS_PORT=0``) only because several workers on one
    machine would fight over the port; the metric observations are still recorded.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CJ_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(
        CJ_DATABASE_URL=database_url,
        CJ_BROKER_URL=broker_url,
        CJ_RESULT_TOKEN_SECRETS=secret,
        CJ_METRICS_PORT="0",
        PYTHONPATH=python_path,
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def temporary_database(admin_url: str) -> Iterator[str]:
    """A new database ``cj_bench_<hex>``, dropped (connections and all) on exit."""
    with databases.temporary_database(admin_url, prefix="cj_bench") as url:
        yield url


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=3)


def list_keys(client: redis.Redis) -> dict[str, int]:
    """Every list in the database (the queues) with its length."""
    lists: dict[str, int] = {}
    for key in client.scan_iter(count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        if client.type(key) in (b"list", "list"):
            lists[name] = int(client.llen(key))
    return lists


def delete_lists(client: redis.Redis) -> None:
    """Empty every queue, leaving the benchmark's own keys (the lock) in place."""
    names = list(list_keys(client))
    if names:
        client.delete(*names)
