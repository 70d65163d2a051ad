"""Anthropic's Message Batches API, simulated (a test and benchmark tool, never a provider).

`POST /v1/messages/batches` (requests inline), `GET /v1/messages/batches[/{id}]`,
`POST /v1/messages/batches/{id}/cancel`, `GET /v1/messages/batches/{id}/results` (JSONL)
and `DELETE /v1/messages/batches/{id}`. Like the OpenAI batches (openai_batches.py): a
batch waits `batch_delay_ms`, then sends each request to the simulator's own
`/v1/messages`; `SimBatches.outcome = "expired"` expires the lines after `expire_after`;
`SimBatches.inputs` keeps every request as received.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from .anthropic_dialect import DIALECT
from .batch_store import SimBatches
from .engine import ErrorContext, json_response, new_id
from .state import STATE

PATH = "/v1/messages/batches"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _store(request: web.Request) -> SimBatches:
    return request.app[STATE].batches


def _not_found() -> web.Response:
    error = {"type": "not_found_error", "message": "No such batch"}
    return json_response({"type": "error", "error": error}, 404)


def _auth(request: web.Request) -> web.StreamResponse | None:
    key = request.app[STATE].settings.require_key
    problem = DIALECT.check_key(request, key) if key else None
    return None if problem is None else DIALECT.fault_response("auth", ErrorContext(message=problem))


async def create(request: web.Request) -> web.StreamResponse:
    if (denied := _auth(request)) is not None:
        return denied
    requests = orjson.loads(await request.read() or b"{}").get("requests") or []
    store = _store(request)
    store.inputs.extend(requests)
    batch: dict[str, Any] = {
        "id": new_id("msgbatch_"), "type": "message_batch", "processing_status": "in_progress",
        "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0,
                           "expired": 0},
        "created_at": _now(), "ended_at": None, "cancel_initiated_at": None, "results_url": None,
        "expires_at": None, "archived_at": None}
    store.batches[batch["id"]] = batch
    store.contents[batch["id"]] = b""
    store.created += 1
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("x-api-key", "anthropic-version")}
    task = asyncio.create_task(_run(request.app, batch, requests, str(request.url.origin()), headers))
    store.running[batch["id"]] = task
    task.add_done_callback(lambda _: store.running.pop(batch["id"], None))
    return json_response(batch)


async def get(request: web.Request) -> web.StreamResponse:
    batch = _store(request).batches.get(request.match_info["batch_id"])
    return json_response(batch) if batch is not None else _not_found()


async def cancel(request: web.Request) -> web.StreamResponse:
    batch = _store(request).batches.get(request.match_info["batch_id"])
    if batch is None:
        return _not_found()
    if batch["processing_status"] == "in_progress":
        batch.update(processing_status="canceling", cancel_initiated_at=_now())
    return json_response(batch)


async def results(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    batch = store.batches.get(request.match_info["batch_id"])
    if batch is None or batch["processing_status"] != "ended":
        return _not_found()
    return web.Response(body=store.contents[batch["id"]], content_type="application/binary")


async def delete(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    batch_id = request.match_info["batch_id"]
    if store.batches.pop(batch_id, None) is None:
        return _not_found()
    store.contents.pop(batch_id, None)
    return json_response({"id": batch_id, "type": "message_batch_deleted"})


async def _run(app: web.Application, batch: dict[str, Any], requests: list[dict[str, Any]], origin: str,
               headers: dict[str, str]) -> None:
    store: SimBatches = app[STATE].batches
    await asyncio.sleep(app[STATE].settings.batch_delay_ms / 1000)
    rows: list[dict[str, Any]] = []
    counts = batch["request_counts"]
    async with aiohttp.ClientSession() as session:
        for i, item in enumerate(requests):
            if batch["processing_status"] == "canceling":
                result: dict[str, Any] = {"type": "canceled"}
            elif store.outcome == "expired" and i >= store.expire_after:
                result = {"type": "expired"}
            else:
                url = origin + "/v1/messages"
                async with session.post(url, json=item["params"], headers=headers) as resp:
                    body = await resp.json(loads=orjson.loads)
                result = {"type": "succeeded", "message": body} if resp.status == 200 else {
                    "type": "errored", "error": body}
            counts["processing"] -= 1
            counts[result["type"]] += 1
            rows.append({"custom_id": item["custom_id"], "result": result})
    store.contents[batch["id"]] = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    batch.update(processing_status="ended", ended_at=_now(),
                 results_url=f"{origin}{PATH}/{batch['id']}/results")


def routes() -> list[web.RouteDef]:
    return [
        web.post(PATH, create),
        web.get(PATH + "/{batch_id}", get),
        web.post(PATH + "/{batch_id}/cancel", cancel),
        web.get(PATH + "/{batch_id}/results", results),
        web.delete(PATH + "/{batch_id}", delete),
    ]
