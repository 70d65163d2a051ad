"""Fixtures for the failure-handling units: a fake clock and KVs on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from corral.providers.base import ProviderConfig
from corral.routing.table import Deployment
from corral.store.kv import KV
from corral.store.kv_redis import RedisKV
from corral.store.testing import kv, redis_test_url  # noqa: F401
from tests.fakes import FakeProvider


class FakeClock:
    """A wall clock the test moves by hand; callable like ``time.time``."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def kv_peer(kv: KV) -> AsyncIterator[KV]:  # noqa: F811 - the imported fixture
    """A second client on the same store as ``kv``: another replica's view of it."""
    if not isinstance(kv, RedisKV):
        yield kv  # MemoryKV is per process; the same object stands in for a peer
        return
    peer = RedisKV.from_url(redis_test_url(), prefix=kv.prefix)
    try:
        yield peer
    finally:
        await peer.close()


def deployment(name: str, weight: float = 1.0, priority: int = 0) -> Deployment:
    """A deployment named ``fake/<name>`` backed by the in-process fake provider."""
    return Deployment(FakeProvider(ProviderConfig(name="fake", type="fake")), name, weight, None, priority)
