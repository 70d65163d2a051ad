"""`/v1/vector_stores/{id}/files` and `/file_batches`: attach files from `/v1/files` to a
store, follow their ingestion, read their parsed text, remove them.

A file is attached by id: it must be the caller's team's file (another team's is a 404
exactly like a missing one) uploaded with purpose `assistants` or `user_data`. Attaching
queues its ingestion (corral.knowledge.ingest); the answer is `in_progress` at once, and
retrieving it while it is carries OpenAI's `openai-poll-after-ms` hint for the SDKs' poll
helpers.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.api.auth import authenticate, read_body
from corral.api.params import check_text
from corral.api.responses import json_response
from corral.api.vector_store_wire import (
    attributes_field,
    batch_wire,
    chunking_field,
    cursor_params,
    file_wire,
    only_fields,
    page_wire,
    status_param,
)
from corral.api.wire import parse_json_object
from corral.core.context import Caller
from corral.core.errors import InvalidRequest, NotFound
from corral.files.errors import FileNotFound
from corral.knowledge.objects import Attributes, Chunking, FileBatch, StoreFile, VectorStore
from corral.knowledge.service import Knowledge
from corral.knowledge.store_files import Attach
from corral.knowledge.wiring import knowledge_for
from corral.store.schema import utcnow

MAX_BODY_BYTES = 1024 * 1024  # a batch of 2,000 files, each with attributes
MAX_BATCH_FILES = 2000  # OpenAI's bound per file batch
PURPOSES = ("assistants", "user_data")


def knowledge(request: Request) -> Knowledge:
    return knowledge_for(request.app.state.gateway)


async def found_store(request: Request, caller: Caller, *, deleting: bool = False) -> VectorStore:
    store_id = check_text(request.path_params["vector_store_id"], "vector_store_id") or ""
    return await knowledge(request).stores.get(store_id, caller.scope, deleting=deleting)


async def opened(request: Request) -> tuple[Caller, Knowledge, VectorStore]:
    """The caller, the knowledge base and the caller's store the path names (404 otherwise)."""
    caller = await authenticate(request, "inference")
    return caller, knowledge(request), await found_store(request, caller)


async def _found_file(request: Request, kb: Knowledge, store: VectorStore) -> StoreFile:
    file_id = check_text(request.path_params["file_id"], "file_id") or ""
    return await kb.files.get(store.id, file_id)


async def _body(request: Request) -> dict[str, Any]:
    return parse_json_object(await read_body(request, MAX_BODY_BYTES))


def _poll_hint(kb: Knowledge, busy: bool) -> dict[str, str] | None:
    return {"openai-poll-after-ms": str(kb.settings.poll_after_ms)} if busy else None


async def attach_ids(kb: Knowledge, caller: Caller, file_ids: list[Any], attributes: Attributes | None,
                     chunking: Chunking, param: str = "file_ids") -> list[Attach]:
    """Check each id names a document of the caller's team; one Attach per distinct id."""
    return [await _attach(kb, caller, file_id, attributes, chunking, f"{param}[{i}]")
            for i, file_id in enumerate(dict.fromkeys(file_ids))]


async def _attach(kb: Knowledge, caller: Caller, file_id: Any, attributes: Attributes | None,
                  chunking: Chunking, param: str) -> Attach:
    if not isinstance(file_id, str) or not file_id or len(file_id) > 64:
        raise InvalidRequest(f"'{param}' must be a file id (file-...).", param=param)
    check_text(file_id, param)
    try:
        found = await kb.uploads.get(file_id, caller.scope)
    except FileNotFound:
        raise NotFound(f"No such File object: {file_id}. Upload it to /v1/files first (purpose "
                       "'assistants').", param=param) from None
    if found.purpose not in PURPOSES:
        raise InvalidRequest(f"File {file_id} was uploaded with purpose '{found.purpose}'; vector stores "
                             f"take files uploaded with purpose {' or '.join(PURPOSES)}.", param=param)
    return Attach(file_id, found.filename, attributes, chunking)


