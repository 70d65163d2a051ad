"""`/v1/batches`: OpenAI's Batch API, run by Corral itself against any route.

HTTP only: validate, hand the batch to the runner (`corral.batches.runner`), format. Every
endpoint needs the `inference` scope and sees only the caller's team's batches; another
team's batch is answered exactly like a missing one (404).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.api.auth import authenticate, read_body
from corral.api.params import int_param, text_param
from corral.api.responses import json_response
from corral.api.wire import parse_json_object
from corral.batches.runner import BatchRunner
from corral.batches.types import COMPLETION_WINDOWS, ENDPOINTS, Batch, Submitter, batch_wire
from corral.core.context import Caller
from corral.core.errors import InvalidRequest, NotFound
from corral.files.errors import FileNotFound
from corral.store.schema import utcnow

MAX_BODY_BYTES = 64 * 1024
FIELDS = {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"}
MAX_METADATA_KEYS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512


def _runner(request: Request) -> BatchRunner:
    runner: BatchRunner = request.app.state.gateway.batches
    return runner


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS:
        raise InvalidRequest(f"'metadata' must be an object of at most {MAX_METADATA_KEYS} string pairs.",
                             param="metadata")
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY or not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            raise InvalidRequest(f"'metadata' keys are at most {MAX_METADATA_KEY} characters and values "
                                 f"strings of at most {MAX_METADATA_VALUE}; '{key[:80]}' is not.",
                                 param="metadata")
    return dict(value)


def _parse(data: dict[str, Any]) -> tuple[str, str, str, dict[str, str] | None]:
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument(s): {', '.join(unknown)}.", param=unknown[0])
    file_id = data.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise InvalidRequest("'input_file_id' is required: the id of a file uploaded with purpose 'batch'.",
                             param="input_file_id")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or endpoint not in ENDPOINTS:
        raise InvalidRequest(f"'endpoint' must be one of {', '.join(ENDPOINTS)}.", param="endpoint")
    window = data.get("completion_window")
    if not isinstance(window, str) or window not in COMPLETION_WINDOWS:
        raise InvalidRequest(f"'completion_window' must be one of {', '.join(COMPLETION_WINDOWS)}.",
                             param="completion_window")
    if data.get("output_expires_after") is not None:
        raise InvalidRequest("'output_expires_after' is not supported by Corral yet: output files expire "
                             "after files.default_expiry_s['batch_output'].", param="output_expires_after")
    return file_id, endpoint, window, _metadata(data.get("metadata"))


async def create_batch(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    runner = _runner(request)
    file_id, endpoint, window, metadata = _parse(parse_json_object(await read_body(request, MAX_BODY_BYTES)))
    try:
        found = await runner.files.get(file_id, caller.scope)
    except FileNotFound:
        raise NotFound(f"No file '{file_id}' in your team's files; upload it to /v1/files first.",
                       param="input_file_id") from None
    if found.purpose != "batch":
        raise InvalidRequest(f"File '{file_id}' was uploaded with purpose '{found.purpose}'; a batch reads "
                             "a file uploaded with purpose 'batch'.", param="input_file_id")
    now = utcnow()
    batch = Batch(id="batch_" + secrets.token_hex(16), submitter=_submitter(caller), endpoint=endpoint,
                  input_file_id=file_id, completion_window=window, status="validating", created_at=now,
                  expires_at=now + timedelta(seconds=COMPLETION_WINDOWS[window]), metadata=metadata)
    await runner.submit(batch)
    return json_response(batch_wire(batch, {}))


def _submitter(caller: Caller) -> Submitter:
    return Submitter(caller.key_id, caller.key_name, caller.team, tuple(sorted(caller.scopes)))


async def _found(request: Request, caller: Caller) -> Batch:
    batch_id = request.path_params["batch_id"]
    batch = await _runner(request).store.get(batch_id, caller.scope)
    if batch is None:
        raise NotFound(f"No batch '{batch_id}' in your team's batches.", param="batch_id")
    return batch


async def _wire(runner: BatchRunner, batch: Batch) -> dict[str, Any]:
    counts = await runner.queue.counts(batch.id)
    failed = sum(counts.get(s, 0) for s in ("failed", "expired"))
    return batch_wire(batch, {"completed": counts.get("completed", 0), "failed": failed})


async def get_batch(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    return json_response(await _wire(_runner(request), await _found(request, caller)))


async def cancel_batch(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    runner = _runner(request)
    batch = await _found(request, caller)
    if batch.final or batch.status in ("cancelling", "finalizing"):
        if batch.shown_status not in ("cancelling", "cancelled"):
            raise InvalidRequest(f"Batch '{batch.id}' is {batch.status}; only a validating or in-progress "
                                 "batch can be cancelled.", param="batch_id")
    else:
        await runner.cancel(batch)
    return json_response(await _wire(runner, await _found(request, caller)))


async def list_batches(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    runner = _runner(request)
    limit = int_param(request, "limit", default=20, low=1, high=100)
    page, more = await runner.store.list(caller.scope, after=text_param(request, "after"), limit=limit)
    data = [await _wire(runner, b) for b in page]
    return json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None, "has_more": more})


ROUTES = [
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
]
