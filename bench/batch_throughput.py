"""Batch throughput against Little's law, and two worker processes sharing one batch.

    .venv/bin/python bench/batch_throughput.py [--lines 2000] [--latency-ms 200] [--limit 16]
                                               [--runs 2] [--markdown]

The simulator answers every request after a fixed --latency-ms L; Corral paces a batch's
lines to batches.default_route_concurrency C per process (jobs.concurrency is 2C, so the
route limit is what binds). By Little's law a process can then finish at most C / L lines
per second. The bound is measured in the same run, not assumed: C clients call the simulator
directly (aiohttp, as bench/gateway_overhead.py does), and their throughput is C / (the
latency they saw). Runs alternate (direct, SQLite batch, PostgreSQL batch with two
workers, ...) so a slow phase of the shared machine hits both sides.

- `one process, SQLite`: `corral serve` with its worker. Lines per second over the span from
  the first line's claim to the last line's result (the jobs table's timestamps), and end to
  end (upload, planning, the last check, the files) for scale.
- `two workers, PostgreSQL`: `corral serve --no-worker` plus two `corral worker` processes.
  The split comes from each line's `lease_owner` (kept on a finished job); "done twice" is
  checked twice: the simulator must have received exactly one request per line, and no line
  may have needed a second attempt. Its bound is 2C / L (C per process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
from batch_rig import MODEL, Rig, answered_once, finished, items, pg_schema, sim_requests, sim_reset, submit
from batch_rig import wait_for as wait_batch
from gateway_overhead import load


async def direct_bound(sim_url: str, limit: int, latency_ms: float) -> dict[str, Any]:
    """C clients straight to the simulator: the Little's-law bound as this run's machine gives it."""
    n = max(limit * 20, int(limit * 5000 / latency_ms))  # about five seconds of requests
    d = await load(f"{sim_url}/v1/chat/completions", "unused", n, limit, MODEL)
    latency = statistics.fmean(d["latencies"])  # type: ignore[arg-type]
    return {"requests": n, "mean_latency_ms": round(latency * 1000, 2),
            "direct_rps": round(float(d["rps"]), 2),  # type: ignore[arg-type]
            "bound_lines_per_s": round(limit / latency, 2)}


async def batch_run(rig: Rig, sim_url: str, db_url: str, args: argparse.Namespace,
                    workers: int) -> dict[str, Any]:
    """One batch through a fresh gateway on `db_url`: in-process worker (0) or `workers` processes."""
    config = rig.config(sim_url, db_url, jobs_={"concurrency": 2 * args.limit, "poll_interval_s": 0.2},
                        batches={"check_interval_s": 0.5, "default_route_concurrency": args.limit})
    url, key = await rig.gateway(config, worker=workers == 0)
    for n in range(workers):
        await rig.worker(config, n)
    await sim_reset(sim_url)
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    started = time.perf_counter()
    batch_id = await submit(client, args.lines)
    batch = await wait_batch(client, batch_id, finished, every_s=0.25)
    end_to_end = time.perf_counter() - started
    out = await items(db_url, batch_id)
    out.update(status=batch.status, loadavg_1m=round(os.getloadavg()[0], 2),
               end_to_end_s=round(end_to_end, 2), end_to_end_lines_per_s=round(args.lines / end_to_end, 2),
               simulator_requests=await sim_requests(sim_url),
               every_line_once_in_output=await answered_once(client, batch, args.lines))
    await client.close()
    rig.stop()
    return out


async def one_round(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        sim_rig = Rig(Path(tmp))
        try:
            sim_url = await sim_rig.simulator(args.latency_ms)
            out["direct"] = direct = await direct_bound(sim_url, args.limit, args.latency_ms)
            (Path(tmp) / "sqlite").mkdir()
            one = await batch_run(Rig(Path(tmp) / "sqlite"), sim_url, f"sqlite:///{tmp}/sqlite/corral.db",
                                  args, 0)
            nominal = args.limit / (args.latency_ms / 1000)
            one["of_bound"] = round(one["lines_per_s"] / direct["bound_lines_per_s"], 3)
            one["of_nominal_c_over_l"] = round(one["lines_per_s"] / nominal, 3)
            out["one_process_sqlite"] = one
            async with pg_schema() as pg:
                if pg is None:
                    out["two_workers_postgresql"] = "skipped: PostgreSQL unreachable"
                    return out
                (Path(tmp) / "pg").mkdir()
                two = await batch_run(Rig(Path(tmp) / "pg"), sim_url, pg, args, 2)
                two["of_bound"] = round(two["lines_per_s"] / (2 * direct["bound_lines_per_s"]), 3)
                two["of_nominal_c_over_l"] = round(two["lines_per_s"] / (2 * nominal), 3)
                two["done_twice"] = max(0, two["simulator_requests"] - args.lines) + two["retried"]
                out["two_workers_postgresql"] = two
        finally:
            sim_rig.stop()
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    rows = ["| run | bound C/L (measured) | one process, SQLite: lines/s (of bound) | end to end | "
            "two workers, PostgreSQL: lines/s (of 2C/L) | split | done twice |",
            "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(runs, 1):
        one, two = r["one_process_sqlite"], r["two_workers_postgresql"]
        split = " / ".join(str(v) for v in two["per_worker_pid"].values()) if isinstance(two, dict) else "-"
        pg = f"{two['lines_per_s']} ({two['of_bound']:.0%})" if isinstance(two, dict) else two
        rows.append(f"| {i} | {r['direct']['bound_lines_per_s']} | {one['lines_per_s']} "
                    f"({one['of_bound']:.0%}) | {one['end_to_end_lines_per_s']} | {pg} | {split} | "
                    f"{two['done_twice'] if isinstance(two, dict) else '-'} |")
    return "\n".join(rows)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for _ in range(args.runs):
        runs.append(await one_round(args))
    ratios = [r["one_process_sqlite"]["of_bound"] for r in runs]
    summary: dict[str, Any] = {"of_bound_min": min(ratios), "of_bound_max": max(ratios),
                               "goal": 0.9, "met": min(ratios) >= 0.9}
    twos = [r["two_workers_postgresql"] for r in runs if isinstance(r["two_workers_postgresql"], dict)]
    if twos:
        summary["two_workers_of_bound"] = [t["of_bound"] for t in twos]
        summary["two_workers_done_twice"] = sum(t["done_twice"] for t in twos)
    return {"lines": args.lines, "latency_ms": args.latency_ms, "route_concurrency": args.limit,
            "runs": runs, "summary": summary}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--limit", type=int, default=16, help="batches.default_route_concurrency (C)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args))
    print(json.dumps(result, indent=2))
    if args.markdown:
        print(markdown(result["runs"]))
