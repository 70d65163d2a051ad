"""`corral serve --workers 1` against `--workers 2` (SO_REUSEPORT, and one shared socket), same run.

Starts the simulator (zero latency) and four gateways on fresh SQLite homes, each with a
requests-per-minute limit on its key far above the load (so every request reserves a meter:
without Redis, through the supervisor's local coordinator when there are two workers):
one process; one process using a local coordinator this bench starts (the cost of sharing
state alone); two workers; two workers on one shared socket. Then drives them in turn,
`--rounds` times, with the aiohttp load generator of bench/gateway_overhead.py at
concurrency 64, non-streaming chat. Prints one JSON document, with how the workers split the
CPU and whether SQLite recorded every request.

How the load generator on the same machine is accounted for: the CPU seconds of every
component (gateway processes: supervisor + workers; the simulator; this process, the load
generator) are read from /proc during each measurement. Besides requests/s and their ratio,
it reports requests per gateway CPU-second (what a worker does with a core), the cores the
gateway got (its CPU seconds / wall seconds), and a projection for a machine where the
gateway has its cores to itself: ratio of (requests per gateway CPU-second x cores it could
use), with one worker using at most one core.

The coordinated process's operations per request, as its coordinator counted them.

Also: the cost of one KV operation in process, through the local coordinator (a separate
process, as in `corral serve`) and through Redis (if 127.0.0.1:6379 answers), sequential
and 64 at once.

    .venv/bin/python bench/workers_scaling.py [--requests 6000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from gateway_overhead import CORRAL, Processes, free_port, gateway_cpu, load, read_keys, wait_http

from corral.store.coordinated import ENV_COORDINATOR, CoordinatedKV
from corral.store.kv import KV, KVUnavailable, MemoryKV
from corral.store.kv_redis import RedisKV

CONCURRENCY = 64
GATEWAYS = {"workers_1": ("1", {}), "workers_1_coordinated": ("1", {}), "workers_2": ("2", {}),
            "workers_2_shared_socket": ("2", {"CORRAL_SERVE_REUSEPORT": "0"})}
# workers_1_coordinated: one process using a local coordinator this bench starts, as the workers
# of `--workers 2` use their supervisor's: the cost of sharing state, apart from the second process.


def write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data))


def cpu_of(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def worker_cpu(proc: psutil.Process) -> dict[int, float]:
    out: dict[int, float] = {}
    for child in proc.children():
        try:
            out[child.pid] = cpu_of(child)
        except psutil.NoSuchProcess:
            pass
    return out


async def start_gateway(procs: Processes, home: Path, sim_port: int, workers: str,
                        env: dict[str, str], *, limit: bool = True) -> tuple[str, str, psutil.Process]:
    """`limit`: an rpm limit on the key, so every request reserves a meter (else the default
    configuration: no limit)."""
    port = free_port()
    config = home / "corral.yaml"
    write(config, {
        "providers": {"sim": {"type": "openai", "base_url": f"http://127.0.0.1:{sim_port}/v1"}},
        "models": {"bench": {"deployments": [{"provider": "sim", "model": "bench"}]}},
        # a meter on every request, never binding
        **({"limits": {"keys": {"default": {"rpm": 100_000_000}}}} if limit else {}),
    })
    gw = procs.start([*CORRAL, "serve", "--workers", workers, "--config", str(config), "--port", str(port),
                      "--log-level", "warning"], {"CORRAL_HOME": str(home), **env})
    key = read_keys(gw)
    await wait_http(f"http://127.0.0.1:{port}/healthz")
    proc = psutil.Process(gw.pid)
    for _ in range(600):  # the supervisor starts the other workers once the first serves
        if workers == "1" or len(proc.children()) >= int(workers):
            break
        await asyncio.sleep(0.1)
    return f"http://127.0.0.1:{port}/v1/chat/completions", key, proc


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    procs = Processes()
    root = Path(tempfile.mkdtemp(prefix="corral-workers-"))
    sim_port = free_port()
    me = psutil.Process()
    try:
        sim = procs.start([*CORRAL, "simulate", "--port", str(sim_port), "--output-tokens", "16"], {})
        await wait_http(f"http://127.0.0.1:{sim_port}/v1/models")
        sim_proc = psutil.Process(sim.pid)
        for name in GATEWAYS:
            (root / name).mkdir()
        coordinator = await start_coordinator()
        GATEWAYS["workers_1_coordinated"][1][ENV_COORDINATOR] = coordinator.path
        gateways = {name: await start_gateway(procs, root / name, sim_port, workers, env)
                    for name, (workers, env) in GATEWAYS.items()}
        for url, key, _ in gateways.values():  # warm every path, and every worker's
            await load(url, key, 2000, CONCURRENCY)
        coordinator_proc = psutil.Process(coordinator.process.pid)

        def sharing_cpu(name: str, proc: psutil.Process) -> float:
            """CPU of what shares the state: the supervisor (it hosts the coordinator), or ours."""
            if name == "workers_1_coordinated":
                return cpu_of(coordinator_proc)
            return cpu_of(proc) if proc.children() else 0.0

        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in gateways}
        for _ in range(args.rounds):
            for name, (url, key, proc) in gateways.items():
                extra = coordinator_proc if name == "workers_1_coordinated" else None
                before = (time.perf_counter(), gateway_cpu(proc) + (cpu_of(extra) if extra else 0.0),
                          cpu_of(sim_proc), cpu_of(me), worker_cpu(proc), sharing_cpu(name, proc))
                result = await load(url, key, args.requests, CONCURRENCY)
                wall = time.perf_counter() - before[0]
                spread = {pid: cpu - before[4].get(pid, 0.0) for pid, cpu in worker_cpu(proc).items()}
                runs[name].append({
                    "rps": result["rps"], "errors": result["errors"], "wall_s": wall,
                    "gateway_cpu_s": gateway_cpu(proc) + (cpu_of(extra) if extra else 0.0) - before[1],
                    "simulator_cpu_s": cpu_of(sim_proc) - before[2],
                    "load_generator_cpu_s": cpu_of(me) - before[3],
                    "supervisor_cpu_s": sharing_cpu(name, proc) - before[5],
                    "worker_cpu_shares": sorted(round(v / max(sum(spread.values()), 1e-9), 3)
                                                for v in spread.values()),
                })
        out: dict[str, Any] = {"concurrency": CONCURRENCY, "requests": args.requests, "rounds": args.rounds}
        for name, rows in runs.items():
            out[name] = summarize(rows, args.requests)
        efficiency = out["workers_1"]["rps_per_gateway_cpu_s"]
        for name in ("workers_1_coordinated", "workers_2", "workers_2_shared_socket"):
            two = out[name]
            out[f"{name}_vs_1"] = {
                "throughput_ratio": round(two["rps"] / out["workers_1"]["rps"], 3),
                "per_gateway_cpu_s_ratio": round(two["rps_per_gateway_cpu_s"] / efficiency, 3),
                # one worker can use one core, two workers two: what each would reach on its own cores
                "projected_ratio_gateway_alone": round(
                    two["rps_per_gateway_cpu_s"] * int(GATEWAYS[name][0]) / efficiency, 3),
            }
        out["workers_1_coordinated"]["coordinator_ops_per_request"] = await ops_per_request(
            coordinator.path, 2000 + args.requests * args.rounds)
        out["kv_op_us"] = await kv_costs()
        coordinator.process.terminate()
        shutil.rmtree(os.path.dirname(coordinator.path), ignore_errors=True)
        procs.stop()  # the gateways write the records they still hold, then: were all recorded?
        sent = 2000 + args.requests * args.rounds
        out["recorded_in_sqlite"] = {name: f"{recorded(root / name / 'corral.db')} of {sent}"
                                     for name in GATEWAYS}
        out["machine"] = {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                          "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
                          "python": sys.version.split()[0]}
        return out
    finally:
        procs.stop()
        shutil.rmtree(root, ignore_errors=True)


async def ops_per_request(path: str, sent: int) -> dict[str, float]:
    """What the one coordinated process asked of its coordinator per request, by operation
    ("nowait ...": sent without an answer; "stats" is this question)."""
    kv = CoordinatedKV(path)
    try:
        return {op: round(n / sent, 3) for op, n in sorted((await kv.served()).items()) if op != "stats"}
    finally:
        await kv.close()


def recorded(db: Path) -> int:
    """Chat requests recorded in a gateway's SQLite database (N workers write it at once)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("select count(*) from requests where http_status = 200").fetchone()[0])


