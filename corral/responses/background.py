"""`background: true`: the response is stored `queued`, a job of kind `response` runs it.

The create request stores the response (status `queued`) and queues a job whose id is the
response's own and whose payload holds only ids and the caller's identity (the content is
in the stored response). A worker's handler loads the response, runs it through the same
`gateway.handle` as a foreground request (privacy, routing, records, cost, attributed to
the job) and writes the result; GET polls the stored response. Cancel marks the response
`cancelled` and cancels the job: a queued one never runs, a running one's upstream call is
closed and recorded as abandoned.

A response that reaches a final state queues its webhook event (`response.<status>`,
corral.webhooks) through `notify`: the handler after the final write (and again when a retried
job finds it final: the event is deduplicated), cancel after its write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from corral.core.context import Caller
from corral.core.errors import CorralError
from corral.core.stream import ChatStream
from corral.core.types import ChatResponse
from corral.jobs.control import Handler, JobControl
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job, JSONValue, NewJob
from corral.responses import service
from corral.responses.errors import ResponseNotFound
from corral.responses.output import fail
from corral.responses.store import ResponseStore, StoredResponse
from corral.store.db import Transaction

log = logging.getLogger("corral.responses")
KIND = "response"
PRIORITY = 10  # above batch items (0): a batch never delays an interactive client's background response
LIVE = ("queued", "in_progress")
FINAL = ("completed", "failed", "cancelled", "incomplete")  # each has its webhook event
Notify = Callable[[str, str, str], Awaitable[Any]]  # (event type, object id, team): WebhookEmitter.emit


async def submit(store: ResponseStore, jobs: JobQueue, prepared: service.Prepared,
                 caller: Caller) -> dict[str, Any]:
    """Store the response `queued` and queue its job; the Response object to answer with."""
    stored = prepared.stored
    stored.body["status"] = "queued"
    payload = {"response_id": stored.id, "key_id": caller.key_id, "key_name": caller.key_name,
               "team": caller.team, "scopes": sorted(caller.scopes),
               "include_results": prepared.include_results}
    if store.db is not jobs.db:
        raise RuntimeError("background responses need the responses and jobs in one database")

    async def write_response(tx: Transaction) -> None:
        await store.insert(stored, tx)

    # One transaction: no reader (a poll, the orphan sweep) sees the response without its job,
    # and a refused job (queue full) leaves no response behind.
    await jobs.enqueue(NewJob(KIND, payload, caller.team, key_id=caller.key_id, id=stored.id,
                              priority=PRIORITY), along_with=write_response)
    return stored.body


async def cancel(store: ResponseStore, jobs: JobQueue, stored: StoredResponse,
                 notify: Notify | None = None) -> dict[str, Any]:
    """Cancel a background response that is still queued or running; a finished one is
    returned as it is. A cancelled one (now or by an earlier call that failed before its event
    was queued) queues `response.cancelled`."""
    if stored.status in LIVE:
        stored.body["status"] = "cancelled"
        if await store.update(stored, only_from=LIVE):
            await jobs.request_cancel(stored.id)
    final = await store.get(stored.id, stored.team)
    if final.status == "cancelled":
        await _announce(notify, final)
    return final.body


async def _announce(notify: Notify | None, stored: StoredResponse) -> None:
    if notify is not None and stored.status in FINAL:
        await notify(f"response.{stored.status}", stored.id, stored.team)


def response_handler(gateway: Any) -> Handler:
    """The job handler for kind `response`; `gateway` runs the request (`handle`) and holds
    the database (`db`)."""
    store = ResponseStore(gateway.db)
    webhooks = getattr(gateway, "webhooks", None)
    notify: Notify | None = webhooks.emit if webhooks is not None else None

    async def run(job: Job, control: JobControl) -> JSONValue:
        try:
            stored = await store.get(str(job.payload["response_id"]), job.team)
        except ResponseNotFound:
            return {"status": "deleted"}  # deleted while queued: nothing to do
        if stored.status not in LIVE:  # finished (perhaps by an attempt that died before its event)
            await _announce(notify, stored)
            return {"status": stored.status}
        stored.body["status"] = "in_progress"
        if not await store.update(stored, only_from=LIVE):
            return {"status": "cancelled"}
        body = await _run(gateway, store, stored, job)
        if notify is not None:  # as stored: a cancel that won the race keeps `cancelled` (and its event)
            try:
                await _announce(notify, await store.get(stored.id, job.team))
            except ResponseNotFound:
                pass  # deleted meanwhile: nobody to tell
        return {"status": body["status"]}

    return run


async def _run(gateway: Any, store: ResponseStore, stored: StoredResponse, job: Job) -> dict[str, Any]:
    p = job.payload
    caller = Caller(str(p["key_id"]), str(p["key_name"]), str(p["team"]), frozenset(p["scopes"]))
    try:
        prepared = await service.resume(store, stored, limit_bytes=gateway.settings.server.max_body_bytes,
                                        include_results=bool(p.get("include_results")))
        # A run again after a worker died gets a record of its own (req_X:2).
        ctx = await service.context(prepared, caller, gateway, attempt=job.attempts)
    except CorralError as exc:  # the conversation it continues, or a store it searches, was deleted meanwhile
        final = fail(stored.body, exc)  # stored.body, now failed
        await store.update(stored, only_from=LIVE)
        return final
    ctx.job_id = job.id
    work = asyncio.ensure_future(gateway.handle(ctx))
    try:
        await asyncio.wait({work})
    except asyncio.CancelledError:  # cancelled by the client, or the worker is stopping
        ctx.client_disconnected = True  # recorded as abandoned: the upstream call is cut short
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        raise
    try:
        result = work.result()
    except Exception as exc:  # every failure is the response's failure
        if not isinstance(exc, CorralError):
            log.exception("background response %s failed", stored.id)
        final = fail(prepared.body, exc)
        await service.keep(store, prepared, final)
        return final
    if isinstance(result, ChatStream):  # never asked for, but close it rather than leak it
        await result.aclose()
        raise TypeError("a background response was answered with a stream")
    assert isinstance(result, ChatResponse)
    return await service.answer(store, prepared, ctx, result)


class JobEnded(CorralError):
    """The background job ended without its response's final state (see `settle_orphan`)."""

    openai_type = "server_error"


