"""Issue 17, item 3: Redis killed and started again under load, behind two replicas.

Redis holds the replicas' shared counters (rate limits, breakers, retry budgets). Without it
they fail open, as documented (docs/limits.md, `limits.on_counter_outage: open`; the router on
`KVUnavailable`, docs/architecture.md): requests keep being served, unlimited. Once it is back
(empty: `--save ''`), limits hold across the replicas again. The system's Redis is not
restarted: this topology runs its own `redis-server`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.replicas.load import Load, summary
from tests.replicas.services import RedisServer, require_binary
from tests.replicas.topology import RPM, Topology, topology

DOWN_S = 3.0


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[Topology, RedisServer]]:
    require_binary("haproxy")
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        with topology(tmp_path, redis.url, replicas=2) as system:
            yield system, redis
    finally:
        redis.close()


def _admitted(system: Topology, key: str, n: int) -> list[int]:
    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as http:
            answers = await asyncio.gather(*(
                http.post(system.lb.url + "/v1/chat/completions", json=system.chat_body(),
                          headers={"Authorization": f"Bearer {key}"}) for _ in range(n)))
        return [a.status_code for a in answers]

    return asyncio.run(burst())


def test_redis_restarted_under_load_keeps_requests_served_and_limits_hold_again_after(
        private_redis: tuple[Topology, RedisServer]) -> None:
    system, redis = private_redis
    busy, _ = system.create_key(f"busy-{system.run}")  # a limited key: every request uses the counters
    load = Load(system.lb.url, busy, system.chat_body(system.flaky), clients=4).start()  # breakers too
    time.sleep(1.0)
    redis.kill()
    down_at = time.monotonic()
    time.sleep(DOWN_S)
    redis.start()
    up_at = time.monotonic()
    time.sleep(1.0)
    outcomes = load.stop()
    during = [o for o in outcomes if down_at < o.start < up_at]
    print(f"load: {summary(outcomes)}; {len(during)} requests sent while Redis was down")
    assert len(during) > 10
    assert [o for o in outcomes if not o.ok] == []
    assert {o.served_by for o in during} == {"r0", "r1"}

    outages = [system.metric(i, "corral_limits_outages_total")
               for i in range(len(system.replicas))]
    assert all(n > 0 for n in outages), outages  # each replica saw Redis gone, and served anyway

    rpm, _ = system.create_key(f"rpm-{system.run}")
    statuses = _admitted(system, rpm, RPM + 10)
    assert statuses.count(200) == RPM and statuses.count(429) == 10, statuses
    for r in system.replicas:
        assert httpx.get(r.url + "/readyz").json()["checks"]["kv"] == "ok"
    # The breakers' copies (corral.store.redis_copies): dropped with the connection, tracked again
    for i in range(len(system.replicas)):
        assert system.metric(i, "corral_redis_copy_losses_total") >= 1
        assert system.metric(i, "corral_redis_copies_tracking") == 1.0
