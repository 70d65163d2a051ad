"""Corral against LiteLLM's proxy: the same simulator, the same load, the same run.

    .venv/bin/python bench/peers/litellm_peer.py --install      # once: bench/peers/.venv-litellm
    .venv/bin/python bench/peers/litellm_peer.py [--requests 1000] [--streams 320] [--rounds 2]

Why a peer and not only a baseline: "Corral / direct" says what a gateway costs, not whether
that cost is reasonable; the widely used Python gateway, run on the same machine against the
same upstream with the same client, is the comparison a user makes. LiteLLM lives in its own
virtual environment (pinned in requirements-litellm.txt; MIT outside its enterprise/ folder,
which this bench does not use) and is never a dependency of Corral.

Both gateways run as one process each: `corral serve --workers 1` (when the CLI has
`--workers`) with its default configuration (request recording on), and `litellm --num_workers 1`
with litellm_config.yaml (no database, no callbacks, no cache, a master key). LiteLLM runs
offline: the LITELLM_LOCAL_* variables make it read its bundled cost map and header lists
instead of fetching them at start-up, and telemetry is vetoed; the JSON reports how many
network-fetch warnings its log shows (0 expected).

Load: bench/gateway_overhead.py's aiohttp generator, concurrency 16 and 64, non-streamed (the
simulator answers at once with 16 tokens) and streamed (TTFT 50 ms, then 100 tokens/s, 20
tokens), the two gateways alternating for `--rounds` rounds. Reports requests/s (median of the
rounds), latency p50/p99, CPU per request (user+system of the server process tree, from
/proc/<pid>/stat through psutil), for streams time to first token and the gaps between content
chunks (p50/p99), each with the ratio Corral / LiteLLM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from gateway_overhead import (  # noqa: E402  (bench/ is not a package)
    CORRAL,
    ROOT,
    gateway_cpu,
    gateway_rss,
    load,
    percentile,
    serve_command,
    wait_http,
)
from gateway_overhead import free_port as _free_port  # noqa: E402

VENV = HERE / ".venv-litellm"
REQUIREMENTS = HERE / "requirements-litellm.txt"
CONFIG = HERE / "litellm_config.yaml"
MASTER_KEY = "sk-bench-peer"
# Offline, quiet, no telemetry: nothing LiteLLM does at start-up or per request leaves the machine.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True", "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True", "LITELLM_TELEMETRY": "False",
    "LITELLM_TELEMETRY_DISABLED": "True", "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": MASTER_KEY,
}
NETWORK_WARNINGS = (b"fetch", b"ConnectError", b"Name or service not known")
PROMPT = [{"role": "user", "content": "Say hello in five words."}]


def install() -> None:
    """Create bench/peers/.venv-litellm and install the pinned LiteLLM proxy into it."""
    if not (VENV / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
                   check=True)
    print(f"LiteLLM {litellm_version()} installed in {VENV}")


async def stream_load(url: str, key: str, n: int, concurrency: int) -> dict[str, Any]:
    """n streamed requests by `concurrency` workers: throughput, latency, TTFT and chunk gaps."""
    body = orjson.dumps({"model": "bench-stream", "stream": True, "messages": PROMPT, "max_tokens": 32})
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    ttft: list[float] = []
    gaps: list[float] = []
    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal errors
            for _ in counter:
                t0 = time.perf_counter()
                last: float | None = None
                done = False
                async with session.post(url, data=body, headers=headers) as r:
                    async for line in r.content:
                        if line.startswith(b"data: [DONE]"):
                            done = True
                        # a non-empty content delta (both gateways write compact JSON); matching
                        # bytes, not parsing, keeps the client cheap at c64 on a 2-core machine
                        elif b'"content":"' in line and b'"content":""' not in line:
                            now = time.perf_counter()
                            if last is None:
                                ttft.append(now - t0)
                            else:
                                gaps.append(now - last)
                            last = now
                    errors += r.status != 200 or not done
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"rps": n / elapsed, "latencies": latencies, "ttft": ttft, "gaps": gaps, "errors": errors}


def start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A server process whose output goes to a file (a full pipe would stall it)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.Popen(args, cwd=ROOT, env={**clean, **env}, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


def banner_key(proc: subprocess.Popen[bytes], log: Path) -> str:
    """The application key from `corral serve`'s first-start banner."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "application key" in line:
                return line.split()[-1]
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"corral serve printed no application key:\n{log.read_text(errors='replace')}")


def _ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 2) if values else float("nan")


def summarise(runs: list[dict[str, Any]], cpu_s: float, stream: bool) -> dict[str, float]:
    """One gateway's rounds of one scenario: median req/s, pooled percentiles, CPU per request."""
    keys = ("latencies", "ttft", "gaps") if stream else ("latencies",)
    pooled = {k: [v for r in runs for v in r[k]] for k in keys}
    n = sum(len(r["latencies"]) for r in runs)
    out = {"rps": round(statistics.median(r["rps"] for r in runs), 1),
           "p50_ms": _ms(pooled["latencies"], 50), "p99_ms": _ms(pooled["latencies"], 99),
           "cpu_ms_per_request": round(cpu_s / n * 1000, 3), "errors": sum(r["errors"] for r in runs)}
    if stream:
        out |= {"ttft_p50_ms": _ms(pooled["ttft"], 50), "ttft_p99_ms": _ms(pooled["ttft"], 99),
                "chunk_gap_p50_ms": _ms(pooled["gaps"], 50), "chunk_gap_p99_ms": _ms(pooled["gaps"], 99)}
    return out


