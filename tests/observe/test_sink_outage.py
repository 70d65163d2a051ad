"""bench/record_overhead.py, shortened: a PostgreSQL outage loses no record, and the bench runs."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from corral.store import Database
from corral.store.testing import backend_unavailable, pg_test_url

BENCH = Path(__file__).resolve().parents[2] / "bench" / "record_overhead.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("record_overhead", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def require_pg() -> None:
    try:
        db = await asyncio.wait_for(Database.connect(pg_test_url()), 5)
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        backend_unavailable("PostgreSQL", f"{type(e).__name__}: {e}")
        return
    await db.close()


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_outage_through_a_paused_proxy_loses_nothing(mode: str) -> None:
    await require_pg()
    result = await load_bench().outage(pg_test_url(), 1.2, 400, mode, warmup_s=0.4, after_s=0.4, drain_s=15)
    assert result["zero_loss"], result
    assert (result["missing"], result["duplicates"], result["sink"]["dropped"]) == (0, 0, 0)
    assert result["submitted"] > 700 and result["drained"]
    if mode == "refuse":  # writes fail fast: the outage went through the spool
        assert result["spooled_during_outage"] > 0 and result["sink"]["replayed"] == result["sink"]["spooled"]


async def test_throughput_bench_runs() -> None:
    result = await load_bench().throughput(2000, 0.3, 177.0)
    assert result["rows_stored"] == result["records"] > 0
    # submit encodes the row and appends it to the journal (corral.observe.journal): ~11 us here
    assert result["sink"]["dropped"] == 0 and result["cpu_us_per_record"]["submit"] < 40
