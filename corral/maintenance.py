"""Scheduled upkeep that must run once across all replicas, done as a job on the queue.

Every process that runs queue work offers one `maintenance_purge` job per interval; the
queue's dedupe key (one per interval slot) makes all replicas' offers the same job, so the
purge runs once per slot, on whichever worker claims it, and survives a crash like any job.
It removes what has expired: files (batch inputs and outputs included) and abandoned
uploads, and stored responses past `responses.retention_s`; finished jobs are purged by the
workers themselves (`jobs.retention_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta

from corral.files.purge import purge_expired
from corral.files.settings import FileSettings
from corral.jobs.control import Handler, JobControl
from corral.jobs.errors import QueueFull
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job, JSONValue, NewJob
from corral.responses.settings import ResponseSettings
from corral.responses.store import purge_older_than
from corral.store import Database
from corral.store.schema import utcnow

log = logging.getLogger("corral.maintenance")
PURGE_KIND = "maintenance_purge"
SYSTEM_TEAM = "_corral"  # the queue's owner for work no team asked for
PURGE_INTERVAL_S = 3600.0

Purge = Callable[[], Awaitable[dict[str, int]]]


class Maintenance:
    def __init__(self, db: Database, queue: JobQueue, files: FileSettings,
                 responses: ResponseSettings | None = None, *, interval_s: float = PURGE_INTERVAL_S) -> None:
        self.db = db
        self.queue = queue
        self.files = files
        self.responses = responses or ResponseSettings()
        self.interval_s = interval_s
        self.purges: dict[str, Purge] = {"files": self._files, "responses": self._responses}
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

    async def offer(self, now: float | None = None) -> Job:
        """This slot's purge job: the one already queued by any replica, or a new one."""
        slot = int((now if now is not None else time.time()) // self.interval_s)
        return await self.queue.enqueue(NewJob(kind=PURGE_KIND, payload={"slot": slot}, team=SYSTEM_TEAM,
                                               dedupe_key=f"purge:{slot}", priority=-10))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="corral maintenance")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.offer()
            except QueueFull:
                log.warning("purge not offered: the maintenance queue is full")
            except Exception:
                log.exception("purge not offered")
            await asyncio.sleep(min(self.interval_s, 300.0))
