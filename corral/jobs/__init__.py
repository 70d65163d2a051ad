"""The durable job queue that background responses and batches run on (docs/jobs.md).

- ``corral.jobs.queue.JobQueue``: producers enqueue (dedupe keys, per-team limits), read,
  count and cancel jobs.
- ``corral.jobs.worker.JobWorker``: runs ``async def handler(job, control) -> JSON`` per
  kind with a concurrency limit, leases renewed by heartbeat, graceful shutdown.
- ``corral.jobs.leases.Leases``: claims and outcomes, fenced by each claim's lease token.

Nothing is re-exported here: the configuration imports ``corral.jobs.settings``, and
reading a configuration must not load the store or a database driver.
"""
