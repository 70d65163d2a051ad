"""What request recording costs the gateway: the same gateway with and without it, same run.

    .venv/bin/python bench/recording_cost.py [--requests 3000] [--rounds 3]

Recording = build the record, price it, update the metrics, and hand it to the
write-behind sink (SQLite here, as on a default install). Issue target: at most 10% of
throughput at concurrency 16.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from gateway_overhead import Processes, free_port, gateway_cpu, load, wait_http
from routing_overhead import config, gateway

PY = sys.executable


async def measure(args: argparse.Namespace) -> dict[str, object]:
    procs = Processes()
    try:
        sim_port = free_port()
        sim = f"http://127.0.0.1:{sim_port}"
        simulate = [PY, "-m", "corral.cli", "simulate", "--port", str(sim_port), "--output-tokens", "16"]
        procs.start(simulate, {})
        await wait_http(sim + "/sim/health")
        cfg = Path(tempfile.mkdtemp(prefix="corral-record-bench-")) / "corral.yaml"
        cfg.write_text(json.dumps(config(sim)))
        on = await gateway(procs, cfg)
        off = await gateway(procs, cfg, "--no-record")
        variants = {"recording": on, "no_recording": off}
        for url, key, _ in variants.values():
            await load(f"{url}/v1/chat/completions", key, 300, 16)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (url, key, proc) in variants.items():
                cpu0 = gateway_cpu(proc)
                r = await load(f"{url}/v1/chat/completions", key, args.requests, 16)
                cpu_per_1000 = (gateway_cpu(proc) - cpu0) / args.requests * 1000
                runs[name].append((float(r["rps"]), cpu_per_1000))  # type: ignore[arg-type]
        best = {name: {"rps": round(max(x[0] for x in v), 1),
                       "cpu_s_per_1000": round(min(x[1] for x in v), 3)} for name, v in runs.items()}
        ratio = best["recording"]["rps"] / best["no_recording"]["rps"]
        cpu = best["recording"]["cpu_s_per_1000"] / best["no_recording"]["cpu_s_per_1000"]
        return {**best, "throughput_ratio": round(ratio, 3), "throughput_cost": round(1 - ratio, 3),
                "gateway_cpu_ratio": round(cpu, 3),
                "target_max_cost": 0.10, "requests_per_run": args.requests, "rounds": args.rounds}
    finally:
        procs.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(asyncio.run(measure(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
