"""Request records: what recording costs per request, and whether an outage loses any.

    .venv/bin/python bench/record_overhead.py [--part throughput|loaded|outage|all]
                                              [--outage-s 60] [--db sqlite|postgresql]

throughput  The sink in-process against SQLite (or --db postgresql), records at a busy
            gateway's rate (--rate), the loop otherwise idle: CPU µs per record to build
            and submit it (the request path), in the writer task on the loop, and in other
            threads (SQLite's). Compared with the gateway's CPU per request (--gateway-us:
            163, from bench/gateway_overhead.py at concurrency 16 on the reference machine).
loaded      A stand-in gateway (requests that burn --gateway-us of CPU on the loop) at 80%
            and 100% of what one loop serves, with and without recording: CPU added per
            request, requests/s, and whether the writer kept up while the loop was busy.
outage      A TCP proxy this script runs between the sink and PostgreSQL; records at
            --outage-rate per second; the database unreachable for --outage-s seconds
            (--mode refuse: connections reset and refused; blackhole: nothing answers);
            then restored. Checks every request id arrived exactly once.

Prints one JSON document. The budget is 10% of throughput, and zero records lost.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from random import getrandbits
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from corral.core.context import Attempt, Caller, RequestContext  # noqa: E402
from corral.core.types import ChatRequest, Message, Usage  # noqa: E402
from corral.observe.builder import build_record  # noqa: E402
from corral.observe.record import RequestRecord  # noqa: E402
from corral.observe.sink import RecordSink  # noqa: E402
from corral.store import Database, migrate  # noqa: E402

DEFAULT_PG_URL = os.environ.get("CORRAL_TEST_PG_URL") or "postgresql://postgres@127.0.0.1:5432/test"
TICK_S = 0.01


def template_ctx() -> RequestContext:
    """A context shaped like a real request's after a retry, usage and a privacy pass."""
    request = ChatRequest(model="gpt", user="u-1", messages=[
        Message("system", "You are terse."), Message("user", "Summarise the attached report in one line.")])
    ctx = RequestContext(request_id="req_0", request=request,
                         caller=Caller("key_0123456789ab", "app", "growth", frozenset({"inference"})))
    ctx.public_model = "gpt-main"
    ctx.attempts = [Attempt("openai/gpt-4o", "openai", "gpt-4o", "error", "UpstreamRateLimited", 11.0),
                    Attempt("azure/gpt-4o", "azure", "gpt-4o", "ok", None, 240.0)]
    ctx.upstream_first_byte_at = ctx.started + 0.24
    ctx.served_model, ctx.deployment = "gpt-4o", "azure/gpt-4o"
    ctx.extras.update({"usage": Usage(812, 64, cached_tokens=512), "fallback": "azure/gpt-4o",
                       "cache_key": "c" * 64, "privacy": {"policy": "off", "entities": {}}})
    return ctx


def record_for(ctx: RequestContext, request_id: str) -> RequestRecord:
    """The record of a request that just finished (0.9 s long), reusing one context."""
    ctx.request_id = request_id
    ctx.started = time.perf_counter() - 0.9
    ctx.upstream_first_byte_at = ctx.started + 0.24
    return build_record(ctx, http_status=200, error=None, client_first_byte_at=ctx.started + 0.241,
                        finished_at=ctx.started + 0.9, capture_content=False, cost=(0.00231, True))


async def _paced(rate: float, seconds: float, each: Any) -> None:
    """Call ``each(n)`` every tick with the records due, sleeping between ticks."""
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic() - start) < seconds:
        due = int(now * rate) - sent
        if due > 0:
            each(due)
            sent += due
        await asyncio.sleep(TICK_S)


@asynccontextmanager
async def scratch_db(pg_url: str | None, tmp: str) -> AsyncIterator[Database]:
    """A migrated, empty database: SQLite under ``tmp``, or a fresh PostgreSQL schema."""
    if pg_url is None:
        db = await Database.connect(f"sqlite:///{tmp}/corral.db")
    else:
        schema = f"corral_bench_{uuid.uuid4().hex[:10]}"
        admin = await Database.connect(pg_url)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        db = await Database.connect(make_url(pg_url).update_query_dict({"schema": schema}))
    try:
        await migrate(db)
        yield db
    finally:
        await db.close()
        if pg_url is not None:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await admin.close()


async def throughput(rate: float, seconds: float, gateway_us: float, pg_url: str | None = None
                     ) -> dict[str, Any]:
    """Recording's CPU per record at a busy gateway's rate (the loop otherwise idle)."""
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_db(pg_url, tmp) as db:
            return await _throughput(db, Path(tmp), rate, seconds, gateway_us)


