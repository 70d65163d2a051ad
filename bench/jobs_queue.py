"""Throughput of the durable job queue (corral.jobs) on SQLite and PostgreSQL.

    .venv/bin/python bench/jobs_queue.py [--jobs 2000] [--pg postgresql://postgres@127.0.0.1:5432/test]

For each backend: enqueueing a batch's items in one call (items/s), then draining the same
number of jobs with instant handlers through one worker and through two workers on separate
connection pools (jobs/s, and how many jobs ran more than once: must be 0). What is measured
is the queue's own cost per job (claim, lease, outcome), the floor under any batch's pace.
PostgreSQL runs in a scratch schema, dropped afterwards; it is skipped if unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from corral.jobs.control import JobControl
from corral.jobs.queue import JobQueue
from corral.jobs.settings import JobSettings
from corral.jobs.types import Job, JSONValue, NewJob
from corral.jobs.worker import JobWorker
from corral.store.db import Database
from corral.store.migrations import migrate

SETTINGS = JobSettings(concurrency=16, poll_interval_s=0.05, lease_s=30, max_queued_per_team=10**6)


async def _drain(url: str, n: int, workers: int) -> dict[str, float]:
    dbs = [await Database.connect(url) for _ in range(workers)]
    queues = [JobQueue(db, SETTINGS) for db in dbs]
    runs: Counter[str] = Counter()
    all_ran = asyncio.Event()

    async def noop(job: Job, control: JobControl) -> JSONValue:
        runs[job.id] += 1
        if len(runs) >= n:
            all_ran.set()
        return None

    await queues[0].enqueue_many([NewJob("bench", {"i": i}, team="bench") for i in range(n)])
    started = time.perf_counter()
    pool = [JobWorker(q, {"bench": noop}) for q in queues]
    for w in pool:
        await w.start()
    await all_ran.wait()
    elapsed = time.perf_counter() - started
    for w in pool:
        await w.stop()
    for db in dbs:
        await db.close()
    return {"jobs_per_s": round(n / elapsed), "ran_twice": sum(1 for c in runs.values() if c > 1)}


async def _backend(url: str, n: int) -> dict[str, Any]:
    db = await Database.connect(url)
    await migrate(db)
    queue = JobQueue(db, SETTINGS)
    started = time.perf_counter()
    await queue.enqueue_many([NewJob("item", {"i": i, "body": "x" * 200}, team="bench") for i in range(n)])
    enqueue = round(n / (time.perf_counter() - started))
    await db.execute("DELETE FROM jobs")
    await db.close()
    return {"enqueue_many_items_per_s": enqueue, "one_worker": await _drain(url, n, 1),
            "two_workers": await _drain(url, n, 2)}


async def main(n: int, pg: str) -> dict[str, Any]:
    out: dict[str, Any] = {"jobs": n}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = await _backend(f"sqlite:///{Path(tmp) / 'bench.db'}", n)
    schema = f"corral_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await Database.connect(pg)
    except (OSError, ConnectionError) as exc:
        out["postgresql"] = f"skipped: {exc}"
        return out
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        out["postgresql"] = await _backend(f"{pg}?schema={schema}", n)
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.jobs, args.pg)), indent=2))
