"""The in-process limiter and the permit helper (the Redis limiter: tests/integration)."""

from __future__ import annotations

import pytest

from cj_worker.judges.llm.limits import LocalLimiter, NoPermitError, concurrency_slot, limit_key
from tests.unit.judges.llm.fakes import FakeClock


def test_starts_are_spaced_by_the_interval_and_long_waits_reserve_nothing() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    waits = [limiter.reserve("k", 0.5, 10.0) for _ in range(4)]
    assert waits == [(True, 0.0), (True, 0.5), (True, 1.0), (True, 1.5)]
    assert limiter.reserve("k", 0.5, 1.0) == (False, 2.0)
    assert limiter.reserve("k", 0.5, 2.0) == (True, 2.0), "the refused reservation took no slot"
    clock.now += 100
    assert limiter.reserve("k", 0.5, 0.0) == (True, 0.0), "idle time is not banked"
    assert limiter.reserve("other", 0.5, 0.0) == (True, 0.0), "keys are independent"


def test_a_hold_off_delays_the_next_start_but_never_brings_it_forward() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    limiter.hold_off("k", 4.0)
    limiter.hold_off("k", 1.0)
    assert limiter.reserve("k", 0.0, 10.0) == (True, 4.0)


def test_permits_are_limited_released_and_expire_with_their_lease() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    assert limiter.try_acquire("k", "a", 2, 10.0)
    assert limiter.try_acquire("k", "b", 2, 10.0)
    assert not limiter.try_acquire("k", "c", 2, 10.0)
    limiter.release("k", "a")
    assert limiter.try_acquire("k", "c", 2, 10.0)
    clock.now += 11
    assert limiter.try_acquire("k", "d", 2, 10.0), "a dead holder's permits lapse"
    assert limiter.try_acquire("k", "e", 2, 10.0)


def test_a_block_is_remembered_until_it_expires() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    limiter.block("batch:1", "judge_auth_failed", 60.0)
    assert limiter.blocked("batch:1") == "judge_auth_failed"
    assert limiter.blocked("batch:2") is None
    clock.now += 61
    assert limiter.blocked("batch:1") is None


def test_concurrency_slot_waits_for_a_permit_and_gives_it_back() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    assert limiter.try_acquire("k", "holder", 1, 5.0)  # lapses after 5 s
    with concurrency_slot(
        limiter, "k", 1, 30.0, 10.0, sleep=clock.sleep, clock=clock, jitter=lambda a, b: 1.0
    ):
        assert clock.now >= 1005.0, "waited until the holder's lease lapsed"
        assert not limiter.try_acquire("k", "x", 1, 5.0)
    assert limiter.try_acquire("k", "x", 1, 5.0)


def test_concurrency_slot_gives_up_after_its_wait() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    assert limiter.try_acquire("k", "holder", 1, 1000.0)
    with (
        pytest.raises(NoPermitError),
        concurrency_slot(
            limiter, "k", 1, 30.0, 3.0, sleep=clock.sleep, clock=clock, jitter=lambda a, b: 0.5
        ),
    ):
        pytest.fail("no permit was free")
    assert 3.0 <= clock.now - 1000.0 <= 3.5


def test_limit_keys_separate_endpoints_models_and_key_variables() -> None:
    keys = {
        limit_key("http://a/v1", "m", "K_API_KEY"),
        limit_key("http://b/v1", "m", "K_API_KEY"),
        limit_key("http://a/v1", "n", "K_API_KEY"),
        limit_key("http://a/v1", "m", None),
    }
    assert len(keys) == 4
    assert limit_key("http://a/v1", "m", None) == limit_key("http://a/v1", "m", None)
