"""What the local coordinator costs a request: one gateway process on its own memory against one
on a coordinator, and (``--baseline DIR``) one on a coordinator from another tree, same run.

Starts the simulator (zero latency) and `corral serve --workers 1` gateways on fresh SQLite
homes, each with a requests-per-minute limit on its key far above the load (a reserve on every
request, as bench/workers_scaling.py has; ``--limit tpm``: tokens per minute, so each request
also settles the tokens it used; ``--limit none``: the default configuration), each
coordinated one with a coordinator process of its own (as the supervisor of `--workers N`
hosts it):

- ``in_process``: the gateway's own memory (no coordinator);
- ``coordinated``: the gateway and its coordinator;
- with ``--baseline DIR`` (a tree holding the ``corral`` package as it was, e.g.
  ``git archive HEAD~1 corral | tar -x -C /tmp/base``), the same two from that code:
  ``in_process_baseline`` and ``coordinated_baseline``.

``--tree DIR`` measures the code of another tree than this one (a copy holding only the
change measured, when other work in progress shares this one).

Rounds of ``--requests`` non-streamed chat requests at concurrency 64 go to each in turn, the
order rotating every round (the machine may be shared: alternating spreads its noise). CPU
is read from /proc (psutil): the gateway process plus its coordinator. Prints one JSON
document: CPU per request of each (pooled, and each round's), ratios to ``in_process`` and to
the baseline, and the coordinator operations per request this tree's coordinator counted
(``nowait``: sent without an answer).

    .venv/bin/python bench/coordinator_cost.py [--requests 3000] [--rounds 6] [--limit rpm|tpm|none]
        [--baseline DIR] [--tree DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from gateway_overhead import CORRAL, ROOT, free_port, gateway_cpu, load, read_keys, wait_http
from processes import stop_all

from corral.store.coordinated import ENV_COORDINATOR, CoordinatedKV

CONCURRENCY = 64
COORDINATOR = """
import asyncio, sys
from corral.cache.memory import BoundedMemoryStore
from corral.store.coordinator import Coordinator, serve_coordinator
async def main():
    await serve_coordinator(Coordinator(BoundedMemoryStore()), sys.argv[1])
    print("ready", flush=True)
    await asyncio.Event().wait()
import uvloop
uvloop.run(main())
"""


class Gateway:
    """One `corral serve --workers 1`, on its own coordinator when ``tree`` says which code."""

    def __init__(self, name: str, tree: Path, coordinated: bool, counts: bool, limit: str) -> None:
        self.name, self.tree, self.coordinated, self.counts = name, tree, coordinated, counts
        self.limit = limit  # rpm: one reserve a request; tpm: and a settlement; none: neither
        self.procs: list[subprocess.Popen[bytes]] = []
        self.socket: str | None = None

    def _start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, env={**os.environ, **env}, cwd=self.tree,  # `-m`: the tree's code
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def launch(self, home: Path, sim_port: int) -> int:
        """Start the coordinator (if any) and the gateway; the gateway's port."""
        home.mkdir()
        env = {"CORRAL_HOME": str(home)}
        if self.coordinated:
            self.socket = str(Path(tempfile.mkdtemp(prefix="corral-coord-")) / "c.sock")
            coordinator = self._start([sys.executable, "-c", COORDINATOR, self.socket], {})
            assert coordinator.stdout is not None
            coordinator.stdout.readline()  # "ready"
            self.coordinator = psutil.Process(coordinator.pid)
            env[ENV_COORDINATOR] = self.socket
        port = free_port()
        config = home / "corral.yaml"
        config.write_text(json.dumps({
            "providers": {"sim": {"type": "openai", "base_url": f"http://127.0.0.1:{sim_port}/v1"}},
            "models": {"bench": {"deployments": [{"provider": "sim", "model": "bench"}]}},
            **({} if self.limit == "none" else  # else reserved on every request, never binding
               {"limits": {"keys": {"default": {self.limit: 100_000_000_000}}}}),
        }))
        gw = self._start([*CORRAL, "serve", "--workers", "1", "--config", str(config), "--port", str(port),
                          "--log-level", "warning"], env)
        self.key = read_keys(gw)
        self.proc = psutil.Process(gw.pid)
        self.url = f"http://127.0.0.1:{port}/v1/chat/completions"
        return port

    async def start(self, home: Path, sim_port: int) -> None:
        port = await asyncio.to_thread(self.launch, home, sim_port)
        await wait_http(f"http://127.0.0.1:{port}/healthz")

    def cpu(self) -> tuple[float, float]:
        """(gateway + coordinator CPU seconds, the coordinator's alone)."""
        if not self.coordinated:
            return gateway_cpu(self.proc), 0.0
        mine = sum(self.coordinator.cpu_times()[:2])
        return gateway_cpu(self.proc) + mine, mine

    async def served(self) -> dict[str, int]:
        """Operations this tree's coordinator ran (a baseline coordinator may not count them)."""
        if self.socket is None or not self.counts:
            return {}
        kv = CoordinatedKV(self.socket)
        try:
            return await kv.served()
        finally:
            await kv.close()

    def stop(self) -> None:
        stop_all(self.procs, grace_s=10)
        if self.socket:
            shutil.rmtree(os.path.dirname(self.socket), ignore_errors=True)


