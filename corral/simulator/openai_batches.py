"""OpenAI's Files and Batches API, simulated (a test and benchmark tool, never a provider).

Enough of `/v1/files` and `/v1/batches` to exercise Corral's native batch forwarding:
upload (multipart, purpose `batch`), retrieve, download and delete files; create, list
(newest first, `limit`/`after`, with metadata), retrieve and cancel batches. A batch waits
`batch_delay_ms` (a setting), then runs each line through the simulator's own chat or
embeddings endpoint (so faults and key checks apply per line as they do live) and writes
the output file (status 200 answers) and the error file (other answers, and lines not
run). `SimBatches.outcome` makes the next batches end `expired` (after `expire_after`
lines) or `failed` instead; `SimBatches.inputs` keeps every uploaded line as received, so a
test can see exactly what an upstream was sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from .batch_store import SimBatches
from .engine import ErrorContext, json_response, new_id
from .openai_dialect import DIALECT
from .state import STATE

EXPIRED = "This request could not be executed before the completion window expired."
CANCELLED = "This request was not executed because the batch was cancelled."


def _store(request: web.Request) -> SimBatches:
    return request.app[STATE].batches


def _not_found(what: str) -> web.Response:
    return json_response({"error": {"message": f"No such {what}", "type": "invalid_request_error",
                                    "param": None, "code": None}}, 404)


def _auth(request: web.Request) -> web.StreamResponse | None:
    key = request.app[STATE].settings.require_key
    problem = DIALECT.check_key(request, key) if key else None
    return None if problem is None else DIALECT.fault_response("auth", ErrorContext(message=problem))


async def upload_file(request: web.Request) -> web.StreamResponse:
    if (denied := _auth(request)) is not None:
        return denied
    form = await request.post()
    upload, purpose = form.get("file"), str(form.get("purpose") or "")
    if not isinstance(upload, web.FileField):
        problem = {"message": "'file' is required", "type": "invalid_request_error"}
        return json_response({"error": problem}, 400)
    data = upload.file.read()
    store = _store(request)
    if purpose == "batch":
        store.inputs.extend(orjson.loads(raw) for raw in data.splitlines() if raw.strip())
    return json_response(store.add_file(upload.filename, purpose, data))


async def get_file(request: web.Request) -> web.StreamResponse:
    file = _store(request).files.get(request.match_info["file_id"])
    return json_response(file) if file is not None else _not_found("file")


async def file_content(request: web.Request) -> web.StreamResponse:
    data = _store(request).contents.get(request.match_info["file_id"])
    if data is None:
        return _not_found("file")
    return web.Response(body=data, content_type="application/octet-stream")


async def delete_file(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    file_id = request.match_info["file_id"]
    if store.files.pop(file_id, None) is None:
        return _not_found("file")
    store.contents.pop(file_id, None)
    return json_response({"id": file_id, "object": "file", "deleted": True})


async def create_batch(request: web.Request) -> web.StreamResponse:
    if (denied := _auth(request)) is not None:
        return denied
    spec = orjson.loads(await request.read() or b"{}")
    store = _store(request)
    if spec.get("input_file_id") not in store.files:
        return _not_found("file")
    now = int(time.time())
    batch = {"id": new_id("batch_"), "object": "batch", "endpoint": spec.get("endpoint"), "errors": None,
             "input_file_id": spec["input_file_id"], "completion_window": "24h",
             "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": now,
             "in_progress_at": None, "expires_at": now + 86400, "completed_at": None, "cancelled_at": None,
             "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": spec.get("metadata")}
    store.batches[batch["id"]] = batch
    store.created += 1
    headers = {"authorization": request.headers.get("authorization", "")}
    task = asyncio.create_task(_run(request.app, batch, str(request.url.origin()), headers))
    store.running[batch["id"]] = task
    task.add_done_callback(lambda _: store.running.pop(batch["id"], None))
    return json_response(batch)


async def list_batches(request: web.Request) -> web.StreamResponse:
    ordered = sorted(_store(request).batches.values(), key=lambda b: (b["created_at"], b["id"]), reverse=True)
    after = request.query.get("after")
    if after:
        ids = [b["id"] for b in ordered]
        ordered = ordered[ids.index(after) + 1:] if after in ids else []
    limit = int(request.query.get("limit", "20"))
    page = ordered[:limit]
    return json_response({"object": "list", "data": page, "has_more": len(ordered) > limit,
                          "first_id": page[0]["id"] if page else None,
                          "last_id": page[-1]["id"] if page else None})


async def get_batch(request: web.Request) -> web.StreamResponse:
    batch = _store(request).batches.get(request.match_info["batch_id"])
    return json_response(batch) if batch is not None else _not_found("batch")


async def cancel_batch(request: web.Request) -> web.StreamResponse:
    batch = _store(request).batches.get(request.match_info["batch_id"])
    if batch is None:
        return _not_found("batch")
    store = _store(request)
    if batch["status"] == "validating":  # still waiting out batch_delay_ms: nothing ran, end it now
        task = store.running.pop(batch["id"], None)
        if task is not None:
            task.cancel()
        batch["status"] = "cancelling"
        _finish(store, batch, [], [_not_run(line, "batch_cancelled", CANCELLED)
                                    for line in _lines(store, batch)])
    elif batch["status"] == "in_progress":
        batch["status"] = "cancelling"
    return json_response(batch)


async def _run(app: web.Application, batch: dict[str, Any], origin: str, headers: dict[str, str]) -> None:
    """Wait, answer the lines one by one through the simulator's own endpoints, write the files."""
    store: SimBatches = app[STATE].batches
    await asyncio.sleep(app[STATE].settings.batch_delay_ms / 1000)
    lines = _lines(store, batch)
    batch["request_counts"]["total"] = len(lines)
    if store.outcome == "failed":
        batch.update(status="failed", errors={"object": "list", "data": [
            {"code": "invalid_request", "message": "The batch failed validation (simulated).", "line": 1}]})
        return
    if batch["status"] == "validating":
        batch.update(status="in_progress", in_progress_at=int(time.time()))
    output: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        for i, line in enumerate(lines):
            if batch["status"] == "cancelling":
                errors.append(_not_run(line, "batch_cancelled", CANCELLED))
            elif store.outcome == "expired" and i >= store.expire_after:
                errors.append(_not_run(line, "batch_expired", EXPIRED))
            else:
                async with session.post(origin + line["url"], json=line["body"], headers=headers) as resp:
                    body = await resp.json(loads=orjson.loads)
                    response = {"status_code": resp.status, "request_id": new_id("req_"), "body": body}
                    answer = {"id": new_id("batch_req_"), "custom_id": line["custom_id"], "error": None,
                              "response": response}
                (output if resp.status == 200 else errors).append(answer)
    _finish(store, batch, output, errors)


