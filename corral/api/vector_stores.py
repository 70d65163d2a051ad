"""`/v1/vector_stores`: OpenAI's vector stores (create, list, retrieve, modify, delete) and
their search. Files and file batches are in `corral.api.vector_store_files`.

`POST /v1/vector_stores/{id}/reembed` is Corral's own (docs/knowledge.md, "Re-embedding a
store"). HTTP only: validate, call `corral.knowledge` (tables, queue, index), format. Every endpoint
needs the `inference` scope and sees only the caller's team's stores; another team's store
is answered exactly like a missing one (404).
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
from corral.api.vector_store_files import ROUTES as FILE_ROUTES
from corral.api.vector_store_files import attach_ids, found_store, knowledge, opened
from corral.api.vector_store_wire import (
    MAX_DESCRIPTION,
    MAX_NAME,
    chunking_field,
    cursor_params,
    expires_after_field,
    filter_field,
    metadata_field,
    only_fields,
    page_wire,
    store_wire,
    text_field,
)
from corral.api.wire import parse_json_object
from corral.core.errors import InvalidRequest
from corral.knowledge.objects import Chunking, VectorStore
from corral.knowledge.service import Knowledge
from corral.knowledge.stores import expiry
from corral.knowledge.types import Hit
from corral.store.schema import utcnow

MAX_BODY_BYTES = 256 * 1024
MAX_CREATE_FILES = 500  # OpenAI's bound for file_ids at creation
MAX_QUERIES, MAX_QUERY_CHARS = 10, 4096
MAX_MODEL = 200  # vector_stores.embed_model's width
CREATE_FIELDS = {"name", "description", "metadata", "expires_after", "chunking_strategy", "file_ids"}
SEARCH_FIELDS = {"query", "max_num_results", "filters", "ranking_options", "rewrite_query"}


async def _body(request: Request) -> dict[str, Any]:
    return parse_json_object(await read_body(request, MAX_BODY_BYTES))


async def wire_of(kb: Knowledge, store: VectorStore) -> dict[str, Any]:
    await kb.settle(store.id)
    counts = await kb.stores.counts([store.id])
    usage = await kb.stores.usage([store.id])
    return store_wire(store, counts[store.id], usage[store.id], utcnow())


async def create_store(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    kb = knowledge(request)
    data = await _body(request)
    only_fields(data, CREATE_FIELDS)
    auto = Chunking(kb.settings.auto_chunk_tokens, kb.settings.auto_overlap_tokens)
    chunking = chunking_field(data, auto)
    days = expires_after_field(data)
    file_ids = data.get("file_ids")
    if file_ids is not None and (not isinstance(file_ids, list) or len(file_ids) > MAX_CREATE_FILES):
        raise InvalidRequest(f"'file_ids' must be a list of at most {MAX_CREATE_FILES} file ids.",
                             param="file_ids")
    now = utcnow()
    store = VectorStore(
        id="vs_" + secrets.token_hex(16), team=caller.team, key_id=caller.key_id,
        name=text_field(data, "name", MAX_NAME) or "",
        description=text_field(data, "description", MAX_DESCRIPTION),
        metadata=metadata_field(data), created_at=now, last_active_at=now, expires_after_days=days,
        expires_at=expiry(days, now), embed_model=kb.embedding_route(), chunking=chunking)
    adds = await attach_ids(kb, caller, file_ids, None, chunking) if file_ids else []
    await kb.stores.create(store)
    if adds:
        await kb.add_files(store, adds, caller.key_id)
    return json_response(await wire_of(kb, store))


async def list_stores(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    kb = knowledge(request)
    page = await kb.stores.page(caller.scope, cursor_params(request))
    ids = [s.id for s in page.items]
    counts, usage, now = await kb.stores.counts(ids), await kb.stores.usage(ids), utcnow()
    return json_response(page_wire([store_wire(s, counts[s.id], usage[s.id], now) for s in page.items],
                                   page.has_more))


async def get_store(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    return json_response(await wire_of(knowledge(request), await found_store(request, caller)))


async def modify_store(request: Request) -> Response:
    _caller, kb, store = await opened(request)
    data = await _body(request)
    only_fields(data, {"name", "metadata", "expires_after"})
    changes: dict[str, Any] = {"name": text_field(data, "name", MAX_NAME)}
    if "metadata" in data:
        changes["metadata"] = metadata_field(data)
    if "expires_after" in data:
        changes["expires_after_days"] = expires_after_field(data)
    return json_response(await wire_of(kb, await kb.stores.update(store, **changes)))


async def reembed_store(request: Request) -> Response:
    """Corral's extension (OpenAI has no such operation): re-embed the store with another
    embeddings route, its files re-ingested on the queue; answers the store, `in_progress`."""
    caller, kb, store = await opened(request)
    data = await _body(request)
    only_fields(data, {"model"})
    model = data.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > MAX_MODEL:
        raise InvalidRequest(f"'model' must be the name of one of the gateway's embeddings routes (at most "
                             f"{MAX_MODEL} characters).", param="model")
    return json_response(await wire_of(kb, await kb.reembed(store, model, caller)))


async def delete_store(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    store = await found_store(request, caller, deleting=True)
    await knowledge(request).delete_store(store)
    return json_response({"id": store.id, "object": "vector_store.deleted", "deleted": True})


def _queries(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if (not isinstance(items, list) or not items or len(items) > MAX_QUERIES
            or not all(isinstance(q, str) and q.strip() and len(q) <= MAX_QUERY_CHARS for q in items)):
        raise InvalidRequest(f"'query' must be a non-empty string, or a list of 1 to {MAX_QUERIES} of them, "
                             f"each at most {MAX_QUERY_CHARS} characters.", param="query")
    return [check_text(q, "query") or "" for q in items]


def _search_options(data: dict[str, Any]) -> tuple[int, float]:
    k = data.get("max_num_results", 10)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 50:
        raise InvalidRequest("'max_num_results' must be a whole number from 1 to 50.",
                             param="max_num_results")
    if data.get("rewrite_query") not in (None, False):
        raise InvalidRequest("'rewrite_query' is not supported by Corral: the query is searched as sent. "
                             "Leave it out, or send false.", param="rewrite_query")
    ranking = data.get("ranking_options") or {}
    if not isinstance(ranking, dict):
        raise InvalidRequest("'ranking_options' must be an object.", param="ranking_options")
    only_fields(ranking, {"ranker", "score_threshold"})
    if ranking.get("ranker", "auto") not in ("auto", "none", "default-2024-11-15"):
        raise InvalidRequest("'ranking_options.ranker' must be 'auto', 'none' or 'default-2024-11-15'.",
                             param="ranking_options.ranker")
    threshold = ranking.get("score_threshold", 0.0)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 <= threshold <= 1:
        raise InvalidRequest("'ranking_options.score_threshold' must be a number from 0 to 1.",
                             param="ranking_options.score_threshold")
    return k, float(threshold)


async def search_store(request: Request) -> Response:
    caller, kb, store = await opened(request)
    data = await _body(request)
    only_fields(data, SEARCH_FIELDS)
    queries = _queries(data.get("query"))
    k, threshold = _search_options(data)
    filters = None if data.get("filters") is None else filter_field(data["filters"])
    if store.expired(utcnow()):
        raise InvalidRequest(f"Vector store {store.id} has expired (expires_after); create a new one.",
                             param="vector_store_id")
    hits = await kb.search(store, caller, queries, k, filters, threshold)
    return json_response({"object": "vector_store.search_results.page", "search_query": queries,
                          "data": await _results(kb, store, hits), "has_more": False, "next_page": None})


async def _results(kb: Knowledge, store: VectorStore, hits: list[Hit]) -> list[dict[str, Any]]:
    """OpenAI's search result items; filenames and attributes as the files have them now (a
    hit of a file removed since is left out)."""
    files = await kb.files.find(store.id, [h.chunk.file_id for h in hits])
    return [{"file_id": f.file_id, "filename": f.filename, "score": round(min(max(h.score, 0.0), 1.0), 6),
             "attributes": f.attributes or {}, "content": [{"type": "text", "text": h.chunk.text}]}
            for h in hits if (f := files.get(h.chunk.file_id)) is not None]


ROUTES = [
    Route("/v1/vector_stores", create_store, methods=["POST"]),
    Route("/v1/vector_stores", list_stores, methods=["GET"]),
    Route("/v1/vector_stores/{vector_store_id}", get_store, methods=["GET"]),
    Route("/v1/vector_stores/{vector_store_id}", modify_store, methods=["POST"]),
    Route("/v1/vector_stores/{vector_store_id}", delete_store, methods=["DELETE"]),
    Route("/v1/vector_stores/{vector_store_id}/search", search_store, methods=["POST"]),
    Route("/v1/vector_stores/{vector_store_id}/reembed", reembed_store, methods=["POST"]),
    *FILE_ROUTES,
]
