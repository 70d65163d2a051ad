"""What keeps a request's coordinator operations few (corral.store.coordinator, .coordinated): a
counter or a settlement sent without an answer, in order; copies of a key kept current by the
coordinator; and the breaker, retry budget and limiter built on them, still shared by two
workers (two clients)."""

from __future__ import annotations

import asyncio
import marshal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.cache.memory import BoundedMemoryStore
from corral.config import BreakerSettings, RetrySettings
from corral.routing.breaker import CircuitBreaker
from corral.routing.budget import RetryBudget
from corral.store.coordinated import CoordinatedKV
from corral.store.coordinator import HEADER, Coordinator, _Connection, frame, serve_coordinator
from corral.store.kv import MemoryKV
from corral.store.meters_redis import meters_for
from tests.limits.test_limiter import _ctx, _limiter
from tests.routing.conftest import FakeClock

DEP = "sim/model"


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Coordinator, CoordinatedKV, CoordinatedKV]]:
    """A coordinator and two workers' clients of it."""
    coordinator = Coordinator(BoundedMemoryStore())
    path = str(tmp_path / "c.sock")
    server = await serve_coordinator(coordinator, path)
    a, b = CoordinatedKV(path), CoordinatedKV(path)
    await a.call("ping")
    await b.call("ping")
    yield coordinator, a, b
    await a.close()
    await b.close()
    server.close()


def _frames(data: bytes) -> list[object]:
    out = []
    while data:
        (size,) = HEADER.unpack_from(data)
        out.append(marshal.loads(data[4:4 + size]))
        data = data[4 + size:]
    return out


class _Transport:
    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


def test_a_nowait_operation_is_run_in_order_and_answered_with_nothing() -> None:
    coordinator = Coordinator(BoundedMemoryStore())
    connection = _Connection(coordinator)
    transport = _Transport()
    connection.transport = transport  # type: ignore[assignment]
    connection.data_received(frame(("nowait", "incr", "n", 2, None)) + frame(("get", "n"))
                             + frame(("nowait", "incr", "word", 1, None)))
    assert _frames(transport.written) == [(True, b"2")]  # one answer: the get's, after the incr
    connection.data_received(frame(("set", "word", b"abc", None))
                             + frame(("nowait", "incr", "word", 1, None)))
    assert _frames(transport.written)[1:] == [(True, None)]  # a bad value: logged, not answered
    assert coordinator.served["nowait incr"] == 3 and coordinator.served["get"] == 1


