"""`batch_native`: collect one chunk's lines through the lifecycle and submit them.

Exactly once, across crashes: each provider batch is tagged with the chunk and deployment
(`chunks.tag_of`; OpenAI keeps it in the batch's metadata), and the job looks for one
before it submits anything. A run
killed after the provider created the batch but before the job stored its result finds
that batch on its next run and polls it instead of submitting a second one. (What it
cannot rule out: a worker stalled past its lease, still running, while another takes the
job over and looks at the same moment. Corral's output still has each line once: its items
are written once, whatever answered them.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from corral.batches.items import item_id, item_job, request_id_of
from corral.batches.lines import LineRequest, LineServer
from corral.batches.native.chunks import poll_job, read_lines, tag_of
from corral.batches.native.sinks import Collector, digest
from corral.batches.settings import BatchSettings
from corral.batches.store import BatchStore
from corral.batches.types import Batch
from corral.core.deferred import NativeRequest, RequestDeferred
from corral.core.errors import UpstreamError, UpstreamRejected
from corral.files.batch_lines import BatchLine
from corral.files.store import FileStore
from corral.jobs.control import JobControl
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job, JSONValue, NewJob
from corral.providers.native_batch import NativeBatchAPI

log = logging.getLogger("corral.batches.native")
FIND_MARGIN_S = 300  # clock skew between Corral and the provider, for `find`'s lower bound
ENQUEUE_CHUNK = 500


@dataclass
class NativeSubmit:
    store: BatchStore
    queue: JobQueue
    files: FileStore
    serve: LineServer
    apis: Mapping[str, NativeBatchAPI]  # deployment name -> its provider's batch API
    settings: BatchSettings

    async def __call__(self, job: Job, control: JobControl) -> JSONValue:
        p = job.payload
        batch = await self.store.load(p["batch_id"])
        if batch is None or batch.status not in ("in_progress", "validating"):
            return {"skipped": None if batch is None else batch.status}  # the batch check reports its lines
        chunk = int(p["chunk"])
        collector = Collector(self.apis)
        answered = await self._collect(batch, read_lines(self.files, batch, set(p["lines"])), collector)
        for i in range(0, len(answered), ENQUEUE_CHUNK):
            await self.queue.enqueue_many(answered[i:i + ENQUEUE_CHUNK])
        groups = [await self._group(job, control, batch, chunk, deployment, entries)
                  for deployment, entries in collector.by_deployment().items()]
        if any("batch" in g for g in groups):
            await self.queue.enqueue(poll_job(batch, chunk, 0, self.settings))
        return {"groups": groups, "answered": len(answered)}

    async def _collect(self, batch: Batch, lines: Any, collector: Collector) -> list[NewJob]:
        """Run each line through the lifecycle; the items of lines it answered before any call."""
        slots = asyncio.Semaphore(self.settings.native_concurrency)
        tasks: list[asyncio.Task[NewJob | None]] = []

        async def one(line: BatchLine) -> NewJob | None:
            async with slots:
                return await self._line(batch, line, collector)

        async with asyncio.TaskGroup() as group:
            async for line in lines:
                await slots.acquire()  # read no further ahead than the lines being served
                slots.release()
                tasks.append(group.create_task(one(line)))
        return [found for task in tasks if (found := task.result()) is not None]

    async def _line(self, batch: Batch, line: BatchLine, collector: Collector) -> NewJob | None:
        request = LineRequest(batch.submitter, batch.id, batch.endpoint, line.custom_id, line.body,
                              request_id_of(item_id(batch.id, line.number)), collector.call(line.number))
        try:
            outcome = await self.serve(request)
        except RequestDeferred:
            return None  # collected: answered by the provider's batch
        if outcome.retryable:  # a limit or a live fallback failed for now: an ordinary item retries it
            return item_job(batch, line.number, line.custom_id, line.body, self.settings)
        answer = {"status_code": outcome.status_code, "request_id": outcome.request_id, "body": outcome.body}
        return item_job(batch, line.number, line.custom_id, line.body, self.settings, {"outcome": answer})

    async def _group(self, job: Job, control: JobControl, batch: Batch, chunk: int, deployment: str,
                     entries: list[tuple[int, NativeRequest]]) -> dict[str, Any]:
        """Submit (or find) the provider batch of one deployment's lines."""
        lines = {str(n): digest(request) for n, request in entries}
        try:
            info = await self._submit(job, batch, chunk, deployment, entries)
        except UpstreamError as exc:
            if not isinstance(exc, UpstreamRejected) and control.attempt < job.max_attempts:
                raise  # the provider is failing for now: the job runs again after the queue's backoff
            log.warning("native batch for %s chunk %d on %s refused: %s", batch.id, chunk, deployment, exc)
            await self._give_up(batch, entries, exc.message)
            return {"deployment": deployment, "failed": exc.message, "lines": lines}
        return {"deployment": deployment, "batch": info, "lines": lines}

    async def _submit(self, job: Job, batch: Batch, chunk: int, deployment: str,
                      entries: list[tuple[int, NativeRequest]]) -> str:
        api = self.apis[deployment]
        tag = tag_of(batch.id, chunk, deployment)
        found = await api.find(tag, int(job.created_at.timestamp()) - FIND_MARGIN_S)
        if found is not None:
            log.info("native batch %s of %s chunk %d found: not submitted again", found.id, batch.id, chunk)
            return found.id
        lines = [(request_id_of(item_id(batch.id, n)), request) for n, request in entries]
        created = await api.submit(f"{batch.id}-{chunk:04d}.jsonl", lines, tag)
        log.info("native batch %s submitted: %s chunk %d", created.id, batch.id, chunk)
        return created.id

    async def _give_up(self, batch: Batch, entries: list[tuple[int, NativeRequest]], reason: str) -> None:
        """The provider refused the batch: its lines go to the error file with the reason."""
        wanted = {n for n, _ in entries}
        failure = {"code": "native_batch_refused",
                   "message": f"The provider refused the batch this request was forwarded in: {reason}"}
        items = [item_job(batch, line.number, line.custom_id, line.body, self.settings, {"failure": failure})
                 async for line in read_lines(self.files, batch, wanted)]
        for i in range(0, len(items), ENQUEUE_CHUNK):
            await self.queue.enqueue_many(items[i:i + ENQUEUE_CHUNK])
