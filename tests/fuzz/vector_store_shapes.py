"""Request shapes for `/v1/vector_stores` (merged into `tests.fuzz.shapes.SHAPES`).

Store ids come from the pool when the campaign has harvested some (ids starting `vs_`),
else odd ones; file ids from the files the fuzzer uploaded.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tests.fuzz.shapes import Builder, Case, Pool, _text
from tests.fuzz.values import odd_string

BASE = "/v1/vector_stores"
Body = Callable[[random.Random, Pool], Any]
_CHUNKING = [{"type": "auto"}, {"type": "static", "static": {"max_chunk_size_tokens": 400,
                                                             "chunk_overlap_tokens": 100}},
             {"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 40}}]


def _odd_ref(rng: random.Random, prefix: str) -> str:
    return rng.choice([prefix + "0" * 32, prefix, "x" * 300, "%00",
                       quote(odd_string(rng).encode("utf-8", "surrogatepass"), safe="")])


def _store_ref(rng: random.Random, pool: Pool) -> str:
    made = [r for r in pool.response_ids if r.startswith("vs_")]
    return pool.pick(rng, made, _odd_ref(rng, "vs_"))


def _file_ref(rng: random.Random, pool: Pool) -> str:
    return pool.pick(rng, pool.file_ids, _odd_ref(rng, "file-"))


def _attributes(rng: random.Random) -> Any:
    return rng.choice([{"topic": "a", "year": 2024, "public": True}, {}, None, {"k": [1]},
                       {str(i): i for i in range(20)}, {"x" * 70: "y"}, "x"])


def _filter(rng: random.Random, depth: int = 0) -> Any:
    if depth < 2 and rng.random() < 0.3:
        return {"type": rng.choice(["and", "or"]), "filters": [_filter(rng, depth + 1)
                                                               for _ in range(rng.randint(0, 3))]}
    kind = rng.choice(["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "like"])
    value = rng.choice(["a", 2024, 1.5, True, ["a", "b"], [], None, {"x": 1}])
    return {"type": kind, "key": rng.choice(["topic", "year", "", "x" * 70]), "value": value}


def create_store(rng: random.Random, pool: Pool) -> Case:
    body: dict[str, Any] = {}
    for name, value in (("name", rng.choice(["docs", "", "x" * 300, _text(rng)])),
                        ("description", _text(rng)), ("metadata", rng.choice([{"k": "v"}, {"k": 1}, "x"])),
                        ("expires_after", rng.choice([{"anchor": "last_active_at", "days": 7},
                                                      {"anchor": "created_at", "days": 7},
                                                      {"anchor": "last_active_at", "days": 0}])),
                        ("chunking_strategy", rng.choice(_CHUNKING)),
                        ("file_ids", [_file_ref(rng, pool) for _ in range(rng.randint(0, 2))])):
        if rng.random() < 0.4:
            body[name] = value
    return Case(f"POST {BASE}", "POST", BASE, json=body,
                hotspots=[("metadata",), ("expires_after",), ("chunking_strategy",)])


def _store_route(method: str, suffix: str = "", queries: tuple[str, ...] = ("",),
                 body: Body | None = None) -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        json = body(rng, pool) if body is not None else None
        return Case(f"{method} {BASE}/{{vector_store_id}}{suffix}", method,
                    f"{BASE}/{_store_ref(rng, pool)}{suffix}", query=rng.choice(queries), json=json,
                    content_type="application/json" if json is not None else None)
    return build


def _modify(rng: random.Random, pool: Pool) -> Any:
    return rng.choice([{"name": "renamed"}, {"metadata": None}, {"expires_after": None},
                       {"expires_after": {"anchor": "last_active_at", "days": 400}}, {"name": 5}])


def _search(rng: random.Random, pool: Pool) -> Any:
    body: dict[str, Any] = {"query": rng.choice(["refunds", ["a", "b"], "", [], _text(rng)])}
    if rng.random() < 0.5:
        body["filters"] = _filter(rng)
    if rng.random() < 0.3:
        body["max_num_results"] = rng.choice([1, 10, 50, 0, 51, "5"])
    if rng.random() < 0.3:
        body["ranking_options"] = rng.choice([{"score_threshold": 0.5}, {"ranker": "none"},
                                              {"score_threshold": 2}, {"ranker": "auto", "extra": 1}])
    if rng.random() < 0.1:
        body["rewrite_query"] = rng.choice([False, True])
    return body


def _attach(rng: random.Random, pool: Pool) -> Any:
    body: dict[str, Any] = {"file_id": _file_ref(rng, pool)}
    if rng.random() < 0.4:
        body["attributes"] = _attributes(rng)
    if rng.random() < 0.3:
        body["chunking_strategy"] = rng.choice(_CHUNKING)
    return body


def _batch(rng: random.Random, pool: Pool) -> Any:
    if rng.random() < 0.5:
        return {"file_ids": [_file_ref(rng, pool) for _ in range(rng.randint(0, 3))],
                "attributes": _attributes(rng)}
    return {"files": [_attach(rng, pool) for _ in range(rng.randint(0, 3))]}


def _reembed(rng: random.Random, pool: Pool) -> Any:
    """Corral's extension: a route name that embeds, one that only chats, none, a bad type."""
    return rng.choice([{"model": "all-minilm-l6-v2"}, {"model": "gpt-4o-mini"}, {"model": ""}, {"model": 5},
                       {"model": "m" * 300}, {}, {"model": "all-minilm-l6-v2", "extra": 1}, [], None])


