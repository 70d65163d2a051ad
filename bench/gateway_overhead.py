"""Gateway overhead: direct-to-simulator, a minimal proxy and Corral, measured in the same run.

Starts the simulator (zero latency), `corral serve` (one worker) and bench/minimal_proxy.py
(a bare aiohttp pass-through, the second baseline) as separate processes, then drives all
three with the same aiohttp load generator, alternating them for `--rounds` rounds. Prints one
JSON document; `--markdown` also prints the table used in docs/benchmarks.md.

    .venv/bin/python bench/gateway_overhead.py [--requests 3000] [--rounds 3] [--markdown]

`--serve-cmd` runs another gateway command instead (bench/serve_variant.py picks the
server, upstream client and chat handler, to compare them in the same conditions);
`--throughput-only` stops after c1 and c16, for a variant that cannot stream.

Measures: requests/s at concurrency 1 and 16, added latency p50/p99 at concurrency 1,
gateway and proxy CPU seconds per 1,000 requests (user+system time from /proc/<pid>/stat,
read through psutil), Corral / minimal proxy and Corral / direct ratios against the issue-17
goals at c16, streaming time to first token (direct vs Corral), chunk spacing through Corral
(buffering check), idle and loaded gateway RSS, and c16 throughput with rate limits, budgets
and the exact cache on against without them (bench/features_overhead.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import features_overhead
import orjson
import psutil
from processes import stop_all

ROOT = Path(__file__).resolve().parent.parent
CORRAL = [sys.executable, "-m", "corral.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_http(url: str, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def gateway_cpu(proc: psutil.Process) -> float:
    """User+system CPU seconds of the gateway and any worker processes it spawned."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def added(via: list[float], direct: list[float], q: float) -> float:
    return percentile(via, q) - percentile(direct, q)


def gateway_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


BODY = orjson.dumps({"model": "bench", "messages": [{"role": "user", "content": "Say hello in five words."}],
                     "max_tokens": 16})


async def load(url: str, key: str, n: int, concurrency: int, model: str = "bench", unique: bool = False
               ) -> dict[str, float | list[float]]:
    """Send n non-streamed requests with `concurrency` workers; return throughput and latencies.
    `unique`: a prompt never sent before, by any run (no cache can answer)."""
    body = BODY if model == "bench" else BODY.replace(b'"model":"bench"', f'"model":"{model}"'.encode())
    run = os.urandom(6).hex()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal errors
            for i in counter:
                data = body.replace(b"five words.", f"five words ({run}-{i}).".encode()) if unique else body
                t0 = time.perf_counter()
                async with session.post(url, data=data, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"rps": n / elapsed, "latencies": latencies, "errors": errors}


async def stream_timing(url: str, key: str, n: int) -> dict[str, list[float]]:
    """Time to first content chunk and gaps between chunks for n sequential streams."""
    body = orjson.loads(BODY)
    body.update(stream=True)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    ttft: list[float] = []
    gaps: list[float] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            t0 = time.perf_counter()
            first = None
            last = None
            async with session.post(url, data=orjson.dumps(body), headers=headers) as r:
                async for line in r.content:
                    if line.startswith(b"data: {") and b'"content"' in line:
                        now = time.perf_counter()
                        if first is None:
                            first = now
                            ttft.append(now - t0)
                        elif last is not None:
                            gaps.append(now - last)
                        last = now
    return {"ttft": ttft, "gaps": gaps}


class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        stop_all(self.procs, grace_s=10)


