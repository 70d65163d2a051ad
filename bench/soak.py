"""Soak: a steady mixed load with faults for a long time, and many open streams at once.

    .venv/bin/python bench/soak.py [--minutes 30] [--rps 20] [--stream-share 0.5]
    .venv/bin/python bench/soak.py --streams 5000

Why: leaks (memory, file descriptors, asyncio tasks) and slow drifts (a cache or a table that
grows with every request) do not show in a two-minute benchmark; they show as steady growth
once start-up and warm-up are over.

Soak mode: `corral serve --workers 1` (when the CLI has `--workers`; one process either way),
default configuration with recording on, one model with two deployments: a simulator that
injects faults (server errors, rate limits, resets, broken and malformed streams, short hangs,
together ~6% of calls; retries, breakers and the fallback tier run) and a clean one as the
lower-priority tier. An open-loop load of `--rps` requests per second (a `--stream-share` of
them streamed) runs for `--minutes`. Prompts cycle through `--distinct-prompts` (1,000): the
default configuration keeps every answer in the exact cache for `cache_fallback` (in memory,
bounded at 64 MiB), and with every prompt new that bound takes longer than a soak to reach,
which would read as growth; `--distinct-prompts 0` shows that fill. Every
`--sample-s` the gateway's RSS (VmRSS of /proc/<pid>/status), open file descriptors
(/proc/<pid>/fd) and live asyncio tasks (`corral_process_asyncio_tasks` on /metrics) are
sampled. After `--warmup-minutes`, the first and the last window (five minutes, or half of what
is left when the run is short) are compared: RSS growth under 5%, no growth of descriptors or
tasks beyond the range of the first window (plus 2 or 5%, for requests in flight), latency p50
within 1.25x and p99 within 1.5x (streams and non-streams apart). Prints JSON with per-minute
latency, the samples' summary and a pass/fail per criterion.

Streams mode (`--streams N`): the simulator streams slowly (first token after 1 s, then
`--stream-tps` tokens/s) so that N streams opened at `--open-rate` per second are all open at
once; the provider's connection pool is raised to N (the default, 200 per provider, would
queue them). Reports RSS idle, at the peak and after, bytes per open stream, tasks and
descriptors at the peak, and whether all N completed. The open-files limit is raised to its
hard limit for this process and the servers it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_overhead import CORRAL, ROOT, free_port, percentile, serve_command, wait_http
from processes import stop_all

FAULTS = [  # first firing rule wins; probabilities are per call of the faulty deployment
    {"fault": "server_error", "probability": 0.02}, {"fault": "rate_limit", "probability": 0.01},
    {"fault": "reset", "probability": 0.01}, {"fault": "stream_error", "probability": 0.01},
    {"fault": "malformed_sse", "probability": 0.005}, {"fault": "overloaded", "probability": 0.005},
    {"fault": "hang", "probability": 0.002},
]
GAUGES = {"tasks": b"corral_process_asyncio_tasks", "cache_bytes": b"corral_exact_cache_bytes",
          "cache_entries": b"corral_exact_cache_entries"}
LIMITS = {"rss_growth_max": 0.05, "latency_p50_ratio_max": 1.25, "latency_p99_ratio_max": 1.5}


@dataclass
class Servers:
    """The simulators and the gateway of one run, with the gateway's keys."""

    home: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    gateway: psutil.Process | None = None
    url: str = ""
    key: str = ""
    admin: str = ""

    def start(self, args: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})},
                                stdout=(self.home / f"{name}.log").open("ab"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        stop_all(self.procs, grace_s=30)


async def start_servers(home: Path, sims: dict[str, list[str]], models: dict[str, Any],
                        max_connections: int | None = None) -> Servers:
    """Start one simulator per entry of `sims` (name -> extra options) and `corral serve`."""
    servers = Servers(home)
    ports = {name: free_port() for name in sims}
    for name, options in sims.items():
        servers.start([*CORRAL, "simulate", "--port", str(ports[name]), *options], name)
    pool = {"max_connections": max_connections} if max_connections else {}
    config = home / "corral.yaml"
    config.write_text(json.dumps({
        "providers": {name: {"type": "openai", "base_url": f"http://127.0.0.1:{port}/v1", **pool}
                      for name, port in ports.items()},
        "models": models}))
    port = free_port()
    gw = servers.start([*serve_command(), "--config", str(config), "--port", str(port),
                        "--log-level", "warning"], "corral", {"CORRAL_HOME": str(home)})
    log = home / "corral.log"
    deadline = time.monotonic() + 90
    while not servers.admin or not servers.key:
        text = log.read_text(errors="replace")
        servers.admin = next((ln.split()[-1] for ln in text.splitlines() if "admin key" in ln), "")
        servers.key = next((ln.split()[-1] for ln in text.splitlines() if "application key" in ln), "")
        if gw.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"corral serve printed no keys:\n{text}")
        await asyncio.sleep(0.1)
    for p in ports.values():
        await wait_http(f"http://127.0.0.1:{p}/v1/models")
    servers.url = f"http://127.0.0.1:{port}"
    await wait_http(f"{servers.url}/healthz")
    servers.gateway = psutil.Process(gw.pid)
    return servers


