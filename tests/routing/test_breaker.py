"""Circuit breaker: trips on a failure rate, probes in half-open, shared through the KV."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.config import BreakerSettings
from corral.routing.breaker import CircuitBreaker
from corral.store.kv import KV, MemoryKV
from tests.routing.conftest import FakeClock

DEP = "openai/gpt-4o"


def breaker(kv: KV, clock: FakeClock, **overrides: Any) -> CircuitBreaker:
    settings = BreakerSettings(**{"failure_rate": 0.5, "min_requests": 4, "window_s": 10.0,
                                  "open_s": 5.0, "half_open_probes": 2, **overrides})
    return CircuitBreaker(kv, settings, clock=clock)


async def record_many(b: CircuitBreaker, successes: int = 0, failures: int = 0, dep: str = DEP) -> None:
    for _ in range(successes):
        await b.record(dep, True)
    for _ in range(failures):
        await b.record(dep, False)


async def trip(b: CircuitBreaker, dep: str = DEP) -> None:
    await record_many(b, failures=b.settings.min_requests, dep=dep)
    assert await b.state(dep) == "open"


async def test_starts_closed(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    assert await b.state(DEP) == "closed"
    assert await b.allow(DEP)


async def test_does_not_open_before_min_requests(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    await record_many(b, failures=3)  # 100% failures, but only 3 of the 4 required
    assert await b.state(DEP) == "closed"
    await record_many(b, failures=1)
    assert await b.state(DEP) == "open"
    assert not await b.allow(DEP)


async def test_opens_exactly_at_the_failure_rate(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    await record_many(b, successes=5, failures=4)  # 4/9 < 0.5
    assert await b.state(DEP) == "closed"
    await record_many(b, failures=1)  # 5/10 == 0.5
    assert await b.state(DEP) == "open"


async def test_rate_boundary_is_not_lost_to_float_rounding(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock, failure_rate=0.3, min_requests=10)
    await record_many(b, successes=7, failures=3)  # 3/10 == 0.3, while 0.3 * 10 > 3 in floats
    assert await b.state(DEP) == "open"


async def test_failures_outside_the_window_do_not_count(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    await record_many(b, failures=3)
    clock.advance(11)
    await record_many(b, failures=1)
    assert await b.state(DEP) == "closed"
    await record_many(b, failures=3)
    assert await b.state(DEP) == "open"


async def test_open_denies_until_open_s_then_half_opens(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    await trip(b)
    clock.advance(4.9)
    assert await b.state(DEP) == "open"
    assert not await b.allow(DEP)
    clock.advance(0.1)
    assert await b.state(DEP) == "half_open"


async def test_half_open_admits_only_n_concurrent_probes(kv: KV, kv_peer: KV, clock: FakeClock) -> None:
    a, b = breaker(kv, clock), breaker(kv_peer, clock)
    await trip(a)
    clock.advance(5)
    admitted = await asyncio.gather(*(x.allow(DEP) for _ in range(10) for x in (a, b)))
    assert sum(admitted) == 2
    assert await a.state(DEP) == "half_open"


async def test_probe_success_closes_and_resets_counts(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    await record_many(b, successes=2)
    await trip(b)
    clock.advance(5)
    assert await b.allow(DEP)
    await b.record(DEP, True)
    assert await b.state(DEP) == "closed"
    assert await b.allow(DEP)
    # The counts that tripped it are forgotten (with them, 6 of 9 would fail): only the
    # successful probe and what follows count, and min_requests applies afresh.
    await record_many(b, failures=2)
    assert await b.state(DEP) == "closed"
    await record_many(b, failures=1)  # probe + 3 failures: 3/4
    assert await b.state(DEP) == "open"


async def test_probe_failure_reopens_for_open_s(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    await trip(b)
    clock.advance(5)
    assert await b.allow(DEP)
    assert await b.allow(DEP)
    assert not await b.allow(DEP)
    clock.advance(1)
    await b.record(DEP, False)
    assert await b.state(DEP) == "open"
    assert not await b.allow(DEP)
    clock.advance(4.9)
    assert await b.state(DEP) == "open"
    clock.advance(0.1)
    assert await b.state(DEP) == "half_open"
    # A new open period has fresh probe slots.
    assert await b.allow(DEP)
    assert await b.allow(DEP)
    assert not await b.allow(DEP)


async def test_results_arriving_while_open_are_ignored(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    await trip(b)
    await b.record(DEP, True)  # a request sent before the trip finished fine
    assert await b.state(DEP) == "open"
    clock.advance(5)
    assert await b.state(DEP) == "half_open"


async def test_state_is_shared_between_replicas(kv: KV, kv_peer: KV, clock: FakeClock) -> None:
    a, b = breaker(kv, clock), breaker(kv_peer, clock)
    await record_many(a, failures=2)
    await record_many(b, failures=2)  # 4 failures across two replicas
    assert await a.state(DEP) == "open"
    assert not await b.allow(DEP)
    clock.advance(5)
    assert await a.allow(DEP)
    await a.record(DEP, True)
    assert await b.state(DEP) == "closed"
    assert await b.allow(DEP)


async def test_deployments_are_independent(kv: KV, clock: FakeClock) -> None:
    b = breaker(kv, clock)
    await trip(b, "a/model")
    assert await b.states(["a/model", "b/model"]) == {"a/model": "open", "b/model": "closed"}
    assert await b.allow("b/model")


async def test_leaked_probe_slot_frees_after_probe_timeout(clock: FakeClock) -> None:
    kv = MemoryKV(clock=clock)  # the KV's TTLs follow the fake clock too
    b = CircuitBreaker(kv, BreakerSettings(min_requests=1, open_s=5, half_open_probes=1), clock=clock,
                       probe_timeout_s=30)
    await b.record(DEP, False)
    clock.advance(5)
    assert await b.allow(DEP)  # this probe is cancelled and never reports
    clock.advance(29)
    assert not await b.allow(DEP)
    clock.advance(1)
    assert await b.allow(DEP)
