"""Issue 17, item 3: PostgreSQL unreachable for 60 s under load, behind two replicas.

The technique of the single-process outage test (tests/observe/test_sink_outage.py): the
replicas reach PostgreSQL through bench/record_overhead.py's TCP proxy, which the test cuts
(connections reset, new ones refused) and restores. Requests keep being served; each replica
spools its records to disk and replays them once the database answers; none is lost or doubled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corral.store.schema import requests
from corral.store.testing import redis_test_url
from tests.replicas.conftest import require_redis
from tests.replicas.load import Load, summary
from tests.replicas.topology import Topology, stored, topology, wait_stored

OUTAGE_S = 60.0  # the figure; this is the one long test of tests/replicas/


@pytest.fixture
def cut(tmp_path: Path) -> Iterator[Topology]:
    with topology(tmp_path, require_redis(redis_test_url()), replicas=2, cut_link=True) as system:
        yield system


@pytest.mark.timeout(300)  # the outage alone is 60 s
def test_postgresql_down_60_s_requests_keep_being_served_and_every_record_is_replayed(cut: Topology) -> None:
    system = cut
    assert system.pg_link is not None
    load = Load(system.lb.url, system.app_key, system.chat_body(), clients=2).start()
    time.sleep(2.0)
    system.pg_link.cut()
    cut_at = time.monotonic()
    time.sleep(OUTAGE_S)
    system.pg_link.restore()
    restored_at = time.monotonic()
    time.sleep(3.0)
    outcomes = load.stop()
    during = [o for o in outcomes if cut_at < o.start < restored_at]
    failed = [o for o in outcomes if not o.ok]
    print(f"load: {summary(outcomes)}; {len(during)} sent during the outage, "
          f"{sum(o.ok for o in during)} answered")
    assert len(during) > 100
    assert failed == []
    assert {o.served_by for o in during} == {"r0", "r1"}

    ids = [o.request_id for o in outcomes]
    recorded = wait_stored(system.db_url, requests, "request_id", ids, timeout_s=30)
    missing = [i for i in ids if i not in recorded]
    print(f"records: {len(recorded)} of {len(ids)} after the outage, "
          f"{len(stored(system.db_url, requests, 'request_id', ids))} rows")
    assert missing == []
    assert len(recorded) == len(ids)  # and none twice (request_id is unique: a replay skips it)
    for i, r in enumerate(system.replicas):
        sink = {name: system.metric(i, f"corral_record_sink_{name}_total")
                for name in ("spooled", "replayed", "dropped")}
        print(f"{r.name} record sink: {sink}")
        assert sink["spooled"] > 0 and sink["replayed"] == sink["spooled"] and sink["dropped"] == 0
    leaders = [httpx.get(r.url + "/readyz").json()["leader"] for r in system.replicas]
    assert sum(leaders) == 1, leaders  # the leader lost its lock with its connection; one leads again