def proc_sample(proc: psutil.Process) -> dict[str, float]:
    """RSS (VmRSS) and open descriptors of the gateway and any processes under it, from /proc."""
    rss = fds = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
            rss += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)[1]) * 1024  # type: ignore[index]
            fds += len(os.listdir(f"/proc/{p.pid}/fd"))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return {"rss": rss, "fds": fds}


async def gauges(session: aiohttp.ClientSession, servers: Servers) -> dict[str, int]:
    """Live asyncio tasks and the in-memory exact cache's size, from /metrics (-1: absent)."""
    headers = {"authorization": f"Bearer {servers.admin}"}
    async with session.get(f"{servers.url}/metrics", headers=headers) as r:
        text = await r.read()
    out = {}
    for key, metric in GAUGES.items():
        found = re.search(rb"^" + metric + rb" (\d+)", text, re.M)
        out[key] = int(found[1]) if found else -1
    return out


async def one_request(session: aiohttp.ClientSession, servers: Servers, stream: bool, prompt: str,
                      max_tokens: int = 32) -> tuple[float, float | None, str]:
    """(latency, time to first content chunk, outcome: ok | http_NNN | stream_error | transport)."""
    body = orjson.dumps({"model": "bench", "stream": stream, "max_tokens": max_tokens,
                         "messages": [{"role": "user", "content": prompt}]})
    headers = {"authorization": f"Bearer {servers.key}", "content-type": "application/json"}
    t0 = time.perf_counter()
    first: float | None = None
    try:
        async with session.post(f"{servers.url}/v1/chat/completions", data=body, headers=headers) as r:
            if not stream or r.status != 200:
                await r.read()
                return time.perf_counter() - t0, None, "ok" if r.status == 200 else f"http_{r.status}"
            outcome = "stream_error"
            async for line in r.content:
                if line.startswith(b"data: [DONE]"):
                    outcome = "ok" if outcome != "in_stream_error" else outcome
                elif line.startswith(b'data: {"error"'):
                    outcome = "in_stream_error"
                elif first is None and line.startswith(b"data: {") and b'"content":"' in line:
                    first = time.perf_counter() - t0
            return time.perf_counter() - t0, first, outcome
    except (TimeoutError, aiohttp.ClientError):
        return time.perf_counter() - t0, first, "transport"


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    mv = statistics.fmean(v for _, v in points)
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / var * 3600 if var else 0.0


def latency_stats(rows: list[tuple[float, float, bool, str]], stream: bool) -> dict[str, float]:
    lat = [r[1] for r in rows if r[2] == stream]
    if not lat:
        return {"n": 0}
    return {"n": len(lat), "p50_ms": round(percentile(lat, 50) * 1000, 1),
            "p99_ms": round(percentile(lat, 99) * 1000, 1)}