def _default_chunking(kb: Knowledge) -> Chunking:
    return Chunking(kb.settings.auto_chunk_tokens, kb.settings.auto_overlap_tokens)


async def create_file(request: Request) -> Response:
    caller, kb, store = await opened(request)
    data = await _body(request)
    only_fields(data, {"file_id", "attributes", "chunking_strategy"})
    if not isinstance(data.get("file_id"), str):
        raise InvalidRequest("'file_id' is required: the id of a file uploaded to /v1/files.",
                             param="file_id")
    add = await _attach(kb, caller, data["file_id"], attributes_field(data),
                        chunking_field(data, _default_chunking(kb)), "file_id")
    added = await kb.add_files(store, [add], caller.key_id)
    return json_response(file_wire(added[0]))


async def list_files(request: Request) -> Response:
    _caller, kb, store = await opened(request)
    await kb.settle(store.id)
    page = await kb.files.page(store.id, cursor_params(request), status=status_param(request))
    return json_response(page_wire([file_wire(f) for f in page.items], page.has_more))


async def get_file(request: Request) -> Response:
    _caller, kb, store = await opened(request)
    await kb.settle(store.id)
    found = await _found_file(request, kb, store)
    return json_response(file_wire(found), headers=_poll_hint(kb, found.status == "in_progress"))


async def update_file(request: Request) -> Response:
    """New attributes. The file's chunks carry them for filtering, so it is ingested again
    (`in_progress` until then; its old chunks are searchable meanwhile)."""
    caller, kb, store = await opened(request)
    found = await _found_file(request, kb, store)
    data = await _body(request)
    only_fields(data, {"attributes"})
    if "attributes" not in data:
        raise InvalidRequest("'attributes' is required (null clears them).", param="attributes")
    attributes = attributes_field(data)
    if found.status in ("in_progress", "completed"):
        again = Attach(found.file_id, found.filename, attributes, found.chunking)
        found = (await kb.add_files(store, [again], caller.key_id))[0]
    else:
        await kb.files.set_attributes(store.id, found.file_id, attributes)
        found = await kb.files.get(store.id, found.file_id)
    return json_response(file_wire(found))


async def delete_file(request: Request) -> Response:
    _caller, kb, store = await opened(request)
    found = await _found_file(request, kb, store)
    await kb.remove_file(store, found)
    return json_response({"id": found.file_id, "object": "vector_store.file.deleted", "deleted": True})


async def file_content(request: Request) -> Response:
    """The file's text as the parser read it, one item per block (heading, paragraph,
    table); empty until the file is ingested."""
    _caller, kb, store = await opened(request)
    found = await _found_file(request, kb, store)
    texts = await kb.files.texts(store.id, found.file_id) if found.status == "completed" else []
    return json_response({"object": "vector_store.file_content.page", "file_id": found.file_id,
                          "filename": found.filename, "data": [{"type": "text", "text": t} for t in texts],
                          "has_more": False, "next_page": None})


# -- file batches ---------------------------------------------------------------------------

