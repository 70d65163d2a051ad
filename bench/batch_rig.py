"""What bench/batch_throughput.py and bench/batch_interference.py share: the simulator and
Corral as separate processes, a batch submitted through the official openai SDK, and what
the jobs table says about how its lines ran.

Processes write to log files in the run's directory rather than to pipes: a gateway that
logs more than a pipe holds would stall, and the stall would be measured as Corral's.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
from gateway_overhead import Processes, free_port, wait_http
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corral.store.db import Database  # noqa: E402
from corral.store.schema import jobs  # noqa: E402

CORRAL = [sys.executable, "-m", "corral.cli"]
MODEL = "bench"
PG_URL = os.environ.get("CORRAL_TEST_PG_URL") or "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Rig:
    """One run's processes and where they write; `stop()` ends every process it started."""

    home: Path
    running: Processes = field(default_factory=Processes)

    @property
    def procs(self) -> list[subprocess.Popen[bytes]]:
        return self.running.procs

    def start(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.home / log_name).open("ab")
        proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "SIM_KEY": "unused"})
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        self.running.stop()
        self.procs.clear()

    async def simulator(self, latency_ms: float) -> str:
        port = free_port()
        self.start([*CORRAL, "simulate", "--port", str(port), "--latency-ms", str(latency_ms),
                    "--output-tokens", "16"], "simulator.log")
        await wait_http(f"http://127.0.0.1:{port}/sim/health")
        return f"http://127.0.0.1:{port}"

    def config(self, sim_url: str, db_url: str, *, jobs_: dict[str, Any], batches: dict[str, Any]) -> Path:
        path = self.home / "corral.yaml"
        path.write_text(json.dumps({
            "home": str(self.home), "database_url": db_url,
            "providers": {"sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}},
            "models": {MODEL: {"deployments": [{"provider": "sim", "model": MODEL}]}},
            "jobs": jobs_, "batches": batches,
        }))
        return path

    async def gateway(self, config: Path, *, worker: bool = True) -> tuple[str, str]:
        """Start `corral serve` on a fresh database; its URL and the first start's app key."""
        port = free_port()
        self.start([*CORRAL, "serve", "--workers", "1", "-c", str(config), "--port", str(port),
                    "--log-level", "warning", *([] if worker else ["--no-worker"])], "serve.log")
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/healthz")
        for line in (self.home / "serve.log").read_text().splitlines():
            if "application key" in line:
                return url, line.split()[-1]
        raise RuntimeError("corral serve printed no application key")

    async def worker(self, config: Path, n: int) -> None:
        """Start `corral worker` and return once it runs (it says so), so no worker joins late."""
        proc = self.start([*CORRAL, "worker", "-c", str(config), "--log-level", "warning"], f"worker{n}.log")
        log = self.home / f"worker{n}.log"
        deadline = time.monotonic() + 60
        while "corral worker" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"corral worker did not start: {log.read_text()}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def pg_schema() -> AsyncIterator[str | None]:
    """A scratch PostgreSQL schema's URL (dropped afterwards); None when unreachable."""
    schema = f"corral_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await Database.connect(PG_URL)
    except (OSError, ConnectionError):
        yield None
        return
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def batch_file(n: int, prefix: str = "line") -> io.BytesIO:
    lines = [{"custom_id": f"{prefix}-{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": MODEL, "max_tokens": 16,
                       "messages": [{"role": "user", "content": f"Summarise item {i} in five words."}]}}
             for i in range(n)]
    return io.BytesIO(b"".join(orjson.dumps(line) + b"\n" for line in lines))


async def submit(client: openai.AsyncOpenAI, n: int) -> str:
    uploaded = await client.files.create(file=("bench.jsonl", batch_file(n)), purpose="batch")
    batch = await client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                        completion_window="24h")
    return batch.id


async def wait_for(client: openai.AsyncOpenAI, batch_id: str, done: Any, *, every_s: float = 0.1,
                   timeout_s: float = 600) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        batch = await client.batches.retrieve(batch_id)
        if done(batch):
            return batch
        if time.monotonic() > deadline:
            raise RuntimeError(f"batch {batch_id} stuck: {batch.status} {batch.request_counts}")
        await asyncio.sleep(every_s)


def finished(batch: Any) -> bool:
    return batch.status in ("completed", "failed", "expired", "cancelled")


async def answered_once(client: openai.AsyncOpenAI, batch: Any, n: int) -> bool:
    """Every line's custom_id exactly once in the output file, and no error file."""
    if batch.error_file_id is not None or batch.output_file_id is None:
        return False
    output = (await client.files.content(batch.output_file_id)).read().splitlines()
    ids = Counter(orjson.loads(line)["custom_id"] for line in output)
    return len(ids) == n and set(ids.values()) == {1}


async def items(db_url: str, batch_id: str) -> dict[str, Any]:
    """How the batch's lines ran: the span from the first claim to the last result, lines per
    worker (`lease_owner` stays on a finished job), and lines that took more than one attempt."""
    db = await Database.connect(db_url)
    try:
        rows = await db.fetch_all(select(jobs.c.lease_owner, jobs.c.attempts, jobs.c.started_at,
                                         jobs.c.finished_at).where(jobs.c.parent_id == batch_id,
                                                                   jobs.c.kind == "batch_item"))
    finally:
        await db.close()
    span = (max(r["finished_at"] for r in rows) - min(r["started_at"] for r in rows)).total_seconds()
    owners = Counter(str(r["lease_owner"]).split(":")[1] for r in rows)  # host:pid:nonce -> pid
    return {"lines": len(rows), "span_s": round(span, 3), "lines_per_s": round(len(rows) / span, 2),
            "per_worker_pid": dict(owners), "retried": sum(1 for r in rows if r["attempts"] > 1)}


async def sim_requests(sim_url: str) -> int:
    """Chat requests the simulator has received for the bench model since its last reset."""
    async with aiohttp.ClientSession() as s, s.get(f"{sim_url}/sim/stats") as r:
        return int((await r.json())["models"].get(MODEL, 0))


async def sim_reset(sim_url: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{sim_url}/sim/reset") as r:
        r.raise_for_status()
