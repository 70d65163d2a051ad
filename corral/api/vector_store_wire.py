"""The vector-store API's wire format: OpenAI's objects out, its request fields in, each
field checked with a 400 that names it (a bad value never reaches the database: PostgreSQL
refuses NUL characters in text, which would otherwise end as a 500).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import orjson
from starlette.requests import Request

from corral.api.params import check_text, int_param
from corral.core.errors import InvalidRequest
from corral.knowledge.filters import InvalidFilter, validate
from corral.knowledge.objects import (
    FILE_STATUSES,
    Attributes,
    Chunking,
    FileBatch,
    FileCounts,
    FileStatus,
    StoreFile,
    VectorStore,
)
from corral.knowledge.paging import Cursor
from corral.knowledge.types import Filter

MAX_PAIRS, MAX_KEY, MAX_VALUE = 16, 64, 512  # OpenAI's bounds for metadata and attributes
MAX_NAME, MAX_DESCRIPTION = 256, 512
MAX_FILTER_BYTES = 16 * 1024


def _unix(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp())


def store_wire(store: VectorStore, counts: FileCounts, usage_bytes: int, now: datetime) -> dict[str, Any]:
    """OpenAI's VectorStore object; status from the clock and the files' statuses."""
    status = "expired" if store.expired(now) else "in_progress" if counts.in_progress else "completed"
    expires_after = None if store.expires_after_days is None else {
        "anchor": "last_active_at", "days": store.expires_after_days}
    return {
        "id": store.id, "object": "vector_store", "created_at": _unix(store.created_at), "name": store.name,
        "description": store.description, "usage_bytes": usage_bytes, "file_counts": counts.wire(),
        "status": status, "expires_after": expires_after, "expires_at": _unix(store.expires_at),
        "last_active_at": _unix(store.last_active_at), "metadata": store.metadata or {},
    }


def file_wire(found: StoreFile) -> dict[str, Any]:
    """OpenAI's VectorStoreFile object."""
    return {
        "id": found.file_id, "object": "vector_store.file", "usage_bytes": found.usage_bytes,
        "created_at": _unix(found.created_at), "vector_store_id": found.store_id, "status": found.status,
        "last_error": found.last_error, "chunking_strategy": found.chunking.wire(),
        "attributes": found.attributes or {},
    }


def batch_wire(batch: FileBatch, counts: FileCounts) -> dict[str, Any]:
    """OpenAI's VectorStoreFileBatch object (`object` as the spec spells it)."""
    wire_counts = counts.wire()
    wire_counts["total"] = max(batch.total, counts.total)
    return {"id": batch.id, "object": "vector_store.files_batch", "created_at": _unix(batch.created_at),
            "vector_store_id": batch.store_id, "status": batch.wire_status(counts),
            "file_counts": wire_counts}


