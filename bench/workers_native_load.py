"""`corral serve --workers 1` against `--workers 2`, with an upstream and a load generator that
leave the gateway both cores: measured throughput, not a projection.

bench/workers_scaling.py drives the gateways with Python (the aiohttp load generator and the
simulator), which take about two thirds of a core on this 2-core machine, so two workers can
only be compared per gateway CPU-second there. Here the upstream is HAProxy answering every
`POST /v1/chat/completions` with a fixed chat completion (`http-request return`, no Python),
and the load comes from wrk (C, one thread). Both are Debian packages (`make bench-deps`).
Each gateway runs on a fresh SQLite home with recording on and a requests-per-minute limit on
its key far above the load (so every request reserves a meter; with two workers, through the
supervisor's local coordinator). The gateways are driven in turn, `--rounds` times, for
`--seconds` each at `--connections` open connections.

`--configs` picks among three: `rpm_limit`, `default_config` (no limit) and `redis` (the default
configuration with `CORRAL_REDIS_URL` set, as replicas run: breakers, the retry budget and the
answer cache's fallback entries in Redis rather than the supervisor's coordinator).

Reports, per gateway: requests/s (median of the rounds) and the CPU seconds each component
used per wall second (gateway, HAProxy, wrk, the rest of the machine from /proc/stat), so the
share of the two cores the load and upstream took is on the record; and the ratio of two
workers' requests/s to one's (issue 17: at least 1.6x at concurrency 64).

    .venv/bin/python bench/workers_native_load.py [--seconds 10] [--rounds 3] [--connections 64]
        [--configs rpm_limit,default_config,redis] [--redis redis://127.0.0.1:6379/7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
from gateway_overhead import Processes, free_port, gateway_cpu
from workers_scaling import start_gateway

ANSWER = {"id": "chatcmpl-static", "object": "chat.completion", "created": 1_700_000_000, "model": "bench",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, how are you?"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21}}
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 16}
WRK_SCRIPT = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def haproxy_config(port: int, answer: Path) -> str:
    return f"""global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend upstream
    bind 127.0.0.1:{port}
    http-request return status 200 content-type application/json file {answer}
"""


def cpu_of(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def start_wrk(url: str, script: Path, seconds: int, connections: int) -> subprocess.Popen[str]:
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse_wrk(out: str) -> dict[str, float]:
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    rps = float(found.group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0}


def run_once(url: str, script: Path, gateway: psutil.Process, lb: psutil.Process, seconds: int,
             connections: int) -> dict[str, float]:
    before = (time.perf_counter(), gateway_cpu(gateway), cpu_of(lb), machine_busy())
    load = start_wrk(url, script, seconds, connections)
    wrk_proc, wrk_cpu = psutil.Process(load.pid), 0.0
    while load.poll() is None:  # its CPU time, read until it exits
        try:
            t = wrk_proc.cpu_times()
            wrk_cpu = t.user + t.system
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    out = load.communicate()[0]
    wall = time.perf_counter() - before[0]
    result = parse_wrk(out)
    gw, up, busy = gateway_cpu(gateway) - before[1], cpu_of(lb) - before[2], machine_busy() - before[3]
    return {**result, "wall_s": round(wall, 2), "gateway_cores": round(gw / wall, 3),
            "upstream_cores": round(up / wall, 3), "wrk_cores": round(wrk_cpu / wall, 3),
            "other_cores": round(max(0.0, busy - gw - up - wrk_cpu) / wall, 3),
            "gateway_cpu_ms_per_request": round(1000 * gw / (result["rps"] * wall), 3)}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    for tool in ("haproxy", "wrk"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: run `make bench-deps` (Debian packages haproxy and wrk)")
    procs = Processes()
    root = Path(tempfile.mkdtemp(prefix="corral-native-"))
    upstream = free_port()
    try:
        answer = root / "answer.json"
        answer.write_bytes(orjson.dumps(ANSWER))
        (root / "haproxy.cfg").write_text(haproxy_config(upstream, answer))
        lb = procs.start(["haproxy", "-f", str(root / "haproxy.cfg")], {})
        gateways = {}
        for config in args.configs:
            env = {"CORRAL_REDIS_URL": args.redis} if config == "redis" else {}
            for workers in ("1", "2"):
                name = f"{config}/workers_{workers}"
                (root / name).mkdir(parents=True)
                # the same gateway as workers_scaling's (SQLite home), on HAProxy's answers
                gateways[name] = await start_gateway(procs, root / name, upstream, workers, env,
                                                     limit=config == "rpm_limit")
        lb_proc = psutil.Process(lb.pid)
        scripts = {}
        for name, (url, key, gw) in gateways.items():
            scripts[name] = root / f"{name}.lua"
            scripts[name].write_text(WRK_SCRIPT.format(body=orjson.dumps(BODY).decode(), key=key))
            run_once(url, scripts[name], gw, lb_proc, 3, args.connections)  # warm every worker
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in gateways}
        for _ in range(args.rounds):
            for name, (url, _key, gw) in gateways.items():
                runs[name].append(run_once(url, scripts[name], gw, lb_proc, args.seconds, args.connections))
        medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
        ratios = {config: _ratios(medians, config) for config in args.configs}
        return {"bench": "workers_native_load", "connections": args.connections, "seconds": args.seconds,
                "rounds": args.rounds, "upstream": "haproxy http-request return (fixed answer)",
                "load": "wrk -t1", "median": medians, "runs": runs, "workers_2_to_1": ratios,
                "target_min": 1.6}
    finally:
        procs.stop()
        shutil.rmtree(root, ignore_errors=True)


def _ratios(medians: dict[str, dict[str, float]], config: str) -> dict[str, Any]:
    """Two workers against one: requests/s as measured, and per gateway core-second times the
    cores two workers could use (a worker uses at most one): what the load and upstream's share
    of the machine cost them."""
    one, two = medians[f"{config}/workers_1"], medians[f"{config}/workers_2"]
    measured = two["rps"] / one["rps"]
    per_core = (two["rps"] / two["gateway_cores"]) / (one["rps"] / min(1.0, one["gateway_cores"]))
    return {"measured": round(measured, 3), "meets_target": measured >= 1.6,
            "per_gateway_core_x2": round(2 * per_core, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of one worker, two workers")
    parser.add_argument("--connections", type=int, default=64, help="wrk's open connections (concurrency)")
    parser.add_argument("--configs", type=lambda v: v.split(","), default=["rpm_limit", "default_config"],
                        help="comma-separated: rpm_limit, default_config, redis (default: the first two)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7",
                        help="the Redis of the `redis` configuration")
    print(json.dumps(asyncio.run(measure(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