async def settle_orphan(store: ResponseStore, jobs: JobQueue, stored: StoredResponse,
                        notify: Notify | None = None) -> StoredResponse:
    """A response still queued or in progress whose job has ended for good gets its job's end.

    Why: the handler writes the final state, but a job can end without running it to the end:
    its worker killed on every attempt (the lease recovery then fails the job), a handler that
    raised on its last attempt, a job expired in the queue. The response would then stay
    `in_progress` forever and no webhook event would go. Checked when a client reads it and by
    the maintenance sweep (`settle_orphans`)."""
    if stored.status not in LIVE:
        return stored
    job = await jobs.get(stored.id)
    if job is not None and job.status not in ("failed", "expired", "cancelled"):
        return stored
    if job is not None and job.status == "cancelled":
        stored.body["status"] = "cancelled"
    else:
        why = "its job was lost" if job is None else f"its job {job.status} after {job.attempts} attempt(s)"
        fail(stored.body, JobEnded(f"The background response did not finish: {why}. Create it again."))
    if await store.update(stored, only_from=LIVE):
        log.warning("background response %s settled as %s: %s", stored.id, stored.body["status"],
                    "job missing" if job is None else f"job {job.status}")
        await _announce(notify, stored)
    return await store.get(stored.id, stored.team)


async def settle_orphans(store: ResponseStore, jobs: JobQueue, notify: Notify | None = None,
                         *, limit: int = 500) -> int:
    """`settle_orphan` for every live response whose job has ended: the sweep for clients that
    wait for a webhook instead of polling; the number settled."""
    settled = 0
    for stored in await store.live_with_ended_jobs(limit):
        if (await settle_orphan(store, jobs, stored, notify)).status not in LIVE:
            settled += 1
    return settled


def start_response_worker(gateway: Any) -> None:
    """Let the gateway's job worker run background responses (call once at start-up)."""
    gateway.worker.register(KIND, response_handler(gateway))
