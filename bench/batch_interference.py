"""Real-time latency while a batch runs, against the same gateway without one (same run).

    .venv/bin/python bench/batch_interference.py [--lines 2000] [--latency-ms 100] [--limit 8]
                                                 [--rate 40] [--seconds 15] [--runs 4] [--db sqlite]
                                                 [--worker-process]

One `corral serve` (its worker in the same process, the default deployment) in front of the
simulator at a fixed --latency-ms. Real-time requests arrive open loop at --rate per second
(a request is sent on schedule whether or not earlier ones have answered, so a slow gateway
cannot hide by being asked less) for --seconds, on the same model and route as the batch.
Phases alternate: alone, then while a --lines batch runs (measured once it is under way, and
it must still be running when the window ends), then alone again, and so on. The batch is
paced to batches.route_concurrency --limit for that route, so it leaves the upstream room;
what it still shares with live traffic is the gateway process (event loop, database), or with
--worker-process only the machine and the database (`corral serve --no-worker` plus one
`corral worker`; the gateway CPU reported is then the API process's alone).

Reports each phase's latency percentiles, the p99 ratio with/alone per pair (goal: at most
1.10) and over all pairs' samples pooled, the batch's pace during the window, and the
gateway's CPU per second in each phase (how much of the machine the batch takes).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import psutil
from batch_rig import MODEL, Rig, finished, pg_schema, submit, wait_for
from gateway_overhead import gateway_cpu, percentile

BODY = orjson.dumps({"model": MODEL, "max_tokens": 16,
                     "messages": [{"role": "user", "content": "Say hello in five words."}]})


async def open_loop(url: str, key: str, rate: float, seconds: float) -> dict[str, Any]:
    """Send requests on a fixed schedule; latencies of those that answered 200, and errors."""
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one() -> None:
            nonlocal errors
            t0 = time.perf_counter()
            try:
                async with session.post(f"{url}/v1/chat/completions", data=BODY, headers=headers) as r:
                    await r.read()
                    ok = r.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    ms = [x * 1000 for x in latencies]
    return {"requests": len(tasks), "errors": errors, **summary(ms), "latencies_ms": ms}


def summary(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(ms, 50), 2), "p90_ms": round(percentile(ms, 90), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


async def phase(url: str, key: str, gateway: psutil.Process, args: argparse.Namespace) -> dict[str, Any]:
    cpu0, t0 = gateway_cpu(gateway), time.perf_counter()
    out = await open_loop(url, key, args.rate, args.seconds)
    out["gateway_cpu_per_s"] = round((gateway_cpu(gateway) - cpu0) / (time.perf_counter() - t0), 3)
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return out


async def with_batch(client: openai.AsyncOpenAI, url: str, key: str, gateway: psutil.Process,
                     args: argparse.Namespace) -> dict[str, Any]:
    batch_id = await submit(client, args.lines)
    under_way = lambda b: b.request_counts.completed >= 2 * args.limit or finished(b)  # noqa: E731
    before = await wait_for(client, batch_id, under_way)
    out = await phase(url, key, gateway, args)
    after = await client.batches.retrieve(batch_id)
    out["batch_lines_during_window"] = after.request_counts.completed - before.request_counts.completed
    out["batch_lines_per_s"] = round(out["batch_lines_during_window"] / args.seconds, 1)
    out["batch_ran_throughout"] = after.status == "in_progress"
    done = await wait_for(client, batch_id, finished, every_s=0.5)
    out["batch_status"] = done.status
    return out


async def run(args: argparse.Namespace, db_url: str, home: Path) -> dict[str, Any]:
    rig = Rig(home)
    try:
        sim_url = await rig.simulator(args.latency_ms)
        config = rig.config(sim_url, db_url, jobs_={"concurrency": 2 * args.limit},
                            batches={"route_concurrency": {MODEL: args.limit}})
        url, key = await rig.gateway(config, worker=not args.worker_process)
        gateway = psutil.Process(rig.procs[-1].pid)
        if args.worker_process:
            await rig.worker(config, 0)
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        await open_loop(url, key, args.rate, 3)  # warm the gateway and its connections
        pairs = []
        for _ in range(args.runs):
            alone = await phase(url, key, gateway, args)
            loaded = await with_batch(client, url, key, gateway, args)
            pairs.append({"alone": alone, "with_batch": loaded,
                          "p99_ratio": round(loaded["p99_ms"] / alone["p99_ms"], 3),
                          "p50_ratio": round(loaded["p50_ms"] / alone["p50_ms"], 3)})
        await client.close()
        return {"pairs": pairs, **pooled(pairs)}
    finally:
        rig.stop()


def pooled(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every pair's ratio, and the percentiles of all samples of each side together (a p99 of
    600 samples is its 6th slowest: one stall of the shared machine moves it)."""
    sides = {side: [x for p in pairs for x in p[side].pop("latencies_ms")]
             for side in ("alone", "with_batch")}
    alone, loaded = summary(sides["alone"]), summary(sides["with_batch"])
    ratios = [p["p99_ratio"] for p in pairs]
    # The noise floor: the same measurement with no batch on either side (one alone window
    # against the next). A rise smaller than these swings cannot be told from the machine.
    same = [round(b["alone"]["p99_ms"] / a["alone"]["p99_ms"], 3) for a, b in itertools.pairwise(pairs)]
    return {"p99_ratios": ratios, "p99_ratio_median": round(statistics.median(ratios), 3),
            "alone_vs_next_alone_p99_ratios": same,
            "pooled_alone": alone, "pooled_with_batch": loaded,
            "pooled_p99_ratio": round(loaded["p99_ms"] / alone["p99_ms"], 3),
            "pooled_p90_ratio": round(loaded["p90_ms"] / alone["p90_ms"], 3),
            "goal_p99_ratio": 1.10}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    setup = {k: v for k, v in vars(args).items()}
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        if args.db == "sqlite":
            return {**setup, **await run(args, f"sqlite:///{tmp}/corral.db", Path(tmp))}
        async with pg_schema() as pg:
            if pg is None:
                return {**setup, "skipped": "PostgreSQL unreachable"}
            return {**setup, **await run(args, pg, Path(tmp))}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--limit", type=int, default=8, help="batches.route_concurrency for the route")
    parser.add_argument("--rate", type=float, default=40.0, help="real-time requests per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window per phase")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--worker-process", action="store_true",
                        help="corral serve --no-worker plus one corral worker (the batch off the API's loop)")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