def ratios(corral: dict[str, float], litellm: dict[str, float]) -> dict[str, float]:
    """Corral / LiteLLM for every figure (throughput: higher is better; the rest: lower is)."""
    return {k: round(corral[k] / litellm[k], 3) for k in corral if k != "errors" and litellm[k]}


async def scenario(targets: dict[str, tuple[str, str, psutil.Process]], stream: bool, n: int, conc: int,
                   rounds: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    cpu = dict.fromkeys(targets, 0.0)
    for i in range(rounds):
        order = list(targets) if i % 2 == 0 else list(reversed(targets))  # neither always goes first
        for name in order:
            url, key, proc = targets[name]
            cpu0 = gateway_cpu(proc)
            run = await stream_load(url, key, n, conc) if stream else await load(url, key, n, conc)
            runs[name].append(run)
            cpu[name] += gateway_cpu(proc) - cpu0
    result: dict[str, Any] = {"requests_per_round": n, "rounds": rounds}
    result |= {name: summarise(runs[name], cpu[name], stream) for name in targets}
    result["corral_to_litellm"] = ratios(result["corral"], result["litellm"])
    return result


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="corral-peer-"))
    sim, stream_sim, gw_port, ll_port = (_free_port() for _ in range(4))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start([*CORRAL, "simulate", "--port", str(sim), "--output-tokens", "16"],
                           home / "sim.log", {}))
        procs.append(start([*CORRAL, "simulate", "--port", str(stream_sim), "--output-tokens", "20", "--tps",
                            "100", "--ttft-ms", "50"], home / "stream-sim.log", {}))
        config = home / "corral.yaml"
        config.write_text(json.dumps({
            "providers": {"sim": {"type": "openai", "base_url": f"http://127.0.0.1:{sim}/v1"},
                          "simstream": {"type": "openai", "base_url": f"http://127.0.0.1:{stream_sim}/v1"}},
            "models": {"bench": {"deployments": [{"provider": "sim", "model": "bench"}]},
                       "bench-stream": {"deployments": [{"provider": "simstream", "model": "bench"}]}}}))
        gw_log = home / "corral.log"
        gw = start([*serve_command(), "--config", str(config), "--port", str(gw_port),
                    "--log-level", "warning"], gw_log, {"CORRAL_HOME": str(home)})
        procs.append(gw)
        ll_log = home / "litellm.log"
        ll = start([str(VENV / "bin" / "litellm"), "--config", str(CONFIG), "--host", "127.0.0.1", "--port",
                    str(ll_port), "--num_workers", "1"], ll_log,
                   {**LITELLM_ENV, "PEER_SIM_BASE": f"http://127.0.0.1:{sim}/v1",
                    "PEER_STREAM_SIM_BASE": f"http://127.0.0.1:{stream_sim}/v1"})
        procs.append(ll)
        key = banner_key(gw, gw_log)
        for url in (f"http://127.0.0.1:{sim}/v1/models", f"http://127.0.0.1:{stream_sim}/v1/models",
                    f"http://127.0.0.1:{gw_port}/healthz"):
            await wait_http(url)
        await wait_http(f"http://127.0.0.1:{ll_port}/health/liveliness", within_s=180)
        path = "/v1/chat/completions"
        targets = {"corral": (f"http://127.0.0.1:{gw_port}{path}", key, psutil.Process(gw.pid)),
                   "litellm": (f"http://127.0.0.1:{ll_port}{path}", MASTER_KEY, psutil.Process(ll.pid))}
        for url, k, _ in targets.values():  # warm both: imports, pools, first-request caches
            await load(url, k, 200, 16)
            await stream_load(url, k, 32, 16)
        results: dict[str, Any] = {}
        for conc in (16, 64):
            results[f"chat_c{conc}"] = await scenario(targets, False, args.requests, conc, args.rounds)
        for conc in (16, 64):
            results[f"stream_c{conc}"] = await scenario(targets, True, args.streams, conc, args.rounds)
        results["rss_mb_after"] = {name: round(gateway_rss(proc) / 2**20, 1)
                                   for name, (_, _, proc) in targets.items()}
        results["setup"] = {
            "corral": " ".join(["corral", *serve_command()[3:]]) + " (default configuration, recording on)",
            "litellm": f"litellm {litellm_version()} --num_workers 1 (no database, no callbacks)",
            "litellm_network_warnings": sum(ll_log.read_bytes().count(w) for w in NETWORK_WARNINGS),
            "simulator": {"chat": "0 ms, 16 tokens", "stream": "TTFT 50 ms, 100 tokens/s, 20 tokens"},
            "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
                        "python": sys.version.split()[0]}}
        return results
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def litellm_version() -> str:
    return subprocess.run([str(VENV / "bin" / "python"), "-c",
                           "import importlib.metadata as m; print(m.version('litellm'))"],
                          capture_output=True, text=True).stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--install", action="store_true", help="create .venv-litellm and install LiteLLM")
    parser.add_argument("--requests", type=int, default=1000, help="non-streamed requests per round")
    parser.add_argument("--streams", type=int, default=320, help="streamed requests per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per scenario")
    args = parser.parse_args()
    if args.install:
        install()
        return
    if not (VENV / "bin" / "litellm").exists():
        sys.exit(f"LiteLLM is not installed: run {Path(__file__).name} --install first")
    print(json.dumps(asyncio.run(measure(args)), indent=2))


if __name__ == "__main__":
    main()