async def _throughput(db: Database, tmp: Path, rate: float, seconds: float, gateway_us: float
                      ) -> dict[str, Any]:
    ctx = template_ctx()

    async def phase(sink: RecordSink | None) -> dict[str, float]:
        cost = {"build": 0.0, "submit": 0.0, "n": 0}

        def each(n: int) -> None:
            ids = [f"req_{getrandbits(96):024x}" for _ in range(n)]  # as the gateway makes them
            if sink is None:
                return
            t0 = time.thread_time()
            records = [record_for(ctx, request_id) for request_id in ids]
            t1 = time.thread_time()
            for r in records:
                sink.submit(r)
            cost["build"] += t1 - t0
            cost["submit"] += time.thread_time() - t1
            cost["n"] += n

        thread0, process0 = time.thread_time(), time.process_time()
        if sink is not None:
            sink.start()
        await _paced(rate, seconds, each)
        if sink is not None:
            assert await sink.flush(60), "sink did not drain"
        cost["thread"] = time.thread_time() - thread0
        cost["process"] = time.process_time() - process0
        return cost

    base = await phase(None)  # the pacing loop and request ids alone: subtracted below
    sink = RecordSink(db, tmp / "spool")
    rec = await phase(sink)
    stats = sink.stats()
    await sink.aclose()
    rows = await db.fetch_val("SELECT COUNT(*) FROM requests")
    n = rec["n"]
    us = {k: rec[k] / n * 1e6 for k in ("build", "submit")}
    loop_us = (rec["thread"] - base["thread"]) / n * 1e6  # everything recording did on the loop
    total_us = (rec["process"] - base["process"]) / n * 1e6  # plus SQLite's thread
    return {
        "database": db.dialect, "records": n, "rate_per_s": rate, "seconds": seconds, "rows_stored": rows,
        "cpu_us_per_record": {
            "build": round(us["build"], 2),
            "submit": round(us["submit"], 3),
            "writer_on_loop": round(loop_us - us["build"] - us["submit"], 2),
            "writer_other_threads": round(total_us - loop_us, 2),  # aiosqlite's (none for asyncpg)
            "event_loop_total": round(loop_us, 2),
            "process_total": round(total_us, 2),
        },
        "gateway_cpu_us_per_request": gateway_us,
        # x µs more per request of g turns 1/g requests/s into 1/(g+x): a drop of x/(g+x)
        "throughput_cost": {"event_loop": round(loop_us / (gateway_us + loop_us), 4),
                            "process": round(total_us / (gateway_us + total_us), 4)},
        "sink": {k: stats[k] for k in ("written", "batches", "dropped", "spooled")},
    }


