"""Meters on both backends: all-or-nothing reservations, sliding windows, periods, settling."""

from __future__ import annotations

import asyncio

import pytest

from corral.store import KV
from corral.store.meters import BUCKETS, Adjustment, Meter, MeterStore, bucket_of
from corral.store.meters_redis import meters_for

T0 = 1_800_000_000.0  # a whole minute: bucket arithmetic is easy to read


def store_for(kv: KV) -> MeterStore:
    return meters_for(kv)


@pytest.mark.asyncio
async def test_window_admits_up_to_the_limit_then_says_when(kv: KV) -> None:
    meters = store_for(kv)
    rpm = Meter("k:rpm", limit=3, amount=1)
    for i in range(3):
        verdict = await meters.reserve([rpm], now=T0 + i)
        assert verdict.ok and verdict.used == (i + 1,)
    refused = await meters.reserve([rpm], now=T0 + 10)
    assert not refused.ok and refused.refused == 0 and refused.used == (3,)
    assert refused.retry_after_s == pytest.approx(50.0)  # the first request leaves the window at T0+60
    assert (await meters.reserve([rpm], now=T0 + 60)).ok  # a sliding minute later: one slot is free
    assert not (await meters.reserve([rpm], now=T0 + 60.5)).ok


@pytest.mark.asyncio
async def test_reservation_is_all_or_nothing(kv: KV) -> None:
    meters = store_for(kv)
    await meters.seed("team:usd:2027-01-15", 0.0, ttl_s=600)
    key_rpm = Meter("key:rpm", limit=100, amount=1)
    team_usd = Meter("team:usd:2027-01-15", limit=1.0, amount=0.6, window_s=0)
    assert (await meters.reserve([key_rpm, team_usd], now=T0)).ok
    refused = await meters.reserve([key_rpm, team_usd], now=T0)
    assert not refused.ok and refused.refused == 1 and refused.retry_after_s is None
    assert await meters.level(key_rpm, now=T0) == 1  # the refused request took nothing anywhere
    assert await meters.level(team_usd) == pytest.approx(0.6)


@pytest.mark.asyncio
async def test_a_missing_period_counter_is_reported_not_reserved(kv: KV) -> None:
    meters = store_for(kv)
    rpm = Meter("k2:rpm", limit=10, amount=1)
    usd = Meter("k2:usd:2027-01", limit=5.0, amount=0.5, window_s=0)
    verdict = await meters.reserve([rpm, usd], now=T0)
    assert not verdict.ok and verdict.missing == (1,)
    assert await meters.level(rpm, now=T0) == 0
    await meters.seed(usd.key, 4.2, ttl_s=600)  # spent so far, from the records
    await meters.seed(usd.key, 0.0, ttl_s=600)  # a second replica's late seed does not reset it
    assert (await meters.reserve([rpm, usd], now=T0)).ok
    assert await meters.level(usd) == pytest.approx(4.7)
    assert not (await meters.reserve([rpm, usd], now=T0)).ok  # 4.7 + 0.5 > 5


@pytest.mark.asyncio
async def test_an_exhausted_budget_refuses_even_free_requests(kv: KV) -> None:
    meters = store_for(kv)
    await meters.seed("done:usd", 5.0, ttl_s=600)
    assert not (await meters.reserve([Meter("done:usd", limit=5.0, amount=0.0, window_s=0)])).ok


@pytest.mark.asyncio
async def test_settling_moves_the_reservation_to_what_was_used(kv: KV) -> None:
    meters = store_for(kv)
    await meters.seed("s:usd", 0.0, ttl_s=600)
    tpm = Meter("s:tpm", limit=1000, amount=600)
    usd = Meter("s:usd", limit=1.0, amount=0.5, window_s=0)
    assert (await meters.reserve([tpm, usd], now=T0)).ok
    await meters.adjust([Adjustment("s:tpm", bucket_of(T0, 60), -450), Adjustment("s:usd", None, -0.38)])
    assert await meters.level(tpm, now=T0 + 1) == pytest.approx(150)
    assert await meters.level(usd) == pytest.approx(0.12)
    # settling a bucket that has left the window changes nothing
    await meters.adjust([Adjustment("s:tpm", bucket_of(T0 - 3600, 60), 999)])
    assert await meters.level(tpm, now=T0 + 1) == pytest.approx(150)


@pytest.mark.asyncio
async def test_retry_after_frees_just_enough_tokens(kv: KV) -> None:
    meters = store_for(kv)
    for second, tokens in ((0, 400), (20, 300), (40, 200)):
        assert (await meters.reserve([Meter("t:tpm", 1000, tokens)], now=T0 + second)).ok
    refused = await meters.reserve([Meter("t:tpm", 1000, 500)], now=T0 + 45)
    # 900 used, 500 more needs 400 freed: the first bucket (T0) leaves at T0+60
    assert not refused.ok and refused.retry_after_s == pytest.approx(15.0)
    refused = await meters.reserve([Meter("t:tpm", 1000, 750)], now=T0 + 45)
    assert refused.retry_after_s == pytest.approx(35.0)  # needs the T0+20 bucket gone too


@pytest.mark.asyncio
async def test_concurrent_reservations_never_exceed_the_limit(kv: KV) -> None:
    meters = store_for(kv)
    await meters.seed("c:usd", 0.0, ttl_s=600)
    usd = Meter("c:usd", limit=0.05, amount=0.003, window_s=0)
    verdicts = await asyncio.gather(*(meters.reserve([usd]) for _ in range(100)))
    assert sum(v.ok for v in verdicts) == 16  # 16 x 0.003 = 0.048; a 17th would make 0.051
    assert await meters.level(usd) == pytest.approx(0.048)


def test_buckets_cut_a_minute_into_seconds() -> None:
    assert BUCKETS == 60 and bucket_of(T0 + 59.9, 60) - bucket_of(T0, 60) == 59
