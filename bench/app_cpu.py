"""CPU per chat request inside the ASGI app (no sockets), this tree against another, same run.

    .venv/bin/python bench/app_cpu.py --baseline-tree /tmp/before [--rounds 3] [--requests 4000]

`--baseline-tree` is a checkout of another commit (`git worktree add /tmp/before REV`). Each
round measures both trees once, alternately, each in a fresh process that imports the tree's
own `corral`; medians over the rounds and their ratio are printed as JSON. The provider is the
in-process fake from tests/fakes.py (an instant answer), so what is measured is the gateway's
own work: parsing, authentication, the pipeline's stages, the router and the record. The
record sink's writer thread counts too (process CPU time), which makes single runs noisy:
use the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


async def _measure(n: int, stream: bool) -> float:
    """Process CPU seconds per request for `n` requests (after 300 to warm up)."""
    sys.path.insert(0, str(Path.cwd()))
    from inprocess import chat_body, chat_scope, serve_one

    from corral.api.app import create_app
    from corral.gateway import Gateway
    from tests.conftest import fake_settings  # registers the fake provider type

    settings = fake_settings(Path(tempfile.mkdtemp()))
    gateway = await Gateway.start(settings, warmup=False)
    app = create_app(settings, gateway=gateway)
    app.state.gateway = gateway
    body = chat_body(stream)
    scope = chat_scope(gateway.bootstrap.default_key, body)

    async def one() -> None:
        await serve_one(app, scope, body)

    for _ in range(300):
        await one()
    start = time.process_time()
    for _ in range(n):
        await one()
    spent = time.process_time() - start
    await gateway.stop()
    return spent / n


def _child(n: int) -> None:
    import uvloop

    out = {kind: uvloop.run(_measure(n, kind == "stream")) * 1e6 for kind in ("plain", "stream")}
    print(json.dumps(out))


def _run(tree: Path, n: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--requests", str(n)],
                          cwd=tree, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-tree", type=Path, required=False)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.requests)
        return
    trees = {"this": ROOT, **({"baseline": args.baseline_tree.resolve()} if args.baseline_tree else {})}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(_run(tree, args.requests))
    medians = {name: {kind: round(statistics.median(r[kind] for r in rs), 1) for kind in ("plain", "stream")}
               for name, rs in runs.items()}
    report: dict[str, Any] = {"cpu_us_per_request_median": medians, "rounds": args.rounds,
                              "requests": args.requests}
    if "baseline" in medians:
        report["ratio_this_to_baseline"] = {
            kind: round(medians["this"][kind] / medians["baseline"][kind], 3) for kind in ("plain", "stream")}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