def analyse(samples: list[dict[str, float]], rows: list[tuple[float, float, bool, str]], seconds: float,
            warmup_s: float) -> dict[str, Any]:
    """Growth after warm-up and the pass/fail of each criterion (see the module docstring)."""
    window = min(300.0, (seconds - warmup_s) / 2)
    first = [s for s in samples if warmup_s <= s["t"] < warmup_s + window]
    last = [s for s in samples if s["t"] >= seconds - window]
    after = [s for s in samples if s["t"] >= warmup_s]
    out: dict[str, Any] = {"warmup_s": warmup_s, "window_s": window, "samples_after_warmup": len(after)}
    passed: dict[str, bool] = {}
    for key in ("rss", "fds", "tasks"):
        a, b = [s[key] for s in first], [s[key] for s in last]
        slope = slope_per_hour([(s["t"], s[key]) for s in after])
        out[key] = {"first_window_median": statistics.median(a), "last_window_median": statistics.median(b),
                    "first_window_max": max(a), "slope_per_hour": round(slope, 1)}
        if key == "rss":
            growth = statistics.median(b) / statistics.median(a) - 1
            out[key]["growth"] = round(growth, 4)
            passed["rss_growth_under_5pct"] = growth < LIMITS["rss_growth_max"]
        else:  # in-flight requests move both by a few: growth is past the first window's range + slack
            passed[f"{key}_no_growth"] = statistics.median(b) <= max(a) + max(2, 0.05 * statistics.median(a))
    lat_first = [r for r in rows if warmup_s <= r[0] < warmup_s + window]
    lat_last = [r for r in rows if r[0] >= seconds - window]
    for stream, kind in ((False, "chat"), (True, "stream")):
        f, la = latency_stats(lat_first, stream), latency_stats(lat_last, stream)
        out[f"latency_{kind}"] = {"first_window": f, "last_window": la}
        if f["n"] and la["n"]:
            p50_ok = la["p50_ms"] <= f["p50_ms"] * LIMITS["latency_p50_ratio_max"]
            p99_ok = la["p99_ms"] <= f["p99_ms"] * LIMITS["latency_p99_ratio_max"]
            passed[f"latency_{kind}_steady"] = p50_ok and p99_ok
    cache = [s["cache_bytes"] for s in first], [s["cache_bytes"] for s in last]
    out["exact_cache_bytes"] = {"first_window_median": statistics.median(cache[0]),
                                "last_window_median": statistics.median(cache[1])}
    out["pass"] = passed
    out["all_passed"] = all(passed.values())
    return out


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="corral-soak-"))
    faults = home / "faults.json"
    faults.write_text(json.dumps(FAULTS))
    timing = ["--latency-ms", "20", "--ttft-ms", "30", "--tps", "200", "--output-tokens", "24"]
    sims = {"faulty": [*timing, "--faults", str(faults), "--hang-s", "2", "--retry-after-s", "0.2"],
            "clean": timing}
    models = {"bench": {"deployments": [{"provider": "faulty", "model": "bench"},
                                        {"provider": "clean", "model": "bench", "priority": 1}]}}
    servers = await start_servers(home, sims, models)
    assert servers.gateway is not None
    rng = random.Random(args.seed)
    rows: list[tuple[float, float, bool, str]] = []  # (start s, latency s, stream, outcome)
    samples: list[dict[str, float]] = []
    pending: set[asyncio.Task[None]] = set()
    skipped = 0
    seconds = args.minutes * 60
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            t0 = time.monotonic()

            async def fire(i: int, at: float, stream: bool) -> None:
                n = i % args.distinct_prompts if args.distinct_prompts else i
                prompt = f"Soak {args.seed}-{n}: say hi"
                latency, _, outcome = await one_request(session, servers, stream, prompt)
                rows.append((at, latency, stream, outcome))

            async def sampler() -> None:
                while True:
                    s = proc_sample(servers.gateway)  # type: ignore[arg-type]
                    samples.append({"t": time.monotonic() - t0, **s, **await gauges(session, servers),
                                    "in_flight": len(pending)})
                    await asyncio.sleep(args.sample_s)

            sampling = asyncio.create_task(sampler())
            i = 0
            while (now := time.monotonic() - t0) < seconds:
                if len(pending) < args.max_in_flight:
                    task = asyncio.create_task(fire(i, now, rng.random() < args.stream_share))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                else:
                    skipped += 1
                i += 1
                await asyncio.sleep(max(0.0, t0 + i / args.rps - time.monotonic()))
            await asyncio.wait_for(asyncio.gather(*pending), timeout=60)
            sampling.cancel()
    finally:
        servers.stop()
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[r[3]] = outcomes.get(r[3], 0) + 1
    minutes = [[r for r in rows if m * 60 <= r[0] < (m + 1) * 60] for m in range(math.ceil(seconds / 60))]
    per_minute = [{"minute": m + 1, "chat": latency_stats(in_minute, False),
                   "stream": latency_stats(in_minute, True)} for m, in_minute in enumerate(minutes)]
    return {"mode": "soak", "minutes": args.minutes, "rps": args.rps, "stream_share": args.stream_share,
            "distinct_prompts": args.distinct_prompts,
            "requests": len(rows), "skipped_at_in_flight_cap": skipped, "outcomes": outcomes,
            "faults": FAULTS, "limits": LIMITS,
            "result": analyse(samples, rows, seconds, args.warmup_minutes * 60),
            "per_minute": per_minute,
            "samples": [{k: round(v, 1) if k == "t" else v for k, v in s.items()} for s in samples],
            "serve_cmd": " ".join(["corral", *serve_command()[3:]])}