async def loaded(gateway_us: float, seconds: float, load: float, rounds: int, pg_url: str | None = None
                 ) -> dict[str, Any]:
    """A stand-in gateway whose requests burn ``gateway_us`` of CPU each, offered at ``load``
    times what one event loop can serve (1.0: flat out), with and without recording.

    Unlike the paced run above, the loop is busy: the writer task, aiosqlite's thread and
    the GIL they share compete with requests. Reports the CPU recording adds per request
    on the loop and in the process, requests/s, and whether the writer kept up (records
    still queued when the arm ended). Arms alternate; medians over ``rounds``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_db(pg_url, tmp) as db:
            return await _loaded(db, Path(tmp), gateway_us, seconds, load, rounds)


async def _loaded(db: Database, tmp: Path, gateway_us: float, seconds: float, load: float, rounds: int
                  ) -> dict[str, Any]:
    ctx = template_ctx()
    burn = gateway_us / 1e6
    rate = load / burn

    async def arm(sink: RecordSink | None) -> dict[str, float]:
        n = 0
        start, thread0, process0 = time.perf_counter(), time.thread_time(), time.process_time()
        while (now := time.perf_counter() - start) < seconds:
            for _ in range(max(0, int(now * rate) - n) if load < 1 else 1):
                t0 = time.thread_time()
                while time.thread_time() - t0 < burn:  # the request's own work
                    pass
                request_id = f"req_{getrandbits(96):024x}"
                if sink is not None:
                    sink.submit(record_for(ctx, request_id))
                n += 1
                if n % 8 == 0:
                    await asyncio.sleep(0)  # a request awaits I/O now and then
            await asyncio.sleep(0 if load >= 1 else TICK_S / 2)
        wall = time.perf_counter() - start
        out = {"rps": n / wall, "loop_us": (time.thread_time() - thread0) / n * 1e6,
               "process_us": (time.process_time() - process0) / n * 1e6,
               "left_queued": float(sink.stats()["pending"]) if sink is not None else 0.0}
        if sink is not None:
            await sink.aclose(60)
            assert sink.stats()["dropped"] == 0
        return out

    base: list[dict[str, float]] = []
    rec: list[dict[str, float]] = []
    for i in range(rounds):
        base.append(await arm(None))
        sink = RecordSink(db, tmp / f"spool{i}")
        sink.start()
        await asyncio.sleep(0.2)  # its spool is open before the clock starts
        rec.append(await arm(sink))

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "database": db.dialect, "load": load, "gateway_cpu_us_per_request": gateway_us,
        "rounds": rounds, "seconds": seconds,
        "rps": {"without": round(median(base, "rps")), "with": round(median(rec, "rps"))},
        "rps_drop": round(1 - median(rec, "rps") / median(base, "rps"), 4),
        "added_cpu_us_per_request": {
            "event_loop": round(median(rec, "loop_us") - median(base, "loop_us"), 1),
            "process": round(median(rec, "process_us") - median(base, "process_us"), 1),
        },
        "records_left_queued": [int(r["left_queued"]) for r in rec],
    }


class Proxy:
    """A loopback TCP proxy to PostgreSQL that can be made unreachable and restored."""

    def __init__(self, host: str, port: int, mode: str) -> None:
        self.host, self.port, self.mode = host, port, mode
        self.paused = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._conns: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def _abort_all(self) -> None:
        for w in list(self._conns):
            w.transport.abort()
        self._conns.clear()

    def pause(self) -> None:
        self.paused = True
        self._flowing.clear()
        if self.mode == "refuse":
            self._abort_all()

    def resume(self) -> None:
        self.paused = False
        self._flowing.set()
        self._abort_all()  # whatever hung during a blackhole is reset, as after a partition

    async def close(self) -> None:
        self._abort_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.paused:
            if self.mode == "refuse":
                writer.transport.abort()
            else:
                self._conns.add(writer)  # accepted, never answered
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self._conns.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()  # blackhole: bytes stop flowing
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            self._conns.discard(writer)


async def outage(pg_url: str, outage_s: float, rate: float, mode: str, warmup_s: float = 3.0,
                 after_s: float = 5.0, drain_s: float = 120.0) -> dict[str, Any]:
    ctx = template_ctx()
    ids: list[str] = []
    watch = {"max_pending": 0, "max_spool_records": 0, "max_flush_lag_s": 0.0}
    restored: list[float] = []  # when the database came back
    caught_up: list[float] = []  # when the spool was empty again
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_db(pg_url, tmp) as direct:
            proxy = Proxy(direct.url.host or "127.0.0.1", direct.url.port or 5432, mode)
            db = await Database.connect(direct.url.set(host="127.0.0.1", port=await proxy.start()))
            sink = RecordSink(db, Path(tmp) / "spool")
            sink.start()

            def each(n: int) -> None:
                for _ in range(n):
                    ids.append(f"req_{len(ids):08d}")
                    sink.submit(record_for(ctx, ids[-1]))
                s = sink.stats()
                watch["max_pending"] = max(watch["max_pending"], int(s["pending"]))
                watch["max_spool_records"] = max(watch["max_spool_records"], int(s["spool_records"]))
                watch["max_flush_lag_s"] = max(watch["max_flush_lag_s"], round(float(s["flush_lag_s"]), 2))
                if restored and not caught_up and not s["spool_records"] and s["flush_lag_s"] < 1.0:
                    caught_up.append(time.monotonic())

            try:
                await _paced(rate, warmup_s, each)
                proxy.pause()
                await _paced(rate, outage_s, each)
                spooled_during = sink.stats()["spooled"]
                proxy.resume()
                restored.append(time.monotonic())
                await _paced(rate, after_s, each)
                drained = await sink.flush(drain_s)
                recovery_s = (caught_up[0] if caught_up else time.monotonic()) - restored[0]
                await sink.aclose()
                stats = sink.stats()
            finally:
                await db.close()
                await proxy.close()
            rows = await direct.fetch_all("SELECT request_id FROM requests")
    stored = [r["request_id"] for r in rows]
    missing = len(set(ids) - set(stored))
    return {
        "mode": mode, "outage_s": outage_s, "rate_per_s": rate, "submitted": len(ids),
        "stored_rows": len(stored), "distinct": len(set(stored)), "missing": missing,
        "duplicates": len(stored) - len(set(stored)), "zero_loss": missing == 0 and len(stored) == len(ids),
        "spooled_during_outage": spooled_during, "drained": drained,
        "recovery_s": round(recovery_s, 2), **watch,
        "sink": {k: stats[k] for k in ("written", "spooled", "replayed", "dropped", "write_errors")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["throughput", "loaded", "outage", "all"], default="all")
    parser.add_argument("--rate", type=float, default=4000, help="records/s for the throughput part")
    parser.add_argument("--seconds", type=float, default=10, help="length of the throughput part")
    parser.add_argument("--gateway-us", type=float, default=163.0, help="gateway CPU µs per request")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the loaded runs")
    parser.add_argument("--outage-s", type=float, default=60, help="how long the database is unreachable")
    parser.add_argument("--outage-rate", type=float, default=500, help="records/s during the outage part")
    parser.add_argument("--mode", choices=["refuse", "blackhole"], default="refuse")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite",
                        help="for the throughput and loaded parts (the outage part always uses PostgreSQL)")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    gc.collect()  # as `corral serve` tunes the collector once serving (corral.cli._tune_gc)
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    if args.part in ("throughput", "all"):
        pg = args.pg_url if args.db == "postgresql" else None
        result["throughput"] = asyncio.run(throughput(args.rate, args.seconds, args.gateway_us, pg))
    if args.part in ("loaded", "all"):
        pg = args.pg_url if args.db == "postgresql" else None
        result["loaded"] = [asyncio.run(loaded(args.gateway_us, args.seconds / 2, load, args.rounds, pg))
                            for load in (0.8, 1.0)]
    if args.part in ("outage", "all"):
        result["outage"] = asyncio.run(outage(args.pg_url, args.outage_s, args.outage_rate, args.mode))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