def _lines(store: SimBatches, batch: dict[str, Any]) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in store.contents[batch["input_file_id"]].splitlines() if raw.strip()]


def _not_run(line: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    return {"id": new_id("batch_req_"), "custom_id": line["custom_id"], "response": None,
            "error": {"code": code, "message": message}}


def _finish(store: SimBatches, batch: dict[str, Any], output: list[Any], errors: list[Any]) -> None:
    def write(rows: list[Any], name: str) -> str | None:
        if not rows:
            return None
        data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
        return str(store.add_file(name, "batch_output", data)["id"])

    status = "cancelled" if batch["status"] == "cancelling" else (
        "expired" if store.outcome == "expired" else "completed")
    batch.update(status=status, output_file_id=write(output, f"{batch['id']}_output.jsonl"),
                 error_file_id=write(errors, f"{batch['id']}_error.jsonl"),
                 request_counts={"total": len(output) + len(errors), "completed": len(output),
                                 "failed": len(errors)})
    batch[f"{status}_at"] = int(time.time())


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/files", upload_file),
        web.get("/v1/files/{file_id}", get_file),
        web.get("/v1/files/{file_id}/content", file_content),
        web.delete("/v1/files/{file_id}", delete_file),
        web.post("/v1/batches", create_batch),
        web.get("/v1/batches", list_batches),
        web.get("/v1/batches/{batch_id}", get_batch),
        web.post("/v1/batches/{batch_id}/cancel", cancel_batch),
    ]