async def open_streams(args: argparse.Namespace) -> dict[str, Any]:
    n = args.streams
    ramp_s = n / args.open_rate
    tokens = math.ceil((ramp_s + args.hold_s) * args.stream_tps)  # each stream outlasts the ramp
    home = Path(tempfile.mkdtemp(prefix="corral-streams-"))
    sims = {"slow": ["--ttft-ms", "1000", "--tps", str(args.stream_tps), "--output-tokens", str(tokens)]}
    models = {"bench": {"deployments": [{"provider": "slow", "model": "bench"}]}}
    servers = await start_servers(home, sims, models, max_connections=n + 100)
    assert servers.gateway is not None
    state = {"open": 0, "peak_open": 0}
    outcomes: dict[str, int] = {}
    peak: dict[str, float] = {"rss": 0}
    try:
        connector = aiohttp.TCPConnector(limit=0)
        no_timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(connector=connector, timeout=no_timeout) as session:
            for i in range(20):  # warm the path once, then measure idle
                await one_request(session, servers, True, f"warm {i}", max_tokens=2)
            await asyncio.sleep(2)
            idle = {**proc_sample(servers.gateway), **await gauges(session, servers)}

            async def stream(i: int) -> None:
                state["open"] += 1
                state["peak_open"] = max(state["peak_open"], state["open"])
                prompt = f"Stream {i}: say hi"
                _, _, outcome = await one_request(session, servers, True, prompt, max_tokens=tokens)
                state["open"] -= 1
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

            async def sampler() -> None:
                while True:
                    s = proc_sample(servers.gateway)  # type: ignore[arg-type]
                    if s["rss"] > peak["rss"]:
                        peak.update(s, open=state["open"], t=round(time.monotonic() - t0, 1))
                    await asyncio.sleep(0.5)

            t0 = time.monotonic()
            sampling = asyncio.create_task(sampler())
            running = []
            for i in range(n):
                running.append(asyncio.create_task(stream(i)))
                await asyncio.sleep(max(0.0, t0 + (i + 1) / args.open_rate - time.monotonic()))
            await asyncio.sleep(1)
            at_full = {**proc_sample(servers.gateway), **await gauges(session, servers),
                       "open": state["open"]}
            await asyncio.gather(*running)
            elapsed = time.monotonic() - t0
            sampling.cancel()
        await asyncio.sleep(6)  # past the gateway's keep-alive timeout: client connections closed
        async with aiohttp.ClientSession() as session:
            after = {**proc_sample(servers.gateway), **await gauges(session, servers)}
    finally:
        servers.stop()
    mb = {"idle": idle["rss"], "all_open": at_full["rss"], "max_sampled": peak["rss"], "after": after["rss"]}
    return {"mode": "streams", "streams": n, "open_rate_per_s": args.open_rate, "stream_tokens": tokens,
            "stream_tps": args.stream_tps, "elapsed_s": round(elapsed, 1), "outcomes": outcomes,
            "all_completed": outcomes.get("ok", 0) == n, "peak_open_client_side": state["peak_open"],
            "rss_mb": {k: round(v / 2**20, 1) for k, v in mb.items()},
            "bytes_per_open_stream": round((at_full["rss"] - idle["rss"]) / at_full["open"]),
            "at_all_open": {"open": at_full["open"], "fds": at_full["fds"], "tasks": at_full["tasks"]},
            "idle": {"fds": idle["fds"], "tasks": idle["tasks"]},
            "after_s6": {"fds": after["fds"], "tasks": after["tasks"]},
            "provider_max_connections": n + 100, "serve_cmd": " ".join(["corral", *serve_command()[3:]])}


def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--warmup-minutes", type=float, default=2)
    p.add_argument("--rps", type=float, default=20)
    p.add_argument("--stream-share", type=float, default=0.5)
    p.add_argument("--sample-s", type=float, default=10)
    p.add_argument("--max-in-flight", type=int, default=500)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--distinct-prompts", type=int, default=1000,
                   help="prompts cycle through this many (0: every prompt new; see the docs' Soak section)")
    p.add_argument("--streams", type=int, help="open this many streams at once instead of soaking")
    p.add_argument("--open-rate", type=float, default=500, help="streams opened per second (--streams)")
    p.add_argument("--stream-tps", type=float, default=0.5, help="tokens/s of each stream (--streams)")
    p.add_argument("--hold-s", type=float, default=10, help="how long all streams stay open (--streams)")
    args = p.parse_args()
    if not args.streams and args.minutes <= args.warmup_minutes:
        sys.exit("--minutes must be longer than --warmup-minutes")
    limit = raise_open_files()
    if args.streams and limit < 3 * args.streams:
        sys.exit(f"open-files limit {limit} is too low for {args.streams} streams")
    result = asyncio.run(open_streams(args) if args.streams else soak(args))
    extra = {"open_files_limit": limit, "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps({**result, **extra}, indent=2))


if __name__ == "__main__":
    main()