def _file_route(method: str, suffix: str = "", queries: tuple[str, ...] = ("",),
                body: Body | None = None) -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        json = body(rng, pool) if body is not None else None
        return Case(f"{method} {BASE}/{{vector_store_id}}/files/{{file_id}}{suffix}", method,
                    f"{BASE}/{_store_ref(rng, pool)}/files/{_file_ref(rng, pool)}{suffix}",
                    query=rng.choice(queries), json=json,
                    content_type="application/json" if json is not None else None)
    return build


def _batch_route(method: str, suffix: str = "", queries: tuple[str, ...] = ("",)) -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        return Case(f"{method} {BASE}/{{vector_store_id}}/file_batches/{{batch_id}}{suffix}", method,
                    f"{BASE}/{_store_ref(rng, pool)}/file_batches/{_odd_ref(rng, 'vsfb_')}{suffix}",
                    query=rng.choice(queries), json=None, content_type=None)
    return build


_PAGES = ("", "limit=2", "order=asc&limit=1", "after=vs_x", "before=vs_x", "after=a&before=b", "limit=0",
          "limit=101", "order=up")
_FILE_PAGES = (*_PAGES, "filter=completed", "filter=failed", "filter=done")

VECTOR_STORE_SHAPES: dict[str, Builder] = {
    f"POST {BASE}": create_store,
    f"GET {BASE}": lambda rng, pool: Case(f"GET {BASE}", "GET", BASE, query=rng.choice(_PAGES), json=None,
                                          content_type=None),
    f"GET {BASE}/{{vector_store_id}}": _store_route("GET"),
    f"POST {BASE}/{{vector_store_id}}": _store_route("POST", body=_modify),
    f"DELETE {BASE}/{{vector_store_id}}": _store_route("DELETE"),
    f"POST {BASE}/{{vector_store_id}}/search": _store_route("POST", "/search", body=_search),
    f"POST {BASE}/{{vector_store_id}}/reembed": _store_route("POST", "/reembed", body=_reembed),
    f"POST {BASE}/{{vector_store_id}}/files": _store_route("POST", "/files", body=_attach),
    f"GET {BASE}/{{vector_store_id}}/files": _store_route("GET", "/files", _FILE_PAGES),
    f"GET {BASE}/{{vector_store_id}}/files/{{file_id}}": _file_route("GET"),
    f"POST {BASE}/{{vector_store_id}}/files/{{file_id}}": _file_route(
        "POST", body=lambda rng, pool: {"attributes": _attributes(rng)}),
    f"DELETE {BASE}/{{vector_store_id}}/files/{{file_id}}": _file_route("DELETE"),
    f"GET {BASE}/{{vector_store_id}}/files/{{file_id}}/content": _file_route("GET", "/content"),
    f"POST {BASE}/{{vector_store_id}}/file_batches": _store_route("POST", "/file_batches", body=_batch),
    f"GET {BASE}/{{vector_store_id}}/file_batches/{{batch_id}}": _batch_route("GET"),
    f"POST {BASE}/{{vector_store_id}}/file_batches/{{batch_id}}/cancel": _batch_route("POST", "/cancel"),
    f"GET {BASE}/{{vector_store_id}}/file_batches/{{batch_id}}/files": _batch_route("GET", "/files",
                                                                                   _FILE_PAGES),
}
