"""The Redis limiter on the local Redis: same behaviour as the local one, and atomic.

Each test uses limit keys of its own, so runs and tests do not see each other's state.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest
import redis

from cj_worker.judges.llm.limits import PREFIX, RedisLimiter

pytestmark = pytest.mark.integration


@pytest.fixture
def limiter(redis_url: str) -> RedisLimiter:
    return RedisLimiter.from_url(redis_url)


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_reservations_are_spaced_by_the_interval_on_redis_time(
    limiter: RedisLimiter, key: str
) -> None:
    waits = [limiter.reserve(key, 0.5, 10.0) for _ in range(4)]
    assert [granted for granted, _ in waits] == [True] * 4
    spacings = [round(b[1] - a[1], 2) for a, b in itertools.pairwise(waits)]
    assert all(0.45 <= spacing <= 0.51 for spacing in spacings), spacings
    granted, wait = limiter.reserve(key, 0.5, 0.5)
    assert not granted
    assert 1.8 <= wait <= 2.0
    assert limiter.reserve(key, 0.5, 2.5)[0], "a refused reservation takes no slot"


def test_many_threads_reserving_at_once_get_distinct_slots(
    limiter: RedisLimiter, key: str, redis_url: str
) -> None:
    """40 threads reserve at once: each reservation moves the key's next free start by
    exactly one interval, so no two of them got the same start (a lost update would move
    it less), and the 40 starts span exactly 40 intervals (the former check of 3.9 +- 0.1 s
    on the callers' clocks, now in whole milliseconds on Redis's). Nothing here depends on
    the threads' timing, which a loaded machine stretched past half an interval."""
    client = redis.Redis.from_url(redis_url)
    stored = f"{PREFIX}rate:{key}"
    # Put the next free start a minute ahead, so every reservation below queues behind
    # the previous one however slowly the threads start.
    assert limiter.reserve(key, 60.0, 1.0)[0]
    before = int(client.get(stored) or 0)
    granted: list[bool] = []
    lock = threading.Lock()

    def reserve() -> None:
        ok, _ = limiter.reserve(key, 0.1, 120.0)
        with lock:
            granted.append(ok)

    threads = [threading.Thread(target=reserve) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert granted == [True] * 40
    assert int(client.get(stored) or 0) - before == 40 * 100, "no two reservations share a slot"


def test_hold_off_pushes_the_next_start_for_everyone(limiter: RedisLimiter, key: str) -> None:
    limiter.hold_off(key, 2.0)
    limiter.hold_off(key, 0.5)
    granted, wait = limiter.reserve(key, 0.0, 10.0)
    assert granted
    assert 1.9 <= wait <= 2.0


def test_the_semaphore_admits_its_limit_and_frees_lapsed_leases(
    limiter: RedisLimiter, key: str
) -> None:
    assert limiter.try_acquire(key, "a", 2, 0.3)
    assert limiter.try_acquire(key, "b", 2, 30.0)
    assert not limiter.try_acquire(key, "c", 2, 30.0)
    time.sleep(0.4)
    assert limiter.try_acquire(key, "c", 2, 30.0), "a's lease lapsed"
    assert not limiter.try_acquire(key, "d", 2, 30.0)
    limiter.release(key, "b")
    assert limiter.try_acquire(key, "d", 2, 30.0)


def test_concurrent_acquirers_never_exceed_the_limit(limiter: RedisLimiter, key: str) -> None:
    admitted: list[str] = []
    lock = threading.Lock()

    def acquire(token: str) -> None:
        if limiter.try_acquire(key, token, 3, 30.0):
            with lock:
                admitted.append(token)

    threads = [threading.Thread(target=acquire, args=(f"t{i}",)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 3


def test_blocks_expire(limiter: RedisLimiter, key: str, redis_url: str) -> None:
    limiter.block(key, "judge_auth_failed", 0.3)
    assert limiter.blocked(key) == "judge_auth_failed"
    time.sleep(0.4)
    assert limiter.blocked(key) is None
    keys = redis.Redis.from_url(redis_url).keys(f"cj:llm:*{key}")
    assert keys == [], "nothing is left behind once leases and blocks lapse"
