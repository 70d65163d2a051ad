"""The routing layer's cost on the happy path, and the error rate it leaves under failures.

    .venv/bin/python bench/routing_overhead.py [--requests 3000] [--markdown]

Part 1 (same run, same simulator): the gateway with its full pipeline (stages, router,
breakers, retry budget) versus the same gateway whose pipeline is a bare call to the
route's first deployment (`bench/serve_variant.py --pipeline direct`). Reported as a ratio.

Part 2: client-visible error rate when the simulator fails 20% of upstream calls, for
(a) a route whose primary deployment fails 20% with one healthy fallback deployment, and
(b) a route whose two deployments both fail 20%; the same load sent straight to the
simulator gives the baseline (about 20%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

import aiohttp
import psutil
from gateway_overhead import Processes, free_port, gateway_cpu, load, read_keys, wait_http

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


async def put_faults(sim: str, rules: list[dict[str, object]]) -> None:
    async with aiohttp.ClientSession() as s, s.put(f"{sim}/sim/faults", json=rules) as r:
        r.raise_for_status()


def config(sim: str) -> dict[str, object]:
    dep = {"provider": "sim"}
    return {
        "providers": {"sim": {"type": "openai", "base_url": f"{sim}/v1"}},
        "models": {
            "bench": {"deployments": [{**dep, "model": "bench"}]},
            "primary-fails": {"deployments": [{**dep, "model": "primary", "priority": 0},
                                              {**dep, "model": "backup", "priority": 1}],
                              "cache_fallback": False},
            "both-fail": {"deployments": [{**dep, "model": "primary-b"}, {**dep, "model": "backup-b"}],
                          "cache_fallback": False},
        },
    }


async def gateway(procs: Processes, cfg: Path, *variant: str) -> tuple[str, str, psutil.Process]:
    """A gateway variant with its own state directory (so it prints its own first-start key)."""
    home = tempfile.mkdtemp(prefix="corral-variant-")
    port = free_port()
    proc = procs.start([PY, str(ROOT / "bench/serve_variant.py"), "--config", str(cfg), "--port", str(port),
                        *variant], {"CORRAL_HOME": home})
    key = read_keys(proc)
    url = f"http://127.0.0.1:{port}"
    await wait_http(url + "/healthz")
    return url, key, psutil.Process(proc.pid)


async def error_rate(url: str, key: str, model: str, n: int) -> float:
    result = await load(f"{url}/v1/chat/completions", key, n, 16, model=model)
    return result["errors"] / n  # type: ignore[operator]


async def measure(args: argparse.Namespace) -> dict[str, object]:
    procs = Processes()
    try:
        sim_port = free_port()
        sim = f"http://127.0.0.1:{sim_port}"
        procs.start([PY, "-m", "corral.cli", "simulate", "--port", str(sim_port), "--output-tokens", "16",
                     "--retry-after-s", "0"], {})
        await wait_http(sim + "/sim/health")
        cfg = Path(tempfile.mkdtemp(prefix="corral-routing-bench-")) / "corral.yaml"
        cfg.write_text(json.dumps(config(sim)))
        full_url, key, full_proc = await gateway(procs, cfg, "--pipeline", "full")
        direct_url, direct_key, direct_proc = await gateway(procs, cfg, "--pipeline", "direct")
        keys = {full_url: key, direct_url: direct_key}
        for url in (full_url, direct_url):
            await load(f"{url}/v1/chat/completions", keys[url], 300, 16)  # warm up
        runs: dict[str, list[dict[str, float]]] = {"full": [], "direct": []}
        for _ in range(args.rounds):  # alternate so drift hits both alike
            for name, url, proc in (("direct", direct_url, direct_proc), ("full", full_url, full_proc)):
                cpu0 = gateway_cpu(proc)
                r = await load(f"{url}/v1/chat/completions", keys[url], args.requests, 16)
                runs[name].append({"rps": r["rps"], "cpu_per_1000": (gateway_cpu(proc) - cpu0)
                                   / args.requests * 1000})  # type: ignore[operator]
        summary = {name: {"rps": round(max(x["rps"] for x in v), 1),
                          "cpu_s_per_1000": round(min(x["cpu_per_1000"] for x in v), 3)}
                   for name, v in runs.items()}
        full, direct = summary["full"], summary["direct"]
        happy = {**summary, "throughput_ratio": round(full["rps"] / direct["rps"], 3),
                 "added_cpu_ms_per_request": round(full["cpu_s_per_1000"] - direct["cpu_s_per_1000"], 3)}

        await put_faults(sim, [{"fault": "server_error", "model": "primary*", "probability": 0.2}])
        n = args.failure_requests
        direct_errors = (await load(f"{sim}/v1/chat/completions", key, n, 16, model="primary"))["errors"]
        failures = {
            "injected_failure_rate": 0.2,
            "direct_to_simulator_error_rate": round(direct_errors / n, 4),  # type: ignore[operator]
            "primary_fails_one_healthy_fallback_error_rate":
                await error_rate(full_url, key, "primary-fails", n),
        }
        await put_faults(sim, [{"fault": "server_error", "model": "*-b", "probability": 0.2}])
        failures["both_deployments_fail_error_rate"] = await error_rate(full_url, key, "both-fail", n)
        failures["requests_per_scenario"] = n
        return {"happy_path": happy, "failures": failures}
    finally:
        procs.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per happy-path run (c16)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--failure-requests", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args)), indent=2))


if __name__ == "__main__":
    main()
