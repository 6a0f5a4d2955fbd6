"""Rate and concurrency limits that hold across every worker process, kept in Redis.

A provider limits a key, not a process: two judge workers with four processes each must
together start at most ``requests_per_minute`` requests and have at most ``concurrency``
in flight. Both limits are kept in Redis under a key derived from endpoint, model and key
variable, so every batch using the same account shares them.

- **Rate**: GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp).
  A Lua script reserves the next start time atomically, on Redis's clock, and says how long
  to wait for it; starts are then spaced ``60 / requests_per_minute`` seconds apart in any
  window. A 429's ``Retry-After`` pushes that time forward for every process at once.
- **Concurrency**: a semaphore as a sorted set of holders scored by lease expiry, so a
  permit held by a process that died is freed when its lease runs out.
- **Blocks**: a flag with expiry; after a 401/403 the other comparisons of the batch fail at
  once instead of each sending a request that will be refused.

:class:`LocalLimiter` keeps the same state in one process (the embedded runner, tests).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import redis

from cj_worker.errors import CJWorkerError

__all__ = [
    "Limiter",
    "LocalLimiter",
    "NoPermitError",
    "RedisLimiter",
    "concurrency_slot",
    "limit_key",
]


def limit_key(base_url: str, model: str, api_key_env: str | None) -> str:
    """The name limits are kept under: one per endpoint, model and key variable."""
    raw = f"{base_url}\n{model}\n{api_key_env or ''}".encode()
    return hashlib.sha256(raw).hexdigest()[:24]


class Limiter(Protocol):
    def reserve(
        self, key: str, interval_seconds: float, max_wait_seconds: float
    ) -> tuple[bool, float]:
        """Reserve the next request start ``interval_seconds`` after the last one:
        ``(True, seconds to wait for it)``, or ``(False, that wait)`` with nothing reserved
        when it would be longer than ``max_wait_seconds``."""
        ...

    def hold_off(self, key: str, seconds: float) -> None:
        """No request under ``key`` starts for ``seconds`` (a 429's Retry-After)."""
        ...

    def try_acquire(self, key: str, token: str, limit: int, lease_seconds: float) -> bool:
        """Take one of ``limit`` permits for ``lease_seconds`` unless all are held."""
        ...

    def release(self, key: str, token: str) -> None: ...

    def block(self, key: str, reason: str, seconds: float) -> None:
        """Remember ``reason`` under ``key`` for ``seconds``."""
        ...

    def blocked(self, key: str) -> str | None: ...


class NoPermitError(CJWorkerError):
    """No permit could be had in the time allowed; ``wait`` is a fair time to come back."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"no permit within the time allowed; retry in {wait:.1f}s")
        self.wait = wait


# ----------------------------------------------------------------------------- Redis
# Times are integer milliseconds from Redis's TIME, so every process reads one clock.

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
local next_tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now + 1000)
return {1, wait}
"""

_HOLD_OFF = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ms = now + tonumber(ARGV[1])
if until_ms > tat then redis.call('SET', KEYS[1], until_ms, 'PX', until_ms - now + 1000) end
return 1
"""

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return 1
"""

PREFIX = "cj:llm:"


class RedisLimiter:
    """Limits shared by every process that uses the same Redis database."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._reserve = client.register_script(_RESERVE)
        self._hold_off = client.register_script(_HOLD_OFF)
        self._acquire = client.register_script(_ACQUIRE)

    @classmethod
    def from_url(cls, url: str) -> RedisLimiter:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5))

    def reserve(
        self, key: str, interval_seconds: float, max_wait_seconds: float
    ) -> tuple[bool, float]:
        granted, wait_ms = self._call(
            self._reserve,
            [f"{PREFIX}rate:{key}"],
            [round(interval_seconds * 1000), round(max_wait_seconds * 1000)],
        )
        return bool(granted), int(wait_ms) / 1000

    def hold_off(self, key: str, seconds: float) -> None:
        self._call(self._hold_off, [f"{PREFIX}rate:{key}"], [round(seconds * 1000)])

    def try_acquire(self, key: str, token: str, limit: int, lease_seconds: float) -> bool:
        acquired = self._call(
            self._acquire, [f"{PREFIX}slots:{key}"], [limit, token, round(lease_seconds * 1000)]
        )
        return bool(acquired)

    def release(self, key: str, token: str) -> None:
        self._client.zrem(f"{PREFIX}slots:{key}", token)

    def block(self, key: str, reason: str, seconds: float) -> None:
        self._client.set(f"{PREFIX}blocked:{key}", reason, px=max(1, round(seconds * 1000)))

    def blocked(self, key: str) -> str | None:
        value = self._client.get(f"{PREFIX}blocked:{key}")
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    @staticmethod
    def _call(script: Any, keys: list[str], args: list[Any]) -> Any:
        return script(keys=keys, args=args)


# ----------------------------------------------------------------------------- local


class LocalLimiter:
    """The same limits inside one process (the embedded runner has one worker)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._next_start: dict[str, float] = {}
        self._holders: dict[str, dict[str, float]] = {}
        self._blocks: dict[str, tuple[str, float]] = {}

    def reserve(
        self, key: str, interval_seconds: float, max_wait_seconds: float
    ) -> tuple[bool, float]:
        with self._lock:
            now = self._clock()
            start = max(self._next_start.get(key, now), now)
            wait = start - now
            if wait > max_wait_seconds:
                return False, wait
            self._next_start[key] = start + interval_seconds
            return True, wait

    def hold_off(self, key: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            self._next_start[key] = max(self._next_start.get(key, until), until)

    def try_acquire(self, key: str, token: str, limit: int, lease_seconds: float) -> bool:
        with self._lock:
            now = self._clock()
            holders = {t: e for t, e in self._holders.get(key, {}).items() if e > now}
            self._holders[key] = holders
            if len(holders) >= limit:
                return False
            holders[token] = now + lease_seconds
            return True

    def release(self, key: str, token: str) -> None:
        with self._lock:
            self._holders.get(key, {}).pop(token, None)

    def block(self, key: str, reason: str, seconds: float) -> None:
        with self._lock:
            self._blocks[key] = (reason, self._clock() + seconds)

    def blocked(self, key: str) -> str | None:
        with self._lock:
            entry = self._blocks.get(key)
            return entry[0] if entry is not None and entry[1] > self._clock() else None


# ----------------------------------------------------------------------------- helpers

POLL_SECONDS = (0.02, 0.2)
"""Range of the pause between two tries for a concurrency permit (random, so processes
that lost the same race do not try again in step)."""


@contextmanager
def concurrency_slot(
    limiter: Limiter,
    key: str,
    limit: int,
    lease_seconds: float,
    max_wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[float, float], float] | None = None,
) -> Iterator[None]:
    """Hold one of ``limit`` permits for the block; :class:`NoPermitError` if none is had in
    ``max_wait_seconds``. The lease bounds how long a dead holder keeps its permit."""
    draw = jitter or random.uniform
    token = uuid.uuid4().hex
    give_up = clock() + max_wait_seconds
    while not limiter.try_acquire(key, token, limit, lease_seconds):
        if clock() >= give_up:
            raise NoPermitError(wait=max(1.0, lease_seconds / 4))
        sleep(draw(*POLL_SECONDS))
    try:
        yield
    finally:
        limiter.release(key, token)
