"""The native-batch side of a batch, as the runner sees it: handlers, planning, the check's
view of lines still with a provider, and cancellation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from corral.batches.items import item_job
from corral.batches.lines import LineServer, RouteNamer
from corral.batches.native.chunks import POLL, SUBMIT, NativePlanner, parent_of, read_lines
from corral.batches.native.poll import NativePoll
from corral.batches.native.submit import NativeSubmit
from corral.batches.settings import BatchSettings
from corral.batches.store import BatchStore
from corral.batches.types import Batch
from corral.files.store import FileStore
from corral.jobs.control import Handler
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job
from corral.providers.native_batch import NativeBatchAPI

log = logging.getLogger("corral.batches.native")
ACTIVE = ("queued", "in_progress", "cancelling")
PAGE = 500


@dataclass
class NativeBatches:
    store: BatchStore
    queue: JobQueue
    files: FileStore
    serve: LineServer
    route_of: RouteNamer
    routes: frozenset[str]  # public names of the routes with `batch: native`
    apis: Mapping[str, NativeBatchAPI]  # their deployments' batch APIs, by deployment name
    settings: BatchSettings

    def handlers(self) -> dict[str, Handler]:
        submit = NativeSubmit(self.store, self.queue, self.files, self.serve, self.apis, self.settings)
        poll = NativePoll(self.store, self.queue, self.files, self.apis, self.settings)
        return {SUBMIT: submit, POLL: poll}

    def planner(self, batch: Batch) -> NativePlanner:
        return NativePlanner(batch, self.routes, self.route_of, self.settings)

    async def _chunks(self, batch_id: str) -> list[Job]:
        """The batch's chunk jobs (their payloads are line numbers: a few KB each)."""
        found: list[Job] = []
        while True:
            page = await self.queue.list(kind=SUBMIT, parent_id=parent_of(batch_id), limit=PAGE,
                                         after=found[-1].id if found else None)
            found += page
            if len(page) < PAGE:
                return found

    async def active(self, batch: Batch, items: int) -> int:
        """Native jobs of the batch still running. When none is and some lines still have no
        item (a chunk's submit or poll gave up, was cancelled, or expired unrun), their items
        are queued with the reason, so no line is lost without a word; how many remain busy."""
        counts = await self.queue.counts(parent_of(batch.id))
        running = sum(n for status, n in counts.items() if status in ACTIVE)
        if running or not counts or items >= batch.total:
            return running
        return await self._settle(batch)

    async def _settle(self, batch: Batch) -> int:
        queued = 0
        for job in await self._chunks(batch.id):
            extra = {"failure": _why(batch, job)}
            items = [item_job(batch, line.number, line.custom_id, line.body, self.settings, extra)
                     async for line in read_lines(self.files, batch, set(job.payload["lines"]))]
            before = sum((await self.queue.counts(batch.id)).values())
            for i in range(0, len(items), 500):
                await self.queue.enqueue_many(items[i:i + 500])
            queued += sum((await self.queue.counts(batch.id)).values()) - before
        if queued:
            log.warning("batch %s: %d natively batched lines had no answer (failed)", batch.id, queued)
        return queued

    async def cancel(self, batch: Batch) -> None:
        """Cancel the chunks still queued. The provider's batches are cancelled by their poll jobs,
        at their next look (`native_poll_interval_s`), not here: a cancel answers at once even
        when a provider is slow, and a chunk being submitted right now is cancelled once its
        batch exists rather than leaving it unknown. The polls then read what was answered
        before the cancel (those lines were billed) and report the rest cancelled."""
        for job in await self._chunks(batch.id):
            if job.status == "queued":
                await self.queue.request_cancel(job.id)


def _why(batch: Batch, job: Job) -> dict[str, str]:
    if batch.status == "cancelling" or job.status == "cancelled":
        return {"code": "batch_cancelled", "message": "This request was not run: the batch was cancelled."}
    if job.status == "expired":
        return {"code": "batch_expired", "message": "This request was not run before the batch's completion "
                                                    "window ended."}
    if job.status == "completed":  # submitted, but its poll gave up (the provider unreachable for hours)
        return {"code": "native_batch_failed",
                "message": "Corral could not read the answer of the provider's batch this request was "
                           "forwarded in (see the logs of the batch_native_poll jobs)."}
    reason = (job.error or {}).get("message") or job.status
    return {"code": "native_batch_failed",
            "message": f"Corral could not forward this request to the provider's batch API: {reason}"}