def summarize(rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Median requests/s over the rounds; CPU pooled over the rounds."""
    total = {k: sum(r[k] for r in rows) for k in ("wall_s", "gateway_cpu_s", "simulator_cpu_s",
                                                   "load_generator_cpu_s", "supervisor_cpu_s")}
    requests = n * len(rows)
    return {
        "rps": round(statistics.median(r["rps"] for r in rows), 1),
        "rps_rounds": [round(r["rps"], 1) for r in rows],
        "errors": sum(r["errors"] for r in rows),
        "rps_per_gateway_cpu_s": round(requests / total["gateway_cpu_s"], 1),
        "gateway_cores_used": round(total["gateway_cpu_s"] / total["wall_s"], 3),
        "simulator_cores_used": round(total["simulator_cpu_s"] / total["wall_s"], 3),
        "load_generator_cores_used": round(total["load_generator_cpu_s"] / total["wall_s"], 3),
        "cpu_ms_per_request": {
            "gateway": round(total["gateway_cpu_s"] / requests * 1000, 4),
            "of_which_coordinator_host": round(total["supervisor_cpu_s"] / requests * 1000, 4),
            "simulator": round(total["simulator_cpu_s"] / requests * 1000, 4),
            "load_generator": round(total["load_generator_cpu_s"] / requests * 1000, 4),
        },
        "worker_cpu_shares": rows[-1]["worker_cpu_shares"],
    }


# -- one KV operation: in process, local coordinator, Redis ---------------------------------


def _coordinator_process(path: str, ready: Any) -> None:
    import uvloop

    from corral.cache.memory import BoundedMemoryStore
    from corral.store.coordinator import Coordinator, serve_coordinator

    async def main() -> None:
        await serve_coordinator(Coordinator(BoundedMemoryStore()), path)
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(main())


async def _time_ops(kv: KV, n: int = 3000) -> dict[str, float]:
    for _ in range(200):
        await kv.incr("bench:warm", 1, ttl_s=60)
    t0 = time.perf_counter()
    for _ in range(n):
        await kv.incr("bench:seq", 1, ttl_s=60)
    sequential = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(n // CONCURRENCY):
        await asyncio.gather(*(kv.incr(f"bench:par:{j}", 1, ttl_s=60) for j in range(CONCURRENCY)))
    concurrent = (time.perf_counter() - t0) / (n // CONCURRENCY * CONCURRENCY)
    return {"sequential_us": round(sequential * 1e6, 2),
            f"c{CONCURRENCY}_us_per_op": round(concurrent * 1e6, 2)}


@dataclass
class CoordinatorProcess:
    path: str
    process: Any


async def start_coordinator() -> CoordinatorProcess:
    """A local coordinator in a process of its own, as a supervisor hosts it."""
    path = os.path.join(tempfile.mkdtemp(prefix="corral-coord-"), "c.sock")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    process = ctx.Process(target=_coordinator_process, args=(path, ready), daemon=True)
    process.start()
    await asyncio.to_thread(ready.wait, 30)
    return CoordinatorProcess(path, process)


async def kv_costs() -> dict[str, Any]:
    out: dict[str, Any] = {"memory": await _time_ops(MemoryKV())}
    server = await start_coordinator()
    try:
        coordinated = CoordinatedKV(server.path)
        out["local_coordinator"] = await _time_ops(coordinated)
        await coordinated.close()
    finally:
        server.process.terminate()
        shutil.rmtree(os.path.dirname(server.path), ignore_errors=True)
    redis = RedisKV.from_url("redis://127.0.0.1:6379/15", prefix=f"bench-{os.getpid()}:")
    try:
        out["redis"] = await _time_ops(redis)
    except KVUnavailable as exc:  # no Redis here: say so
        out["redis"] = f"unavailable: {type(exc).__name__}"
    finally:
        await redis.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000, help="requests per gateway per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import uvloop

    print(json.dumps(uvloop.run(measure(args)), indent=2))


if __name__ == "__main__":
    main()
