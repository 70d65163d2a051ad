"""The local coordinator (corral.store.coordinator) through its client (corral.store.coordinated):
the KV and meter suites the in-process and Redis backends pass (imported), meters shared by two
clients, the cache kept apart and bounded, an outage as KVUnavailable then a reconnection."""

from __future__ import annotations

import asyncio
import marshal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.cache.memory import BoundedMemoryStore
from corral.store.coordinated import CoordinatedKV, CoordinatedMeters, gateway_kv
from corral.store.coordinator import HEADER, Coordinator, _Connection, frame, serve_coordinator
from corral.store.kv import KVUnavailable, MemoryKV
from corral.store.meters import Adjustment, Meter
from corral.store.meters_redis import meters_for
from tests.limits.test_meters import (  # noqa: F401 - run here against the coordinator (the `kv` below)
    test_a_missing_period_counter_is_reported_not_reserved,
    test_an_exhausted_budget_refuses_even_free_requests,
    test_concurrent_reservations_never_exceed_the_limit,
    test_reservation_is_all_or_nothing,
    test_retry_after_frees_just_enough_tokens,
    test_settling_moves_the_reservation_to_what_was_used,
    test_window_admits_up_to_the_limit_then_says_when,
)
from tests.store.test_store_kv import (  # noqa: F401 - the same
    test_concurrent_incr_is_atomic,
    test_expire,
    test_get_set_delete,
    test_incr_float,
    test_incr_rejects_non_numbers,
    test_incr_sets_ttl_only_on_creation,
    test_incr_ttl_applies_to_key_without_expiry,
    test_invalid_ttl,
    test_set_ttl_expires,
)


@pytest.fixture
async def kv(tmp_path: Path) -> AsyncIterator[CoordinatedKV]:
    """The `kv` of the backend-parametrized suites imported above, served by a coordinator."""
    server = await serve_coordinator(Coordinator(BoundedMemoryStore()), str(tmp_path / "kv.sock"))
    store = CoordinatedKV(str(tmp_path / "kv.sock"))
    yield store
    await store.close()
    server.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Coordinator, str]]:
    coordinator = Coordinator(BoundedMemoryStore(max_bytes=4096))
    path = str(tmp_path / "c.sock")
    server = await serve_coordinator(coordinator, path)
    yield coordinator, path
    server.close()


async def test_kv_operations_behave_like_the_in_process_kv(served: tuple[Coordinator, str]) -> None:
    kv = CoordinatedKV(served[1])
    try:
        assert await kv.get("k") is None
        assert await kv.incr("n", 2, ttl_s=60) == 2 and await kv.incr("n") == 3
        assert await kv.get("n") == b"3"
        assert await kv.incr_float("f", 0.5) == 0.5 and await kv.incr_float("f", 0.5) == 1.0
        await kv.set("s", "text", ttl_s=0.05)
        assert await kv.get("s") == b"text"
        await asyncio.sleep(0.1)
        assert await kv.get("s") is None  # expired
        assert await kv.expire("n", 60) and not await kv.expire("missing", 60)
        assert await kv.delete("n") and not await kv.delete("n")
        await kv.set("word", "abc")
        with pytest.raises(ValueError, match="not an integer"):
            await kv.incr("word")
        answers = await asyncio.gather(*(kv.incr("many") for _ in range(200)))  # one write, in order
        assert sorted(answers) == list(range(1, 201))
    finally:
        await kv.close()


