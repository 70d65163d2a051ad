"""RedisKV's two request-path savings (corral.store.kv_redis): copies of the breakers' state kept
current by Redis's invalidation messages, and counts sent in one pipeline per short window.

Two clients on one Redis stand for two replicas. What must hold: a copy never outlives a change
by another replica for more than the message's trip; a replica always reads its own counts; the
other replica sees them within the window; a lost connection means reading Redis, not stale data.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from corral.cache.exact import ExactCache
from corral.config import BreakerSettings
from corral.routing.breaker import CircuitBreaker
from corral.store.kv_redis import COUNT_WINDOW_S, RedisKV
from corral.store.testing import backend_unavailable, redis_test_url

DEP = "openai/gpt"


@pytest_asyncio.fixture
async def pair() -> AsyncIterator[tuple[RedisKV, RedisKV]]:
    prefix = f"corral-test:{uuid.uuid4().hex[:12]}:"
    a, b = (RedisKV.from_url(redis_test_url(), prefix=prefix, socket_connect_timeout=5) for _ in range(2))
    try:
        await a.client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        await a.close()
        await b.close()
        backend_unavailable("Redis", f"{type(e).__name__}: {e}")
    try:
        yield a, b
    finally:
        keys = [k async for k in a.client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await a.client.delete(*keys)
        await a.close()
        await b.close()


async def _until(check: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.005)


async def test_a_copy_answers_reads_until_another_replica_changes_the_key(
        pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    assert a.copies is not None
    await b.set("k", "v1")
    assert await a.get_cached("k") == b"v1"
    for _ in range(5):
        assert await a.get_cached("k") == b"v1"
    assert a.copies.counts["fills"] == 1 and a.copies.counts["hits"] == 5  # no round trip
    await b.set("k", "v2")
    await _until(lambda: "k" not in {k.removeprefix(a.prefix) for k in a.copies.copies})  # Redis told a
    assert await a.get_cached("k") == b"v2"
    await b.delete("k")
    await _until(lambda: not a.copies.copies)
    assert await a.get_cached("k") is None  # an absent key is kept too (a closed breaker)
    assert await a.get_cached("k") is None
    assert a.copies.counts["fills"] == 3


async def test_a_key_that_expires_is_dropped_and_read_again(pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    await b.set("short", "x", ttl_s=0.2)
    assert await a.get_cached("short") == b"x"
    await asyncio.sleep(0.3)
    assert await a.get_cached("short") is None


async def test_a_replicas_own_write_drops_its_copy_at_once(pair: tuple[RedisKV, RedisKV]) -> None:
    a, _ = pair
    assert await a.get_cached("k") is None
    await a.set("k", "mine")
    assert await a.get_cached("k") == b"mine"  # no wait for the message


async def test_a_breaker_tripped_on_one_replica_is_open_on_the_other_within_the_message_trip(
        pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    settings = BreakerSettings(failure_rate=0.5, min_requests=4, window_s=10.0, open_s=5.0,
                               half_open_probes=1)
    one, other = CircuitBreaker(a, settings), CircuitBreaker(b, settings)
    assert await other.states([DEP]) == {DEP: "closed"}  # other holds a copy now
    for _ in range(3):
        await other.states([DEP])
    assert b.copies is not None and b.copies.counts["hits"] == 3
    for _ in range(4):
        await one.record(DEP, False)
    assert await one.state(DEP) == "open"
    started = time.monotonic()
    while (await other.states([DEP]))[DEP] != "open":
        assert time.monotonic() - started < 1.0, "the other replica kept a stale closed breaker"
        await asyncio.sleep(0.002)
    assert not await other.allow(DEP)


async def test_a_lost_subscriber_drops_every_copy_and_reads_go_to_redis(
        pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    assert a.copies is not None
    await b.set("k", "v1")
    assert await a.get_cached("k") == b"v1"
    assert a.copies.copies
    await b.client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # Redis drops the subscriber
    await _until(lambda: a.copies is not None and not a.copies.ready)
    assert not a.copies.copies and a.copies.counts["losses"] == 1
    assert a.stats()["copies_tracking"] == 0 and a.stats()["copy_losses"] == 1  # on /metrics
    await b.set("k", "v2")  # no message can reach a now: it must not answer from memory
    assert await a.get_cached("k") == b"v2"
    a.copies._next_try = 0.0  # (the reconnect waits RECONNECT_S; the test does not)
    assert await a.get_cached("k") == b"v2"
    assert a.copies.ready  # tracking again: the next read is a copy
    hits = a.copies.counts["hits"]
    assert await a.get_cached("k") == b"v2"
    assert a.copies.counts["hits"] == hits + 1


async def test_without_copies_get_cached_is_a_get(pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    plain = RedisKV.from_url(redis_test_url(), prefix=a.prefix, copies=False)
    try:
        await b.set("k", "v1")
        assert await plain.get_cached("k") == b"v1"
        await b.set("k", "v2")
        assert await plain.get_cached("k") == b"v2"  # no message to wait for: read every time
    finally:
        await plain.close()


async def test_counts_leave_in_one_pipeline_summed_per_key(pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    sent = _count_pipelines(a)
    for _ in range(200):
        assert a.incr_unread("requests", ttl_s=60) is None
        a.incr_unread("total", 2, ttl_s=60)
    assert await a.get("requests") == b"200"  # a replica reads its own counts at once
    await asyncio.sleep(COUNT_WINDOW_S * 5)
    assert await b.get("requests") == b"200"  # the other replica, within the window
    assert await b.get("total") == b"400"
    assert sent == [2]  # one pipeline, one command per key, not one per count
    assert a.stats()["count_pipelines"] == 1 and a.stats()["counts_lost"] == 0
    ttl = await a.client.pttl(a.prefix + "requests")
    assert 0 < ttl <= 60_000  # created with its window's time to live


async def test_an_awaited_incr_counts_the_unsent_tally_and_close_sends_the_rest(
        pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    for _ in range(5):
        a.incr_unread("total")
    assert await a.incr("total") == 6  # what a breaker sums its window from: successes included
    assert await b.get("total") == b"6"
    a.incr_unread("total", 3)
    await a.close()
    assert await b.get("total") == b"9"


async def test_counts_made_before_a_write_are_overwritten_by_it(pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    a.incr_unread("n", 5)
    await a.set("n", 1)
    await a.send_counts()
    assert await b.get("n") == b"1"


async def test_counts_lost_to_an_outage_are_counted_not_raised() -> None:
    dead = RedisKV.from_url("redis://127.0.0.1:1/0", prefix="x:", socket_connect_timeout=1)
    try:
        dead.incr_unread("n", 3)
        await dead.send_counts()
        assert dead.counts_lost == 1
    finally:
        await dead.close()


def _count_pipelines(kv: RedisKV) -> list[int]:
    """The size of each pipeline ``kv`` sends, in order."""
    sent: list[int] = []
    make = kv.client.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        pipe = make(*args, **kwargs)
        execute = pipe.execute

        async def execute_counted(*a: Any, **k: Any) -> Any:
            sent.append(len(pipe.command_stack))
            return await execute(*a, **k)

        pipe.execute = execute_counted
        return pipe

    kv.client.pipeline = counted
    return sent


async def test_the_caches_batch_of_writes_leaves_in_one_pipeline_and_one_bad_item_fails_alone(
        pair: tuple[RedisKV, RedisKV]) -> None:
    a, b = pair
    cache = ExactCache(a)
    await b.set("owner:broken", "not a sorted set")  # a tag key of the wrong type: that write fails
    sent = _count_pipelines(a)
    await cache.put_many([("k1", b"one", None, ("owner:alice",)), ("k2", b"two", 60, ()),
                          ("k3", b"three", None, ("owner:broken",)), ("k4", b"four", None, ("owner:alice",))])
    assert sent == [4]
    assert (cache.counters["stores"], cache.counters["errors"]) == (3, 1)
    stored = [await b.get(cache.namespace + k) for k in ("k1", "k2", "k3", "k4")]
    assert stored == [b"one", b"two", None, b"four"]  # k3 not stored untagged: erasure could not find it
    keys, deleted = await b.delete_tagged("owner:alice")  # erasure finds what the pipeline filed
    assert sorted(keys) == [cache.namespace + "k1", cache.namespace + "k4"] and deleted == 2


async def test_a_burst_of_misses_on_one_key_is_one_read(pair: tuple[RedisKV, RedisKV]) -> None:
    """After a breaker changes every request misses at once: one GET fills the copy for all."""
    a, b = pair
    assert a.copies is not None
    await b.set("hot", "v")
    assert await a.get_cached("warm-up") is None  # tracking started
    answers = await asyncio.gather(*(a.get_cached("hot") for _ in range(50)))
    assert answers == [b"v"] * 50 and a.copies.counts["fills"] == 2


async def test_a_reader_that_gives_up_does_not_cost_the_tracking(pair: tuple[RedisKV, RedisKV]) -> None:
    """A request cancelled mid-read (its client left): redis-py then drops the connection and
    silently opens another on the next command, without CLIENT TRACKING, so copies stopped being
    invalidated and answered stale for up to MAX_AGE_S. The read now runs on, shielded."""
    a, b = pair
    assert a.copies is not None
    await b.set("one", "1")
    assert await a.get_cached("warm-up") is None
    reading = asyncio.ensure_future(a.get_cached("one"))
    await asyncio.sleep(0)  # under way: the GET is sent, its reply not read
    reading.cancel()
    assert await a.get_cached("one") == b"1"
    await b.set("one", "2")
    started = time.monotonic()
    while await a.get_cached("one") != b"2":
        assert time.monotonic() - started < 1.0, "the copy was no longer invalidated"
        await asyncio.sleep(0.005)
    assert a.copies.counts["invalidations"] >= 1 and a.copies.counts["losses"] == 0
