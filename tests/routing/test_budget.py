"""Retry budget: caps retries to a share of recent requests, across replicas."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral.config import RetrySettings
from corral.routing.budget import RetryBudget, WindowedCounts
from corral.store.kv import KV, MemoryKV, Value
from tests.routing.conftest import FakeClock


def budget(kv: KV, clock: FakeClock, route: str = "gpt", **overrides: Any) -> RetryBudget:
    settings = RetrySettings(**{"budget_ratio": 0.2, "budget_min_per_s": 0.0, "budget_window_s": 10.0,
                                **overrides})
    return RetryBudget(kv, route, settings, clock=clock)


async def spend_until_refused(b: RetryBudget, limit: int = 1000) -> int:
    for granted in range(limit):
        if not await b.try_spend():
            return granted
    raise AssertionError("budget never refused")


async def test_retries_are_a_share_of_requests(kv: KV, clock: FakeClock) -> None:
    b = budget(kv, clock)
    for _ in range(10):
        await b.record_request()
    assert await spend_until_refused(b) == 2  # 0.2 * 10


async def test_no_requests_and_no_floor_means_no_retries(kv: KV, clock: FakeClock) -> None:
    assert not await budget(kv, clock).try_spend()


async def test_floor_allows_retries_on_a_quiet_route(kv: KV, clock: FakeClock) -> None:
    b = budget(kv, clock, budget_min_per_s=0.5)  # 0.5/s over 10 s
    assert await spend_until_refused(b) == 5


async def test_refused_retries_are_handed_back(kv: KV, clock: FakeClock) -> None:
    b = budget(kv, clock)
    for _ in range(10):
        await b.record_request()
    assert await spend_until_refused(b) == 2
    for _ in range(5):
        assert not await b.try_spend()
    for _ in range(5):
        await b.record_request()  # 15 requests -> 3 retries in total: exactly one more
    assert await spend_until_refused(b) == 1
    assert await b.remaining() == pytest.approx(0.0)


async def test_window_slides_old_retries_out(kv: KV, clock: FakeClock) -> None:
    b = budget(kv, clock, budget_min_per_s=0.2)  # floor: 2 retries per window
    assert await spend_until_refused(b) == 2
    clock.advance(5)
    assert not await b.try_spend()
    clock.advance(5)  # the first bucket has left the 10 s window
    assert await spend_until_refused(b) == 2


async def test_outage_caps_retries_then_recovers_as_requests_flow(kv: KV, clock: FakeClock) -> None:
    """Every attempt fails and each request wants 2 retries: the budget, not the
    request count, bounds the extra load, and retries keep flowing at the ratio."""
    b = budget(kv, clock, budget_min_per_s=0.5)
    wanted = granted = 0
    per_second: list[tuple[int, int]] = []  # (requests, retries granted) each second
    for _ in range(60):
        got = 0
        for _ in range(20):
            await b.record_request()
            for _ in range(2):
                wanted += 1
                if await b.try_spend():
                    got += 1
        granted += got
        per_second.append((20, got))
        clock.advance(1)
    assert granted < 0.3 * wanted  # without the budget every one of them would go out
    for start in range(len(per_second) - 10):
        window = per_second[start:start + 10]
        requests = sum(r for r, _ in window)
        retries = sum(g for _, g in window)
        assert retries <= 0.2 * requests + 0.5 * 10 + 1
    # Steady state: retries keep being granted, at about the ratio of the request flow.
    late = sum(g for _, g in per_second[30:])
    assert late == pytest.approx(0.2 * 20 * 30, rel=0.15)
    # Later, after a quiet spell, the budget has fully recovered.
    clock.advance(30)
    for _ in range(50):
        await b.record_request()
    assert await spend_until_refused(b) == 15  # 0.2 * 50 + 5


async def test_budget_is_shared_between_replicas(kv: KV, kv_peer: KV, clock: FakeClock) -> None:
    a = budget(kv, clock)
    b = budget(kv_peer, clock)
    for _ in range(10):
        await a.record_request()
    for _ in range(10):
        await b.record_request()
    assert await b.try_spend()  # 20 requests -> 4 retries, whoever spends them
    assert await a.try_spend()
    assert await b.try_spend()
    assert await a.try_spend()
    assert not await a.try_spend()
    assert not await b.try_spend()


async def test_concurrent_spenders_never_exceed_the_allowance(kv: KV, kv_peer: KV, clock: FakeClock) -> None:
    a, b = budget(kv, clock), budget(kv_peer, clock)
    for _ in range(25):
        await a.record_request()
    await kv.send_counts()  # a's counts reach b's replica within a short window (Redis: 10 ms)
    results = await asyncio.gather(*(x.try_spend() for _ in range(20) for x in (a, b)))
    assert sum(results) == 5


async def test_routes_have_separate_budgets(kv: KV, clock: FakeClock) -> None:
    busy, quiet = budget(kv, clock, route="busy"), budget(kv, clock, route="quiet")
    for _ in range(10):
        await busy.record_request()
    assert not await quiet.try_spend()
    assert await busy.try_spend()


class CountingKV(MemoryKV):
    """MemoryKV that counts calls, to pin down the documented KV cost."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def get(self, key: str) -> bytes | None:
        self.calls.append("get")
        return await super().get(key)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        self.calls.append("incr")
        return await super().incr(key, amount, ttl_s)

    async def set(self, key: str, value: Value, ttl_s: float | None = None) -> None:
        self.calls.append("set")
        await super().set(key, value, ttl_s)


async def test_record_request_is_one_incr(clock: FakeClock) -> None:
    kv = CountingKV()
    b = budget(kv, clock)
    await b.record_request()
    assert kv.calls == ["incr"]


async def test_warm_try_spend_reads_only_the_youngest_buckets(clock: FakeClock) -> None:
    kv = CountingKV()
    b = budget(kv, clock, budget_min_per_s=10)
    await b.try_spend()  # cold: reads the whole window once
    clock.advance(5)
    await b.try_spend()
    kv.calls.clear()
    await b.try_spend()
    # incr of the current retry bucket; the previous bucket of both fields and the
    # current request bucket; every older bucket comes from the settled cache.
    assert kv.calls.count("incr") == 1
    assert kv.calls.count("get") == 3


async def test_windowed_counts_since_ignores_earlier_buckets(kv: KV, clock: FakeClock) -> None:
    counts = WindowedCounts(kv, "t", 10.0, clock)
    await counts.add("x", 5)
    clock.advance(3)
    since = clock()
    await counts.add("x", 2)
    assert await counts.totals(["x"]) == {"x": 7}
    assert await counts.totals(["x"], since=since) == {"x": 2}


async def test_windowed_counts_with_different_windows_do_not_mix(kv: KV, clock: FakeClock) -> None:
    short, long = WindowedCounts(kv, "same", 10.0, clock), WindowedCounts(kv, "same", 30.0, clock)
    await short.add("x", 5)
    await long.add("x", 1)
    assert await short.totals(["x"]) == {"x": 5}
    assert await long.totals(["x"]) == {"x": 1}


def test_windowed_counts_bucket_sizing() -> None:
    kv = MemoryKV()
    assert WindowedCounts(kv, "a", 10.0).bucket_s == 1.0
    assert WindowedCounts(kv, "b", 30.0).bucket_s == 3.0  # at most 10 buckets
    assert WindowedCounts(kv, "c", 0.5).bucket_s == 0.5  # one bucket for a sub-second window
    with pytest.raises(ValueError):
        WindowedCounts(kv, "d", 0.0)
