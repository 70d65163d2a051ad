"""`batch_native_poll`: wait for a chunk's provider batches, then queue each line's item.

One look per job: a batch still running queues the next look after
`batches.native_poll_interval_s` (a new job, holding no worker meanwhile), cancelling the
provider's batches first when Corral's batch was cancelled or its window ended. Once
every one is final, the output and error files are read (a chunk's worth: bounded by
`native_chunk_lines`) and each line's item is queued with the provider's answer, or with
the reason it has none. Item ids are the lines' own, so a look that runs again after a
crash queues nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from corral.batches.items import item_id, item_job, request_id_of
from corral.batches.native.chunks import chunk_job_id, poll_job, read_lines
from corral.batches.native.sinks import answer_payload
from corral.batches.settings import BatchSettings
from corral.batches.store import BatchStore
from corral.batches.types import Batch
from corral.core.deferred import NativeLine
from corral.core.errors import CorralError
from corral.files.store import FileStore
from corral.jobs.control import JobControl
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job, JSONValue, NewJob
from corral.providers.native_batch import NativeBatchAPI, NativeBatchInfo, NativeFailure
from corral.store.schema import utcnow

log = logging.getLogger("corral.batches.native")
ENQUEUE_CHUNK = 500
NOT_RUN_CANCELLED = "This request was not run: the batch was cancelled."
NOT_RUN_EXPIRED = "This request was not run before the batch's completion window ended."


@dataclass
class _Group:
    """One provider batch of the chunk, as the submit job left it, with what it answered."""

    deployment: str
    info: NativeBatchInfo
    sent: dict[str, str]  # line number -> digest of what was submitted
    answers: dict[str, NativeLine | NativeFailure] = field(default_factory=dict)  # by custom_id


@dataclass
class NativePoll:
    store: BatchStore
    queue: JobQueue
    files: FileStore
    apis: Mapping[str, NativeBatchAPI]
    settings: BatchSettings

    async def __call__(self, job: Job, control: JobControl) -> JSONValue:
        p = job.payload
        batch = await self.store.load(p["batch_id"])
        submit = await self.queue.get(chunk_job_id(p["batch_id"], int(p["chunk"])))
        if batch is None or submit is None:
            return {"skipped": True}
        if not submit.finished:  # it died after queueing this look and runs again: look again later
            await self.queue.enqueue(poll_job(batch, int(p["chunk"]), int(p["round"]) + 1, self.settings))
            return {"waiting": "submit"}
        if submit.status != "completed" or not isinstance(submit.result, dict):
            return {"skipped": submit.status}  # the batch check reports its lines
        groups = [_Group(g["deployment"], await self.apis[g["deployment"]].retrieve(g["batch"]), g["lines"])
                  for g in submit.result.get("groups", []) if "batch" in g]
        running = [g for g in groups if not g.info.terminal]
        if running:
            if batch.status == "cancelling" or utcnow() >= batch.expires_at:
                await self._cancel(running)
            await self.queue.enqueue(poll_job(batch, int(p["chunk"]), int(p["round"]) + 1, self.settings))
            return {"waiting": [g.info.status for g in running]}
        for group in groups:
            await self._read(group)
        queued = await self._queue_items(batch, groups)
        for group in groups:
            await self._clean_up(group)
        return {"queued": queued, "statuses": [g.info.status for g in groups]}

    async def _cancel(self, running: list[_Group]) -> None:
        for group in running:
            if group.info.status != "cancelling":
                try:
                    await self.apis[group.deployment].cancel(group.info.id)
                except CorralError as exc:  # it may have finished meanwhile: the next look tells
                    log.warning("could not cancel native batch %s: %s", group.info.id, exc)

    async def _read(self, group: _Group) -> None:
        group.answers = await self.apis[group.deployment].results(group.info)

    async def _queue_items(self, batch: Batch, groups: list[_Group]) -> int:
        by_line = {int(n): g for g in groups for n in g.sent}
        items: list[NewJob] = []
        queued = 0
        async for line in read_lines(self.files, batch, set(by_line)):
            group = by_line[line.number]
            found = group.answers.get(request_id_of(item_id(batch.id, line.number)))
            if isinstance(found, NativeLine):
                extra = {"native": answer_payload(group.deployment, group.sent[str(line.number)], found)}
            else:
                extra = {"failure": _failure(batch, group.info, found)}
            items.append(item_job(batch, line.number, line.custom_id, line.body, self.settings, extra))
            if len(items) >= ENQUEUE_CHUNK:
                queued += len(await self.queue.enqueue_many(items))
                items = []
        if items:
            queued += len(await self.queue.enqueue_many(items))
        return queued

    async def _clean_up(self, group: _Group) -> None:
        """The provider's copies are no longer needed: Corral's items hold the answers now."""
        await self.apis[group.deployment].discard(group.info)


def _failure(batch: Batch, info: NativeBatchInfo, failure: NativeFailure | None) -> dict[str, str]:
    """Why a line has no answer, for the error file."""
    where = f"The provider's batch {info.id}"
    if failure is not None:
        return {"code": failure.code, "message": f"{where} did not run this request: {failure.message}"}
    if info.status == "cancelled":
        if batch.status == "cancelling":
            return {"code": "batch_cancelled", "message": NOT_RUN_CANCELLED}
        if utcnow() >= batch.expires_at:
            return {"code": "batch_expired", "message": NOT_RUN_EXPIRED}
        return {"code": "native_batch_cancelled", "message": f"{where} was cancelled before it ran this one."}
    if info.status == "expired":
        return {"code": "batch_expired", "message": f"{where} expired before it ran this request."}
    if info.status == "failed":
        reasons = "; ".join(str(e.get("message")) for e in info.errors[:5]) or "no reason given"
        return {"code": "native_batch_failed", "message": f"{where} failed: {reasons}"}
    return {"code": "native_line_missing", "message": f"{where} ended {info.status} without an answer to it."}
