"""A worker's numbers for /metrics: cumulative counters plus gauges read at scrape time.

The gateway registers :meth:`JobWorker.stats` with ``Metrics.register_gauge_source("jobs",
worker.stats, counters=JOB_COUNTERS)``; a scrape runs on the event loop, so nothing here
touches the database: queue depth is the last figure the worker's heartbeat loop read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

#: Keys of :meth:`WorkerStats.as_dict` that only ever grow (reported as Prometheus counters).
JOB_COUNTERS = frozenset({
    "claimed", "completed", "failed", "retried", "cancelled", "released", "lease_recoveries",
    "lease_lost", "fenced", "expired", "db_errors",
})


@dataclass
class WorkerStats:
    claimed: int = 0  # attempts started
    completed: int = 0
    failed: int = 0  # jobs that ended failed (no attempts left, or not retryable)
    retried: int = 0  # failed attempts queued again after a backoff
    cancelled: int = 0  # running jobs this worker stopped on a cancel request
    released: int = 0  # leases given back unfinished at shutdown
    lease_recoveries: int = 0  # other (dead) workers' jobs this worker's recovery pass took back
    lease_lost: int = 0  # this worker's attempts stopped because another worker holds the job now
    fenced: int = 0  # outcomes refused because the lease was no longer this worker's
    expired: int = 0  # queued jobs past their expires_at
    db_errors: int = 0  # claims, heartbeats or outcome writes that failed (retried)
    depth: dict[str, int] = field(default_factory=dict)  # queued jobs by kind, all workers

    def as_dict(self, running: int) -> dict[str, float]:
        out: dict[str, float] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "depth"}
        out["running"] = running
        out["queued"] = sum(self.depth.values())
        out.update({f"queued_{kind}": n for kind, n in sorted(self.depth.items())})
        return out