async def _batch_adds(kb: Knowledge, caller: Caller, data: dict[str, Any]) -> list[Attach]:
    only_fields(data, {"file_ids", "files", "attributes", "chunking_strategy"})
    ids, files = data.get("file_ids"), data.get("files")
    if (ids is None) == (files is None):
        raise InvalidRequest("Send 'file_ids' (with optional 'attributes' and 'chunking_strategy' for all) "
                             "or 'files' (each with its own), not both.", param="file_ids")
    for name, listed in (("file_ids", ids), ("files", files)):
        if listed is not None and (not isinstance(listed, list) or not 1 <= len(listed) <= MAX_BATCH_FILES):
            raise InvalidRequest(f"'{name}' must be a list of 1 to {MAX_BATCH_FILES} files.", param=name)
    if ids is not None:
        return await attach_ids(kb, caller, ids, attributes_field(data),
                                chunking_field(data, _default_chunking(kb)))
    if data.get("attributes") is not None or data.get("chunking_strategy") is not None:
        raise InvalidRequest("With 'files', give 'attributes' and 'chunking_strategy' per file.",
                             param="attributes")
    adds: dict[str, Attach] = {}
    for i, entry in enumerate(files or []):
        param = f"files[{i}]"
        if not isinstance(entry, dict):
            raise InvalidRequest(f"'{param}' must be an object with 'file_id'.", param=param)
        only_fields(entry, {"file_id", "attributes", "chunking_strategy"})
        add = await _attach(kb, caller, entry.get("file_id"), attributes_field(entry, f"{param}.attributes"),
                            chunking_field(entry, _default_chunking(kb), f"{param}.chunking_strategy"),
                            f"{param}.file_id")
        adds.setdefault(add.file_id, add)
    return list(adds.values())


async def _batch_response(kb: Knowledge, store: VectorStore, batch: FileBatch) -> Response:
    await kb.settle(store.id)
    counts = await kb.files.batch_counts(batch.id)
    return json_response(batch_wire(batch, counts), headers=_poll_hint(kb, counts.in_progress > 0))


async def create_batch(request: Request) -> Response:
    caller, kb, store = await opened(request)
    adds = await _batch_adds(kb, caller, await _body(request))
    batch = FileBatch("vsfb_" + secrets.token_hex(16), store.id, store.team, "in_progress", len(adds),
                      utcnow())
    await kb.add_files(store, adds, caller.key_id, batch=batch)
    return await _batch_response(kb, store, batch)


async def _found_batch(request: Request, kb: Knowledge, store: VectorStore) -> FileBatch:
    return await kb.files.batch(store.id, check_text(request.path_params["batch_id"], "batch_id") or "")


async def get_batch(request: Request) -> Response:
    _caller, kb, store = await opened(request)
    return await _batch_response(kb, store, await _found_batch(request, kb, store))


async def cancel_batch(request: Request) -> Response:
    _caller, kb, store = await opened(request)
    batch = await _found_batch(request, kb, store)
    counts = await kb.files.batch_counts(batch.id)
    if batch.status != "cancelled":
        if not counts.in_progress:
            raise InvalidRequest(f"File batch {batch.id} is {batch.wire_status(counts)}; only a batch in "
                                 "progress can be cancelled.", param="batch_id")
        await kb.cancel_batch(store, batch)
        batch = await kb.files.batch(store.id, batch.id)
    return await _batch_response(kb, store, batch)


async def list_batch_files(request: Request) -> Response:
    _caller, kb, store = await opened(request)
    batch = await _found_batch(request, kb, store)
    await kb.settle(store.id)
    page = await kb.files.page(store.id, cursor_params(request), status=status_param(request),
                               batch_id=batch.id)
    return json_response(page_wire([file_wire(f) for f in page.items], page.has_more))


BASE = "/v1/vector_stores/{vector_store_id}"
ROUTES = [
    Route(f"{BASE}/files", create_file, methods=["POST"]),
    Route(f"{BASE}/files", list_files, methods=["GET"]),
    Route(f"{BASE}/files/{{file_id}}", get_file, methods=["GET"]),
    Route(f"{BASE}/files/{{file_id}}", update_file, methods=["POST"]),
    Route(f"{BASE}/files/{{file_id}}", delete_file, methods=["DELETE"]),
    Route(f"{BASE}/files/{{file_id}}/content", file_content, methods=["GET"]),
    Route(f"{BASE}/file_batches", create_batch, methods=["POST"]),
    Route(f"{BASE}/file_batches/{{batch_id}}", get_batch, methods=["GET"]),
    Route(f"{BASE}/file_batches/{{batch_id}}/cancel", cancel_batch, methods=["POST"]),
    Route(f"{BASE}/file_batches/{{batch_id}}/files", list_batch_files, methods=["GET"]),
]
