"""What each part of the chat pipeline costs: CPU per request with it and without it, same run.

    .venv/bin/python bench/stage_cost.py [--requests 3000] [--rounds 5]

Builds the gateway in process (the fake provider from tests/fakes.py: an instant answer, no
sockets) with the default configuration, and serves the same chat request through the ASGI
app under variants: everything (`full`), the pipeline without one stage (`-cache`, ...),
without any stage (`no stages`), the router replaced by a bare call to the route's first
deployment (`no router`), and without the record (`no record`: no row, metrics or spans).
Variants alternate for `--rounds` rounds; each prints the median CPU microseconds per request
and its difference from `full`: the marginal cost of the part taken out. Two clocks: the event
loop's thread alone, and the process (the record writer's SQLite thread too; each variant's
rows are flushed inside its own window). What is left with everything taken out (`bare`) is
the edge: authentication, parsing, the lifecycle's shell and rendering. On this 2-core VM a
single stage's marginal cost (a few microseconds) is inside the run-to-run spread of about
20 us; the router, the record and `bare` stand well outside it.

Why: bench/gateway_overhead.py shows Corral at 2.2-2.5x the minimal proxy's CPU per
request, and the same server and client without the pipeline and the record at 1.1-1.2x.
This splits the difference by part.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inprocess import chat_body, chat_scope, direct_call, serve_one  # noqa: E402


async def measure(requests: int, rounds: int) -> dict[str, Any]:
    from corral.api.app import create_app
    from corral.core.pipeline import Pipeline
    from corral.gateway import Gateway
    from tests.conftest import fake_settings  # registers the fake provider type

    settings = fake_settings(Path(tempfile.mkdtemp()))
    gateway = await Gateway.start(settings, warmup=False, run_jobs=False)  # no job worker on the file
    app = create_app(settings, gateway=gateway)
    app.state.gateway = gateway
    body = chat_body()
    scope = chat_scope(gateway.bootstrap.default_key, body)

    full = gateway.lifecycle.pipeline
    stages = list(full.stages)
    router = gateway.router
    finish = gateway.recorder.finish
    variants: dict[str, tuple[Any, bool]] = {"full": (full, True)}
    for stage in stages:
        variants[f"-{stage.name}"] = (Pipeline([s for s in stages if s is not stage], router), True)
    variants["no stages"] = (Pipeline([], router), True)
    variants["no router"] = (Pipeline(stages, direct_call(gateway)), True)
    variants["no record"] = (full, False)
    variants["bare"] = (Pipeline([], direct_call(gateway)), False)

    async def run(name: str, n: int) -> float:
        pipeline, record = variants[name]
        gateway.lifecycle.pipeline = gateway.pipeline = pipeline
        gateway.recorder.finish = finish if record else (lambda *a, **k: None)
        start, loop_start = time.process_time(), time.thread_time()
        for _ in range(n):
            await serve_one(app, scope, body)
        await gateway.recorder.sink.flush()  # this variant's rows written within its own window
        return ((time.process_time() - start) / n * 1e6, (time.thread_time() - loop_start) / n * 1e6)

    for name in variants:  # warm every path
        await run(name, 300)
    spent: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name in variants:
            spent[name].append(await run(name, requests))
    await gateway.stop()
    process = {name: round(statistics.median(p for p, _ in v), 1) for name, v in spent.items()}
    loop = {name: round(statistics.median(t for _, t in v), 1) for name, v in spent.items()}
    return {"requests": requests, "rounds": rounds, "stages": [s.name for s in stages],
            "process_cpu_us_per_request": process, "loop_thread_cpu_us_per_request": loop,
            "marginal_loop_us": {name: round(loop["full"] - v, 1)
                                 for name, v in loop.items() if name != "full"},
            "marginal_process_us": {name: round(process["full"] - v, 1)
                                    for name, v in process.items() if name != "full"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import uvloop

    print(json.dumps(uvloop.run(measure(args.requests, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
