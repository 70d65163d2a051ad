"""The replica topology as a fixture; services missing skip locally and fail under CI=true."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corral.store.kv_redis import RedisKV
from corral.store.testing import backend_unavailable, redis_test_url, run_sync
from tests.replicas.services import require_binary
from tests.replicas.topology import Topology, topology


async def _ping(url: str) -> None:
    store = RedisKV.from_url(url, socket_connect_timeout=5)
    try:
        await store.client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        backend_unavailable("Redis", f"{type(e).__name__}: {e} (at {url})")
    finally:
        await store.close()


def require_redis(url: str) -> str:
    run_sync(_ping(url))
    return url


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """Three replicas behind HAProxy on the shared test PostgreSQL and Redis, for tests that
    leave it whole (each test uses its own keys and routes' state)."""
    require_binary("haproxy")
    with topology(tmp_path_factory.mktemp("replicas"), require_redis(redis_test_url())) as started:
        yield started