def simulator(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*CORRAL, "simulate", "--port", str(port), "--output-tokens", "16"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="corral-coordcost-"))
    tree: Path = args.tree
    gateways = [Gateway("in_process", tree, False, True, args.limit),
                Gateway("coordinated", tree, True, True, args.limit)]
    if args.baseline:
        base: Path = args.baseline
        gateways += [Gateway("in_process_baseline", base, False, False, args.limit),
                     Gateway("coordinated_baseline", base, True, False, args.limit)]
    sim_port = free_port()
    sim = simulator(sim_port)
    try:
        await wait_http(f"http://127.0.0.1:{sim_port}/v1/models")
        for gw in gateways:
            await gw.start(root / gw.name, sim_port)
            await load(gw.url, gw.key, 1000, CONCURRENCY)  # warm
        rows: dict[str, list[dict[str, float]]] = {gw.name: [] for gw in gateways}
        ops: dict[str, int] = {}
        for round_ in range(args.rounds):
            for gw in gateways[round_ % len(gateways):] + gateways[:round_ % len(gateways)]:
                served = await gw.served()
                cpu, coord = gw.cpu()
                t0 = time.perf_counter()
                result = await load(gw.url, gw.key, args.requests, CONCURRENCY)
                wall = time.perf_counter() - t0
                cpu2, coord2 = gw.cpu()
                rows[gw.name].append({"cpu_s": cpu2 - cpu, "coordinator_cpu_s": coord2 - coord,
                                      "wall_s": wall, "errors": float(result["errors"])})  # type: ignore[arg-type]
                for op, n in (await gw.served()).items():
                    ops[op] = ops.get(op, 0) + n - served.get(op, 0)
        out: dict[str, Any] = {"requests_per_round": args.requests, "rounds": args.rounds,
                               "concurrency": CONCURRENCY, "limit": args.limit}
        for name, runs in rows.items():
            n = args.requests * len(runs)
            per = [r["cpu_s"] / args.requests * 1000 for r in runs]
            out[name] = {
                "cpu_ms_per_request": round(sum(r["cpu_s"] for r in runs) / n * 1000, 4),
                "cpu_ms_per_request_rounds": [round(p, 4) for p in per],
                "cpu_ms_per_request_median": round(statistics.median(per), 4),
                "coordinator_cpu_ms_per_request": round(
                    sum(r["coordinator_cpu_s"] for r in runs) / n * 1000, 4),
                "rps": round(n / sum(r["wall_s"] for r in runs), 1),
                "errors": int(sum(r["errors"] for r in runs)),
            }
        def ratio(a: str, b: str) -> float:
            return round(out[a]["cpu_ms_per_request"] / out[b]["cpu_ms_per_request"], 3)

        out["cpu_ratios"] = {"coordinated_vs_in_process": ratio("coordinated", "in_process")}
        if args.baseline:
            out["cpu_ratios"].update({
                "coordinated_baseline_vs_in_process_baseline": ratio("coordinated_baseline",
                                                                     "in_process_baseline"),
                "coordinated_vs_coordinated_baseline": ratio("coordinated", "coordinated_baseline"),
                "in_process_vs_in_process_baseline": ratio("in_process", "in_process_baseline")})
        total = args.requests * args.rounds
        out["coordinator_ops_per_request"] = {op: round(n / total, 3) for op, n in sorted(ops.items())}
        out["machine"] = {"cpus": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
                          "python": sys.version.split()[0]}
        return out
    finally:
        for gw in gateways:
            gw.stop()
        stop_all([sim], grace_s=5)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per gateway per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--baseline", help="a tree holding the corral package to compare with")
    parser.add_argument("--limit", choices=["rpm", "tpm", "none"], default="rpm",
                        help="the key's limit (tpm: each request also settles its tokens; none: the default "
                             "configuration, no limit)")
    parser.add_argument("--tree", help="a tree holding the corral package to measure (default: this one)")
    args = parser.parse_args()
    args.tree = Path(os.path.abspath(args.tree)) if args.tree else ROOT
    args.baseline = Path(os.path.abspath(args.baseline)) if args.baseline else None
    import uvloop

    print(json.dumps(uvloop.run(measure(args)), indent=2))


if __name__ == "__main__":
    main()