def read_keys(proc: subprocess.Popen[bytes], admin: list[str] | None = None) -> str:
    """The application key from the first-start banner of `corral serve` (and the admin key,
    appended to `admin` when given)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if "admin key" in line and admin is not None:
            admin.append(line.split()[-1])
        if "application key" in line:
            return line.split()[-1]
        if not line and proc.poll() is not None:
            break
    raise RuntimeError("corral serve printed no application key")


def serve_command() -> list[str]:
    """`corral serve`, with `--workers 1` when this tree's CLI has that option (one process,
    so its CPU and RSS are one process's, like the proxy's)."""
    usage = subprocess.run([*CORRAL, "serve", "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    return [*CORRAL, "serve", *(["--workers", "1"] if re.search(r"--workers\b", usage) else [])]


# Issue 17's goals at c16 (recording on, default configuration).
GOALS = {"corral_to_proxy_throughput_min": 0.90, "corral_to_direct_throughput_min": 0.60,
         "corral_to_proxy_cpu_per_request_max": 1.20}


async def compare(direct: str, proxy: str, via: str, key: str, n: int, conc: int, rounds: int,
                  gw_proc: psutil.Process, px_proc: psutil.Process) -> dict[str, object]:
    """Direct, minimal proxy and Corral, alternating for `rounds` rounds of `n` requests each:
    median requests/s, pooled latencies, CPU over all rounds."""
    rps: dict[str, list[float]] = {"direct": [], "proxy": [], "corral": []}
    lat: dict[str, list[float]] = {name: [] for name in rps}
    cpu = {"proxy": 0.0, "corral": 0.0}
    errors = 0
    for _ in range(rounds):
        targets = (("direct", direct, None), ("proxy", proxy, px_proc), ("corral", via, gw_proc))
        for name, url, proc in targets:
            cpu0 = gateway_cpu(proc) if proc else 0.0
            r = await load(url, key, n, conc)
            if proc:
                cpu[name] += gateway_cpu(proc) - cpu0
            rps[name].append(r["rps"])  # type: ignore[arg-type]
            lat[name].extend(r["latencies"])  # type: ignore[arg-type]
            errors += int(r["errors"])  # type: ignore[arg-type]
    med = {name: statistics.median(v) for name, v in rps.items()}
    ms = {name: round(percentile(v, 50) * 1000, 3) for name, v in lat.items()}
    per_1000 = {name: cpu[name] / (n * rounds) * 1000 for name in cpu}
    return {
        "requests": n, "rounds": rounds,
        "direct_rps": round(med["direct"], 1), "proxy_rps": round(med["proxy"], 1),
        "corral_rps": round(med["corral"], 1),
        "throughput_ratio": round(med["corral"] / med["direct"], 3),
        "proxy_to_direct_throughput": round(med["proxy"] / med["direct"], 3),
        "corral_to_proxy_throughput": round(med["corral"] / med["proxy"], 3),
        "direct_p50_ms": ms["direct"], "proxy_p50_ms": ms["proxy"], "corral_p50_ms": ms["corral"],
        "added_p50_ms": round(added(lat["corral"], lat["direct"], 50) * 1000, 3),
        "added_p99_ms": round(added(lat["corral"], lat["direct"], 99) * 1000, 3),
        "proxy_added_p50_ms": round(added(lat["proxy"], lat["direct"], 50) * 1000, 3),
        "gateway_cpu_s_per_1000": round(per_1000["corral"], 3),
        "proxy_cpu_s_per_1000": round(per_1000["proxy"], 3),
        "corral_to_proxy_cpu_per_request": round(per_1000["corral"] / per_1000["proxy"], 3),
        "errors": errors,
    }


def goals(c16: dict[str, float]) -> dict[str, object]:
    to_proxy, to_direct = c16["corral_to_proxy_throughput"], c16["throughput_ratio"]
    cpu = c16["corral_to_proxy_cpu_per_request"]
    return {**GOALS, "met": {
        "corral_to_proxy_throughput": to_proxy >= GOALS["corral_to_proxy_throughput_min"],
        "corral_to_direct_throughput": to_direct >= GOALS["corral_to_direct_throughput_min"],
        "corral_to_proxy_cpu_per_request": cpu <= GOALS["corral_to_proxy_cpu_per_request_max"]}}


async def measure(args: argparse.Namespace) -> dict[str, object]:
    procs = Processes()
    home = tempfile.mkdtemp(prefix="corral-bench-")
    sim_port, gw_port, stream_sim_port, px_port = free_port(), free_port(), free_port(), free_port()
    try:
        procs.start([*CORRAL, "simulate", "--port", str(sim_port), "--output-tokens", "16"], {})
        procs.start([*CORRAL, "simulate", "--port", str(stream_sim_port), "--output-tokens", "20",
                     "--tps", "100", "--ttft-ms", "50"], {})
        config = Path(home) / "corral.yaml"
        guarded = features_overhead.guarded_config("sim")
        config.write_text(json.dumps({
            "providers": {"sim": {"type": "openai", "base_url": f"http://127.0.0.1:{sim_port}/v1"},
                          "simstream": {"type": "openai",
                                        "base_url": f"http://127.0.0.1:{stream_sim_port}/v1"}},
            "models": {"bench": {"deployments": [{"provider": "sim", "model": "bench"}]},
                       "bench-stream": {"deployments": [{"provider": "simstream", "model": "bench"}]},
                       **guarded["models"]},
            "limits": guarded["limits"], "pricing": guarded["pricing"],
        }))
        px = procs.start([sys.executable, str(ROOT / "bench" / "minimal_proxy.py"), "--port", str(px_port),
                          "--upstream", f"http://127.0.0.1:{sim_port}"], {})
        serve = args.serve_cmd.split() if args.serve_cmd else serve_command()
        gw = procs.start([*serve, "--config", str(config), "--port", str(gw_port), "--log-level", "warning"],
                         {"CORRAL_HOME": home})
        admin: list[str] = []
        key = read_keys(gw, admin)
        await wait_http(f"http://127.0.0.1:{sim_port}/v1/models")
        await wait_http(f"http://127.0.0.1:{stream_sim_port}/v1/models")
        await wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        await wait_http(f"http://127.0.0.1:{px_port}/healthz")
        gw_proc, px_proc = psutil.Process(gw.pid), psutil.Process(px.pid)
        direct = f"http://127.0.0.1:{sim_port}/v1/chat/completions"
        proxy = f"http://127.0.0.1:{px_port}/v1/chat/completions"
        via = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        for url in (direct, proxy, via):  # warm every path
            await load(url, key, 300, 16)
        rss_idle = gateway_rss(gw_proc)

        results: dict[str, object] = {}
        for conc in (1, 16):
            n = args.requests if conc == 16 else max(300, args.requests // 5)
            results[f"c{conc}"] = await compare(direct, proxy, via, key, n, conc, args.rounds,
                                                gw_proc, px_proc)
        results["goals_c16"] = goals(results["c16"])  # type: ignore[arg-type]
        results["serve_cmd"] = " ".join(["corral", *serve[3:]] if serve[:3] == CORRAL else serve)
        rss_loaded = gateway_rss(gw_proc)
        results["rss_mb"] = {"idle": round(rss_idle / 2**20, 1), "loaded": round(rss_loaded / 2**20, 1),
                             "proxy_loaded": round(gateway_rss(px_proc) / 2**20, 1)}
        results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
        if args.throughput_only:
            return results
        results["limits_and_cache"] = await features_overhead.compare(
            load, via, key, f"http://127.0.0.1:{gw_port}", admin[0], args.requests)

        body_model = orjson.loads(BODY)
        body_model["model"] = "bench-stream"
        global_body = BODY
        stream_direct = await stream_timing(
            f"http://127.0.0.1:{stream_sim_port}/v1/chat/completions", key, 20)
        globals()["BODY"] = orjson.dumps(body_model)
        stream_via = await stream_timing(via, key, 20)
        globals()["BODY"] = global_body
        results["stream"] = {
            "simulator_ttft_ms": 50, "simulator_tokens_per_s": 100,
            "direct_ttft_p50_ms": round(statistics.median(stream_direct["ttft"]) * 1000, 2),
            "corral_ttft_p50_ms": round(statistics.median(stream_via["ttft"]) * 1000, 2),
            "added_ttft_p50_ms": round((statistics.median(stream_via["ttft"])
                                        - statistics.median(stream_direct["ttft"])) * 1000, 2),
            "direct_chunk_gap_p50_ms": round(statistics.median(stream_direct["gaps"]) * 1000, 2),
            "corral_chunk_gap_p50_ms": round(statistics.median(stream_via["gaps"]) * 1000, 2),
            "corral_chunk_gap_p99_ms": round(percentile(stream_via["gaps"], 99) * 1000, 2),
        }
        return results
    finally:
        procs.stop()


def markdown(r: dict) -> str:  # type: ignore[type-arg]
    rows = ["| metric | direct to simulator | minimal proxy | through Corral | Corral / proxy | "
            "Corral / direct or added |", "|---|---|---|---|---|---|"]
    for c in ("c1", "c16"):
        x = r[c]
        rows.append(f"| req/s, concurrency {c[1:]} | {x['direct_rps']} | {x['proxy_rps']} | "
                    f"{x['corral_rps']} | {x['corral_to_proxy_throughput']:.0%} | "
                    f"{x['throughput_ratio']:.0%} |")
        rows.append(f"| p50 latency ms, concurrency {c[1:]} | {x['direct_p50_ms']} | {x['proxy_p50_ms']} | "
                    f"{x['corral_p50_ms']} | | +{x['added_p50_ms']} ms (p99 +{x['added_p99_ms']} ms) |")
        rows.append(f"| CPU s per 1,000 requests, c{c[1:]} | | {x['proxy_cpu_s_per_1000']} | "
                    f"{x['gateway_cpu_s_per_1000']} | {x['corral_to_proxy_cpu_per_request']}x | |")
    rss = f"| gateway RSS MB idle / loaded | | | {r['rss_mb']['idle']} / {r['rss_mb']['loaded']} | | |"
    if "stream" not in r:  # --throughput-only
        return "\n".join([*rows, rss])
    s = r["stream"]
    rows.append(f"| stream TTFT p50 ms (sim TTFT 50 ms) | {s['direct_ttft_p50_ms']} | | "
                f"{s['corral_ttft_p50_ms']} | | +{s['added_ttft_p50_ms']} ms |")
    rows.append(f"| stream chunk gap p50 ms (sim 10 ms) | {s['direct_chunk_gap_p50_ms']} | | "
                f"{s['corral_chunk_gap_p50_ms']} | | p99 {s['corral_chunk_gap_p99_ms']} ms |")
    rows.append(rss)
    for name in features_overhead.CONFIGS:
        f = r["limits_and_cache"][name]
        what = f"{f['limits']} limits" + (" + exact cache" if f["exact_cache"] else "")
        rows.append(f"| req/s c16, no limit or cache option / {what} (`{name}`, median pair ratio) | "
                    f"{statistics.median(f['plain_rps']):.0f} | | "
                    f"{statistics.median(f['limited_rps']):.0f} | | {f['throughput_ratio']:.0%} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per run at concurrency 16")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of direct, proxy, Corral")
    parser.add_argument("--markdown", action="store_true", help="also print the docs table")
    parser.add_argument("--throughput-only", action="store_true",
                        help="only c1 and c16 (skip the limits/cache comparison and the streams): for "
                             "variants that cannot stream, such as serve_variant.py --pipeline direct")
    parser.add_argument("--serve-cmd", help="gateway command instead of `corral serve` (experiments), "
                        "e.g. 'python bench/serve_variant.py --server granian-embed'")
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    print(json.dumps(results, indent=2))
    if args.markdown:
        print(markdown(results))


if __name__ == "__main__":
    main()
