"""The claim reads the claim-order index instead of sorting the queue (migration 13).

A claim asks for several kinds at once; without an index in its ORDER BY, every claim
sorted every queued row (34 ms on SQLite, 72 ms on PostgreSQL at 50,000 queued items, under
the write lock), which is what made a running batch slow down live requests. The plans are
checked rather than timed: a plan that sorts fails here on any machine.
"""

from __future__ import annotations

import json

from corral.jobs.leases import claim_pick
from corral.jobs.queue import ANALYZE_AFTER_ROWS, JobQueue
from corral.jobs.types import NewJob
from corral.store.db import Database
from corral.store.schema import utcnow

KINDS = ("batch_item", "batch_plan", "batch_check", "response", "kb_ingest")


async def test_claim_reads_the_claim_order_index_without_sorting(jobs_db: Database, queue: JobQueue) -> None:
    # Past the threshold, so PostgreSQL's statistics are refreshed by the queue itself: a
    # freshly filled table otherwise looks empty to the planner, which then sorts anyway.
    rows = ANALYZE_AFTER_ROWS + 500
    for start in range(0, rows, 1000):
        await queue.enqueue_many([NewJob(kind="batch_item", payload={"i": i}, team="t", priority=i % 2)
                                  for i in range(start, min(rows, start + 1000))])
    pick = claim_pick(KINDS, 16, utcnow(), jobs_db.dialect)
    async with jobs_db.transaction() as tx:
        sql = str(pick.compile(tx.connection.sync_engine, compile_kwargs={"literal_binds": True}))
        if jobs_db.dialect == "sqlite":
            plan = " | ".join(str(r["detail"]) for r in await tx.fetch_all(f"EXPLAIN QUERY PLAN {sql}"))
            assert "ix_jobs_claim_order" in plan and "TEMP B-TREE" not in plan, plan
        else:
            [doc] = (await tx.fetch_one(f"EXPLAIN (FORMAT JSON) {sql}") or {}).values()
            plan = json.dumps(doc)
            assert "ix_jobs_claim_order" in plan and '"Node Type": "Sort"' not in plan, plan
