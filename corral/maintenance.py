"""Scheduled upkeep that must run once across all replicas, done as a job on the queue.

The leader among the processes sharing the database (corral.store.leader) offers one
`maintenance_purge` job per interval; followers only check, every few seconds, whether they
lead now. The queue's dedupe key (one per interval slot) still makes two offers the same job
(a leader change inside a slot), so the purge runs once per slot, on whichever worker claims
it, and survives a crash like any job.
It removes what has expired: files (batch inputs and outputs included) and abandoned
uploads, and stored responses past `responses.retention_s`; finished jobs are purged by the
workers themselves (`jobs.retention_s`). It also settles background responses whose job ended
without them (corral.responses.background.settle_orphans): a client waiting for a webhook
instead of polling learns of those within one interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta

from corral.core.tasks import cancel_and_wait
from corral.files.purge import purge_expired
from corral.files.settings import FileSettings
from corral.jobs.control import Handler, JobControl
from corral.jobs.errors import QueueFull
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job, JSONValue, NewJob
from corral.responses.background import Notify, settle_orphans
from corral.responses.settings import ResponseSettings
from corral.responses.store import ResponseStore, purge_older_than
from corral.store import Database
from corral.store.schema import utcnow

log = logging.getLogger("corral.maintenance")
PURGE_KIND = "maintenance_purge"
SYSTEM_TEAM = "_corral"  # the queue's owner for work no team asked for
PURGE_INTERVAL_S = 3600.0
FOLLOWER_POLL_S = 5.0  # how soon a follower that became the leader offers the slot's purge

Purge = Callable[[], Awaitable[dict[str, int]]]


class Maintenance:
    def __init__(self, db: Database, queue: JobQueue, files: FileSettings,
                 responses: ResponseSettings | None = None, *, interval_s: float = PURGE_INTERVAL_S,
                 leads: Callable[[], bool] = lambda: True, notify: Notify | None = None) -> None:
        self.db = db
        self.notify = notify  # webhook events of the background responses settled here
        self.leads = leads  # whether this process is the system's leader, now
        self.queue = queue
        self.files = files
        self.responses = responses or ResponseSettings()
        self.interval_s = interval_s
        self.purges: dict[str, Purge] = {"files": self._files, "responses": self._responses,
                                         "orphaned_responses": self._orphans}
        self._task: asyncio.Task[None] | None = None

    def handlers(self) -> dict[str, Handler]:
        return {PURGE_KIND: self.purge}

    async def purge(self, job: Job, control: JobControl) -> JSONValue:
        """Run every registered purge; one store failing does not stop the others."""
        report: dict[str, JSONValue] = {}
        for name, run in self.purges.items():
            try:
                report[name] = dict(await run())
            except Exception as exc:
                log.exception("purge of %s failed", name)
                report[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        log.info("purge: %s", report)
        return report

    async def _files(self) -> dict[str, int]:
        counts = await purge_expired(self.db, utcnow(), abandoned_upload_s=self.files.abandoned_upload_s)
        return asdict(counts)

    async def _responses(self) -> dict[str, int]:
        cutoff = utcnow() - timedelta(seconds=self.responses.retention_s)
        return {"responses": await purge_older_than(self.db, cutoff)}

    async def _orphans(self) -> dict[str, int]:
        return {"settled": await settle_orphans(ResponseStore(self.db), self.queue, self.notify)}

    async def offer(self, now: float | None = None) -> Job:
        """This slot's purge job: the one already queued by any replica, or a new one."""
        slot = int((now if now is not None else time.time()) // self.interval_s)
        return await self.queue.enqueue(NewJob(kind=PURGE_KIND, payload={"slot": slot}, team=SYSTEM_TEAM,
                                               dedupe_key=f"purge:{slot}", priority=-10))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="corral maintenance")

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            if not self.leads():
                await asyncio.sleep(min(self.interval_s, FOLLOWER_POLL_S))
                continue
            try:
                await self.offer()
            except QueueFull:
                log.warning("purge not offered: the maintenance queue is full")
            except Exception:
                log.exception("purge not offered")
            await asyncio.sleep(min(self.interval_s, 300.0))