async def test_cache_entries_go_to_the_bounded_store_and_erase_by_tag(
        served: tuple[Coordinator, str]) -> None:
    coordinator, path = served
    kv = CoordinatedKV(path)
    try:
        await kv.set_tagged("cache:exact:a", b"x" * 100, 60, ["owner:1"])
        await kv.set_tagged("cache:exact:b", b"y" * 100, 60, ["owner:2"])
        assert await kv.get("cache:exact:a") == b"x" * 100
        assert await coordinator.kv.get("cache:exact:a") is None  # not in the unbounded KV
        assert await kv.delete_tagged("owner:1") == (["cache:exact:a"], 1)
        assert await kv.get("cache:exact:a") is None and await kv.get("cache:exact:b") == b"y" * 100
        for i in range(100):  # 4 KiB bound: the oldest entries go
            await kv.set(f"cache:exact:{i}", b"z" * 100, ttl_s=60)
        assert isinstance(coordinator.cache, BoundedMemoryStore) and coordinator.cache.bytes <= 4096
    finally:
        await kv.close()


async def test_two_clients_share_one_limit(served: tuple[Coordinator, str]) -> None:
    a, b = CoordinatedKV(served[1]), CoordinatedKV(served[1])
    meters_a, meters_b = meters_for(a), meters_for(b)
    assert isinstance(meters_a, CoordinatedMeters)
    limit = [Meter("rpm:key", limit=10, amount=1, window_s=60)]
    try:
        verdicts = await asyncio.gather(*(m.reserve(limit) for m in [meters_a, meters_b] * 15))
        assert sum(v.ok for v in verdicts) == 10
        refused = next(v for v in verdicts if not v.ok)
        assert refused.refused == 0 and refused.retry_after_s is not None and refused.retry_after_s > 0
        period = [Meter("usd:team:day", limit=1.0, amount=0.4, window_s=0)]
        assert (await meters_a.reserve(period)).missing == (0,)  # seed from the records first
        await meters_a.seed("usd:team:day", 0.5, 60)
        await meters_b.seed("usd:team:day", 0.0, 60)  # set only if missing: a's value stays
        assert (await meters_b.reserve(period)).ok
        assert not (await meters_a.reserve(period)).ok  # 0.9 + 0.4 > 1.0
        await meters_a.adjust([Adjustment("usd:team:day", None, -0.3, 0)])
        assert await meters_b.level(period[0]) == pytest.approx(0.6)
    finally:
        await a.close()
        await b.close()


async def test_an_unreachable_coordinator_is_kv_unavailable_and_a_lost_connection_reconnects(
        tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    kv = CoordinatedKV(path)
    with pytest.raises(KVUnavailable, match="unreachable"):
        await kv.get("k")
    server = await serve_coordinator(Coordinator(BoundedMemoryStore()), path)
    try:
        assert await kv.incr("k") == 1
        client = kv._client
        assert client is not None and client.transport is not None
        client.transport.abort()  # the connection breaks under the worker
        await asyncio.sleep(0.01)
        assert await kv.incr("k") == 2  # a new connection; the state lives in the coordinator
        assert kv._client is not client
    finally:
        await kv.close()
        server.close()


def test_gateway_kv_picks_redis_then_the_coordinator_then_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_COORDINATOR", "/tmp/nowhere.sock")
    assert isinstance(gateway_kv(None), CoordinatedKV)
    assert type(gateway_kv("redis://127.0.0.1:1/0")).__name__ == "RedisKV"
    monkeypatch.delenv("CORRAL_COORDINATOR")
    assert isinstance(gateway_kv(None), MemoryKV)


def test_frames_split_across_reads_are_answered_once_whole() -> None:
    class Transport:
        def __init__(self) -> None:
            self.written = b""

        def write(self, data: bytes) -> None:
            self.written += data

    connection = _Connection(Coordinator(BoundedMemoryStore()))
    transport = Transport()
    connection.transport = transport  # type: ignore[assignment]
    stream = frame(("incr", "n", 5, None)) + frame(("get", "n")) + frame(("incr", "n", 1, None))
    for i in range(len(stream)):  # one byte per read
        connection.data_received(stream[i:i + 1])
    answers, data = [], transport.written
    while data:
        (size,) = HEADER.unpack_from(data)
        answers.append(marshal.loads(data[4:4 + size]))
        data = data[4 + size:]
    assert answers == [(True, 5), (True, b"5"), (True, 6)]