async def test_incr_unread_sends_without_waiting_and_later_reads_see_it(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    _, a, b = two
    for _ in range(3):
        assert a.incr_unread("n", 1, ttl_s=60) is None  # connected: sent, nothing to await
    assert await a.get("n") == b"3"  # queued before the get on the same connection: applied first
    assert await b.incr("n") == 4
    assert (await a.served())["nowait incr"] == 3
    fresh = CoordinatedKV(a.path)  # not connected yet: the awaited incr, which connects
    op = fresh.incr_unread("n")
    assert op is not None and await op == 5
    await fresh.close()
    assert await MemoryKV().incr_unread("x") == 1  # type: ignore[misc] - other stores: await it


async def test_a_copy_answers_without_a_round_trip_until_anyone_changes_the_key(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    coordinator, a, b = two
    assert await a.get_cached("k") is None
    await b.set("k", "one")
    await a.call("ping")  # the coordinator's word that k changed came before this answer
    assert await a.get_cached("k") == b"one"
    for _ in range(5):
        assert await a.get_cached("k") == b"one"
    assert coordinator.served["watch"] == 2  # the first read, and the one after b's change
    await b.incr("n")  # a key a does not watch: nothing sent to a
    await b.set("k", "two")
    await a.call("ping")
    assert await a.get_cached("k") == b"two"
    await b.expire("k", 60)  # the value stays; its time to live changed
    await a.call("ping")
    assert await a.get_cached("k") == b"two"
    await b.delete("k")
    await a.call("ping")
    assert await a.get_cached("k") is None
    assert coordinator.served["watch"] == 5  # each change cost a's next read one round trip


async def test_a_workers_own_change_drops_its_copy_at_once(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    _, a, _ = two
    await a.set("k", "one")
    assert await a.get_cached("k") == b"one"
    await a.set("k", "two")
    assert await a.get_cached("k") == b"two"
    await a.incr("c")
    assert await a.get_cached("c") == b"1"
    assert a.incr_unread("c") is None
    assert await a.get_cached("c") == b"2"  # not the copy: the incr went first, in order


async def test_a_copy_ends_with_its_ttl_and_with_the_connection(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    coordinator, a, _ = two
    await a.set("k", "short", ttl_s=0.05)
    assert await a.get_cached("k") == b"short"
    await asyncio.sleep(0.08)
    assert await a.get_cached("k") is None  # expired in the coordinator, and the copy with it
    await a.set("k", "v")
    assert await a.get_cached("k") == b"v"
    client = a._client
    assert client is not None and client.transport is not None
    client.transport.abort()
    await asyncio.sleep(0.01)
    assert await a.get_cached("k") == b"v"  # asked again on a new connection
    assert coordinator.served["watch"] == 4
    assert not coordinator.watchers.get("k") or len(coordinator.watchers["k"]) == 1  # the old one forgotten
    with pytest.raises(ValueError, match="not watched"):
        await a.get_cached("cache:exact:x")


def _breaker(kv: CoordinatedKV) -> CircuitBreaker:
    return CircuitBreaker(kv, BreakerSettings(failure_rate=0.5, min_requests=4, window_s=10.0, open_s=5.0,
                                              half_open_probes=1))


async def test_a_breaker_tripped_by_one_worker_is_open_for_the_other_at_once(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    coordinator, a, b = two
    one, other = _breaker(a), _breaker(b)
    assert await other.states([DEP]) == {DEP: "closed"}  # the other worker now holds a copy
    for _ in range(3):
        assert await other.states([DEP]) == {DEP: "closed"}
    assert coordinator.served["watch"] == 1 and coordinator.served["get"] == 0  # from the copy
    for _ in range(4):
        await one.record(DEP, False)
    assert await one.state(DEP) == "open"
    assert await other.states([DEP]) == {DEP: "open"}  # no sleep: the change came before a's answer
    assert not await other.allow(DEP)


async def test_successes_sent_while_closed_count_in_the_shared_window_without_reading_the_state(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    coordinator, a, b = two
    one, other = _breaker(a), _breaker(b)
    for _ in range(5):
        await one.record(DEP, True, was_closed=True)
    await a.call("ping")  # sent without answers: this one comes after them
    assert coordinator.served["get"] == 0 and coordinator.served["nowait incr"] == 5
    for _ in range(4):
        await other.record(DEP, False)
    assert await other.state(DEP) == "closed"  # 4 failures of 9; alone, 4 of 4 would have tripped it
    await other.record(DEP, False)
    assert await one.state(DEP) == "open"  # 5 of 10


async def test_only_a_probe_closes_a_half_open_breaker_not_a_success_sent_while_it_was_closed(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    _, a, b = two
    clock = FakeClock()
    one = CircuitBreaker(a, BreakerSettings(min_requests=1, open_s=5.0, half_open_probes=1), clock=clock)
    other = CircuitBreaker(b, one.settings, clock=clock)
    assert await other.states([DEP]) == {DEP: "closed"}  # the other worker picks DEP, closed
    await one.record(DEP, False)  # one failure trips it
    clock.advance(5)
    await other.record(DEP, True, was_closed=True)  # the other's attempt, sent before the trip
    assert await one.state(DEP) == "half_open"
    assert await one.allow(DEP)  # the probe
    await one.record(DEP, True)
    assert await other.states([DEP]) == {DEP: "closed"}


async def test_the_retry_budget_counts_requests_of_both_workers(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    coordinator, a, b = two
    settings = RetrySettings(budget_ratio=0.5, budget_min_per_s=0.0, budget_window_s=10.0)
    one, other = RetryBudget(a, "r", settings), RetryBudget(b, "r", settings)
    for budget in (one, other, one, other):
        await budget.record_request()
    await a.call("ping")
    await b.call("ping")
    assert coordinator.served["nowait incr"] == 4 and coordinator.served["incr"] == 0
    spent = [await budget.try_spend() for budget in (other, one, other)]
    assert spent == [True, True, False]  # 0.5 x 4 requests = 2 retries, wherever they were counted


async def test_a_settlement_is_sent_unanswered_and_the_other_worker_sees_it(
        two: tuple[Coordinator, CoordinatedKV, CoordinatedKV]) -> None:
    coordinator, a, b = two
    limiter, (route, _) = _limiter({"keys": {"app": {"tpm": 1000}}}, meters=meters_for(a))
    ctx = _ctx(route)
    reservation = await limiter.reserve(ctx, route, limiter.subjects(ctx, "m"))
    assert reservation is not None
    meter = reservation.meters[0]
    assert await meters_for(b).level(meter) == meter.amount > 10  # the estimate, held
    reservation.settle(None, 6, 4)
    assert not limiter._pending  # no task to wait on the answer: there is none
    await a.call("ping")
    assert coordinator.served["nowait adjust"] == 1 and coordinator.served["adjust"] == 0
    assert await meters_for(b).level(meter) == 10  # what was used, seen by the other worker