def page_wire(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": has_more}


# -- request fields -------------------------------------------------------------------------

def only_fields(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument(s): {', '.join(u[:80] for u in unknown)}.",
                             param=unknown[0][:80])


def text_field(data: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        need = "a non-empty string" if required else "a string"
        raise InvalidRequest(f"'{name}' must be {need} of at most {limit} characters.", param=name)
    return check_text(value, name)


def _pairs(value: Any, name: str, scalars: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    kinds = "strings (at most 512 characters), numbers or booleans" if scalars else "strings"
    rule = (f"'{name}' must be an object of at most {MAX_PAIRS} pairs: keys of at most {MAX_KEY} "
            f"characters, values {kinds}.")
    if not isinstance(value, dict) or len(value) > MAX_PAIRS:
        raise InvalidRequest(rule, param=name)
    for key, item in value.items():
        ok = isinstance(item, str) or (scalars and isinstance(item, int | float | bool))
        if len(key) > MAX_KEY or "\x00" in key or not ok or (
                isinstance(item, str) and (len(item) > MAX_VALUE or "\x00" in item)):
            raise InvalidRequest(f"{rule} '{key[:80]}' is not.", param=f"{name}.{key[:80]}")
    return dict(value)


def metadata_field(data: dict[str, Any]) -> dict[str, str] | None:
    return _pairs(data.get("metadata"), "metadata", scalars=False)


def attributes_field(data: dict[str, Any], param: str = "attributes") -> Attributes | None:
    """`attributes` of `data`; `param` names it in errors (files[3].attributes)."""
    return _pairs(data.get("attributes"), param, scalars=True)


def chunking_field(data: dict[str, Any], auto: Chunking, name: str = "chunking_strategy") -> Chunking:
    """`chunking_strategy` of `data` (`name` in errors): OpenAI's `auto` (Corral's
    `knowledge.auto_*` settings) or `static` strategy."""
    value = data.get("chunking_strategy")
    if value is None:
        return auto
    if not isinstance(value, dict) or value.get("type") not in ("auto", "static"):
        raise InvalidRequest(f"'{name}' must be {{\"type\": \"auto\"}} or {{\"type\": \"static\", "
                             "\"static\": {\"max_chunk_size_tokens\": ..., \"chunk_overlap_tokens\": ...}}.",
                             param=name)
    if value["type"] == "auto":
        only_fields(value, {"type"})
        return auto
    only_fields(value, {"type", "static"})
    static = value.get("static")
    if not isinstance(static, dict):
        raise InvalidRequest(f"'{name}.static' must be an object.", param=f"{name}.static")
    only_fields(static, {"max_chunk_size_tokens", "chunk_overlap_tokens"})
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or isinstance(size, bool) or not 100 <= size <= 4096:
        raise InvalidRequest(f"'{name}.static.max_chunk_size_tokens' must be a whole number from 100 to "
                             "4096.", param=f"{name}.static.max_chunk_size_tokens")
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 0 <= overlap <= size // 2:
        raise InvalidRequest(f"'{name}.static.chunk_overlap_tokens' must be a whole number from 0 to half of "
                             "max_chunk_size_tokens.", param=f"{name}.static.chunk_overlap_tokens")
    return Chunking(size, overlap)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expires_after_field(data: dict[str, Any]) -> int | None:
    """`expires_after` ({anchor: last_active_at, days: 1..365}) as days; None: never."""
    value = data.get("expires_after")
    if value is None:
        return None
    if (not isinstance(value, dict) or set(value) != {"anchor", "days"} or value["anchor"] != "last_active_at"
            or not _whole(value["days"]) or not 1 <= value["days"] <= 365):
        raise InvalidRequest("'expires_after' must be {\"anchor\": \"last_active_at\", \"days\": 1 to 365}.",
                             param="expires_after")
    return int(value["days"])


def filter_field(value: Any) -> Filter:
    """OpenAI's attribute filter, checked as the indexes read it (corral.knowledge.filters),
    bounded in size (it is compiled into a query) and free of NUL characters (PostgreSQL
    refuses them in text)."""
    try:
        validate(value)
    except InvalidFilter as exc:
        where, _, why = str(exc).partition(": ")
        raise InvalidRequest(f"Invalid filter at '{where}': {why}.", param=where) from None
    text = orjson.dumps(value)
    if len(text) > MAX_FILTER_BYTES or b"\\u0000" in text:
        raise InvalidRequest(f"'filters' must be at most {MAX_FILTER_BYTES} bytes of JSON, without NUL "
                             "characters.", param="filters")
    return cast(Filter, value)


def cursor_params(request: Request) -> Cursor:
    """`limit` (1-100, default 20), `order` (asc|desc, default desc), `after`, `before`."""
    query = request.query_params
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"'order' must be 'asc' or 'desc', not {order[:40]!r}.", param="order")
    after = check_text(query.get("after") or None, "after")
    before = check_text(query.get("before") or None, "before")
    if after and before:
        raise InvalidRequest("Pass 'after' or 'before', not both.", param="before")
    limit = int_param(request, "limit", default=20, low=1, high=100)
    return Cursor(limit, "asc" if order == "asc" else "desc", after, before)


def status_param(request: Request) -> FileStatus | None:
    value = request.query_params.get("filter") or None
    if value is None:
        return None
    for status in FILE_STATUSES:
        if value == status:
            return status
    raise InvalidRequest(f"'filter' must be one of {', '.join(FILE_STATUSES)}, not {value[:40]!r}.",
                         param="filter")
