"""The batch runner: three job kinds on the durable queue (`corral.jobs`).

- `batch_plan` reads the input file twice: once to check every line against the batch
  (endpoint, count), then to enqueue one `batch_item` per line. Item ids and dedupe keys
  come from the batch id and the line number, so a plan that runs again after a crash adds
  nothing twice.
- `batch_item` serves one line through `LineServer` (the API layer's function that runs it
  through `Gateway.handle`: privacy, routing, records, cost) and stores the answer as the
  job's result. An error answer fails the item for good (it goes to the error file); an
  overloaded or failing upstream (429, 5xx) is retried with the queue's backoff first.
- `batch_check` waits, without holding a worker slot, for the items to finish: it looks,
  then enqueues the next look after `check_interval_s`. When no item is left to run it
  writes the output and error files (`corral.batches.output`) and closes the batch.

Lines of routes with `batch: native` are planned into chunks instead (`corral.batches.native`):
their jobs forward the lines to the provider's batch API, and each line's `batch_item` is
queued once the provider answered, carrying the answer for the lifecycle to read.

A batch that reaches a final state queues its webhook event (`batch.<status>`, corral.webhooks)
through `notify`, right after the write; a check that finds the batch already final queues it
again (deduplicated), so a process killed between the two loses no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from corral.batches.items import item_job, request_id_of, who_of
from corral.batches.lines import LineOutcome, LineRequest, LineServer, RouteNamer
from corral.batches.native.service import NativeBatches
from corral.batches.native.sinks import answer_from
from corral.batches.output import remove_strays, write_results
from corral.batches.settings import BatchSettings
from corral.batches.store import BatchStore
from corral.batches.types import Batch, BatchStatus
from corral.files.batch_lines import BatchLine, iter_batch_lines
from corral.files.errors import FileNotFound, InvalidFile
from corral.files.store import FileStore
from corral.jobs.control import Handler, JobControl
from corral.jobs.errors import JobFailed
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job, JSONValue, NewJob
from corral.store.db import Transaction
from corral.store.schema import utcnow

__all__ = ["BatchRunner", "LineOutcome", "LineRequest", "LineServer", "RouteNamer"]
log = logging.getLogger("corral.batches")
ENQUEUE_CHUNK = 500
ACTIVE = ("queued", "in_progress", "cancelling")
MAX_REPORTED_ERRORS = 100
# Attempts of one batch check. Each round is a job of its own and the only thing that closes
# the batch: given up after the queue's usual 3 (a process killed three times while it
# finalized, a database down past the backoff), nothing would ever look at the batch again.
# A look costs little, so it keeps trying: with `jobs.retry_max_s` 300, for hours.
CHECK_ATTEMPTS = 100
MAX_PAUSE_S = 300.0  # the longest Retry-After a route's batch lines wait out in one go


@dataclass
class BatchRunner:
    store: BatchStore
    queue: JobQueue
    files: FileStore
    serve: LineServer
    route_of: RouteNamer
    settings: BatchSettings = field(default_factory=BatchSettings)
    native: NativeBatches | None = None  # routes with `batch: native` (corral.batches.native)
    # (event type, batch id, team) when a batch ends: corral.webhooks' WebhookEmitter.emit
    notify: Callable[[str, str, str], Awaitable[Any]] | None = None
    _slots: dict[str, asyncio.Semaphore] = field(default_factory=dict, init=False)
    _paused: dict[str, float] = field(default_factory=dict, init=False)  # route -> monotonic time

    def handlers(self) -> dict[str, Handler]:
        native = self.native.handlers() if self.native is not None else {}
        return {"batch_plan": self.plan, "batch_item": self.item, "batch_check": self.check, **native}

    async def submit(self, batch: Batch) -> None:
        """Store a new batch (status validating) and queue its planning and first check, in one
        transaction: a refused job (the team's queue is full) leaves no batch that never runs."""
        who = batch.submitter
        # The plan's job id is the batch id, so the items (parent_id) are its children.
        plan = NewJob(kind="batch_plan", payload={"batch_id": batch.id}, team=who.team, key_id=who.key_id,
                      id=batch.id, dedupe_key=batch.id, priority=self.settings.priority)

        async def create(tx: Transaction) -> None:
            await self.store.create(batch, tx)

        await self.queue.enqueue_many([plan, self._check_job(batch, 0)], along_with=create)

    # -- planning ---------------------------------------------------------------------------

    async def plan(self, job: Job, control: JobControl) -> JSONValue:
        batch = await self.store.load(job.payload["batch_id"])
        if batch is None or batch.status != "validating":
            return {"skipped": None if batch is None else batch.status}
        try:
            total, models = await self._validate(batch)
        except (InvalidFile, FileNotFound) as exc:
            line = getattr(exc, "line", None)
            await self._fail(batch, [{"code": exc.code or "invalid_file", "message": exc.message,
                                      "param": None, "line": line}])
            return {"failed": exc.message}
        except _LineErrors as errors:
            await self._fail(batch, errors.found)
            return {"failed": len(errors.found)}
        queued = 0
        # Lines of `batch: native` routes are gathered into provider batches, not queued one by one.
        native = self.native.planner(batch) if self.native is not None else None
        async for chunk in self._chunks(batch):
            if (await self.store.load(batch.id) or batch).status != "validating":
                break  # cancelled while planning: queue no more
            items = [self._item(batch, line) for line in chunk if native is None or not native.add(line)]
            await self.queue.enqueue_many(items + (native.ready() if native is not None else []))
            queued += len(chunk)
        else:
            if native is not None:
                await self.queue.enqueue_many(native.rest())
        model = models.pop() if len(models) == 1 else None
        await self.store.move(batch.id, ["validating"], "in_progress", total=total, model=model)
        await self.store.move(batch.id, ["cancelling"], "cancelling", total=total, model=model)
        return {"queued": queued, "total": total}

    async def _validate(self, batch: Batch) -> tuple[int, set[str]]:
        errors: list[dict[str, Any]] = []
        models: set[str] = set()
        total = 0
        async for line in self._lines(batch):
            total += 1
            if line.url != batch.endpoint and len(errors) < MAX_REPORTED_ERRORS:
                errors.append({"code": "invalid_url", "line": line.number, "param": "url",
                               "message": f"Line {line.number} asks for {line.url}, but this batch's "
                                          f"endpoint is {batch.endpoint}: a batch runs one endpoint."})
            model = line.body.get("model")
            if isinstance(model, str):
                models.add(model)
                if self.route_of(model) is None and len(errors) < MAX_REPORTED_ERRORS:
                    errors.append({"code": "model_not_found", "line": line.number, "param": "body.model",
                                   "message": f"Line {line.number} asks for model {model[:200]!r}, which "
                                              "this gateway does not serve (GET /v1/models lists them)."})
        if total == 0:
            errors.append({"code": "empty_file", "line": None, "param": "input_file_id",
                           "message": "The input file has no requests."})
        most = self.files.settings.max_batch_lines  # checked at upload; the setting may have shrunk since
        if total > most:
            errors.append({"code": "too_many_requests", "line": None, "param": "input_file_id",
                           "message": f"The input file has {total} requests; a batch takes at most "
                                      f"{most} (files.max_batch_lines). Split it."})
        if errors:
            raise _LineErrors(errors)
        return total, models

    async def _lines(self, batch: Batch) -> AsyncIterator[BatchLine]:
        _, chunks = await self.files.open(batch.input_file_id, batch.submitter.team)
        async for line in iter_batch_lines(chunks, self.files.settings.max_batch_line_bytes):
            yield line

    async def _chunks(self, batch: Batch) -> AsyncIterator[list[BatchLine]]:
        chunk: list[BatchLine] = []
        async for line in self._lines(batch):
            chunk.append(line)
            if len(chunk) >= ENQUEUE_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _item(self, batch: Batch, line: BatchLine) -> NewJob:
        return item_job(batch, line.number, line.custom_id, line.body, self.settings)

    async def _fail(self, batch: Batch, errors: list[dict[str, Any]]) -> None:
        if await self.store.move(batch.id, ["validating", "cancelling"], "failed", errors=errors):
            await self._announce(batch.id, "failed", batch.submitter.team)

    async def _announce(self, batch_id: str, status: str, team: str) -> None:
        if self.notify is not None:
            await self.notify(f"batch.{status}", batch_id, team)

    # -- items ------------------------------------------------------------------------------

    async def item(self, job: Job, control: JobControl) -> JSONValue:
        p = job.payload
        if "failure" in p:  # never run: the provider's batch did not answer it (corral.batches.native)
            raise JobFailed(p["failure"]["message"], code=p["failure"]["code"], retryable=False)
        deferred = answer_from(p.get("native"))  # the provider's batch answered: read it, no call
        line = LineRequest(who_of(p), p["batch_id"], p["endpoint"], p["custom_id"], p["body"],
                           request_id_of(job.id), deferred)
        model = p["body"].get("model")
        route = self.route_of(model) if isinstance(model, str) else None
        if "outcome" in p:  # answered by the lifecycle before any upstream call, while collecting
            outcome = LineOutcome(**p["outcome"])
        elif deferred is not None:  # no upstream call to pace: the answer is read, not asked for
            outcome = await self.serve(line)
        else:
            async with self._slot(route):
                await self._wait_out_pause(route)
                outcome = await self.serve(line)
        if route is not None and deferred is None and outcome.status_code == 429 and outcome.retry_after_s:
            # The upstream said when to come back: every line of this route waits, not just this one.
            until = time.monotonic() + min(outcome.retry_after_s, MAX_PAUSE_S)
            self._paused[route] = max(self._paused.get(route, 0.0), until)
        if outcome.status_code < 400:
            return {"response": outcome.as_response()}
        error = outcome.body.get("error") or {}
        retryable = outcome.retryable and deferred is None  # a provider batch's answer is final
        raise JobFailed(str(error.get("message") or f"HTTP {outcome.status_code}"), code=error.get("code"),
                        retryable=retryable and control.attempt < job.max_attempts,
                        retry_after_s=outcome.retry_after_s, details={"response": outcome.as_response()})

    async def _wait_out_pause(self, route: str | None) -> None:
        """Hold a line while its route's upstream asked for a pause (a 429 with Retry-After)."""
        # A loop, not one sleep: another 429 may extend the pause meanwhile.
        while route is not None and (left := self._paused.get(route, 0.0) - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)

    def _slot(self, route: str | None) -> asyncio.Semaphore | contextlib.nullcontext[None]:
        """The route's share of this process's batch work (`batches.route_concurrency`), so a
        batch paces itself to what the route's upstream takes and leaves room for live traffic."""
        limit = self.settings.route_concurrency.get(route or "", self.settings.default_route_concurrency)
        if route is None or limit is None:
            return contextlib.nullcontext()
        slot = self._slots.get(route)
        if slot is None:
            slot = self._slots[route] = asyncio.Semaphore(limit)
        return slot

    # -- waiting and finishing --------------------------------------------------------------

    async def check(self, job: Job, control: JobControl) -> JSONValue:
        batch = await self.store.load(job.payload["batch_id"])
        if batch is None or batch.final:
            if batch is not None:  # its event again, in case the run that closed it died first
                await self._announce(batch.id, batch.status, batch.submitter.team)
            return {"done": True}
        round_ = int(job.payload.get("round", 0))
        if batch.status == "validating":
            plan = await self.queue.get(batch.id)
            if plan is not None and plan.finished and plan.status != "completed":
                await self._fail(batch, [{"code": "planning_failed", "line": None, "param": None,
                                          "message": "Corral could not read the batch's input file: "
                                                     f"{(plan.error or {}).get('message', plan.status)}"}])
                return {"done": True}
            await self._check_later(batch, round_ + 1)
            return {"waiting": "validating"}
        counts: dict[str, int] = {str(k): n for k, n in (await self.queue.counts(batch.id)).items()}
        active = sum(counts.get(s, 0) for s in ACTIVE)
        if self.native is not None and not active:  # lines still with a provider's batch
            active = await self.native.active(batch, sum(counts.values()))
        if active:
            await self._check_later(batch, round_ + 1)
            return {"waiting": active}
        final: BatchStatus = "cancelled" if batch.status == "cancelling" else (
            "expired" if counts.get("expired", 0) else "completed")
        if batch.status != "finalizing" and not await self.store.move(
                batch.id, ["in_progress", "cancelling"], "finalizing"):
            return {"done": False}  # another worker moved it first
        output, errors, usage = await write_results(self.queue.db, self.files, batch, counts)
        kept = {"completed": counts.get("completed", 0),
                "failed": counts.get("failed", 0) + counts.get("expired", 0)}
        await self.store.move(batch.id, ["finalizing"], final, output_file_id=output, error_file_id=errors,
                              usage=usage, counts=kept)
        await remove_strays(self.queue.db, batch.id)  # a killed earlier run's files, or a loser's
        log.info("batch %s %s: %s", batch.id, final, counts)
        await self._announce(batch.id, final, batch.submitter.team)
        return {"status": final}

    async def _check_later(self, batch: Batch, round_: int) -> None:
        await self.queue.enqueue(self._check_job(batch, round_))

    def _check_job(self, batch: Batch, round_: int) -> NewJob:
        who = batch.submitter
        return NewJob(
            kind="batch_check", payload={"batch_id": batch.id, "round": round_}, team=who.team,
            key_id=who.key_id, dedupe_key=f"{batch.id}:check:{round_}", priority=self.settings.priority,
            max_attempts=CHECK_ATTEMPTS, delay_s=0.0 if round_ == 0 else self.settings.check_interval_s)

    async def cancel(self, batch: Batch) -> bool:
        """Cancel a running batch: queued items end at once, running ones when their worker stops."""
        if not await self.store.move(batch.id, ["validating", "in_progress"], "cancelling"):
            return False
        await self.queue.cancel_children(batch.id)
        if self.native is not None:
            await self.native.cancel(batch)
        await self._check_later(batch, 1_000_000 + int(utcnow().timestamp()))  # look again soon
        return True


class _LineErrors(Exception):
    def __init__(self, found: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(found)} invalid lines")
        self.found = found
