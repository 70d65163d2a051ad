"""Exact response cache over the shared KV (memory or Redis).

It backs two features: when every deployment of a route failed, the router may answer
with an identical request's earlier answer, marked degraded; and a route with
``cache.exact`` answers identical requests from it on the normal path (corral.cache.stage).

What is cached — only complete, ordinary answers:

* ``finish_reason`` ``stop`` or ``length`` with text content. ``content_filter``
  answers are never cached (replaying a provider's refusal hides later policy
  changes), nor are empty or unfinished ones. Errors are exceptions and never reach here.
* Answers with tool calls only for routes with ``cache.exact`` (``tools_ok``): a tool
  call makes the client act (send, buy, delete), and replaying a stale decision, with a
  reused call id, while the providers are down is the wrong default for a silent
  fallback, so :meth:`ExactCache.get` (the fallback's read) never returns one. A route
  that opted in asked for identical requests (tools are in the key) to get the same answer.
* Nothing larger than ``max_bytes`` serialised, so one huge answer cannot crowd
  Redis memory.

Where entries live: in Redis when the KV is Redis (bounded by its ``maxmemory``), else in
a byte-bounded LRU of this process (:func:`cache_store`), never in the shared in-process
KV, which has no bound.

Cache trouble (Redis down, a corrupt entry) is counted and logged, never raised: the
cache is a fallback, and it must not add a failure of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from corral.cache.memory import DEFAULT_MAX_BYTES, BoundedMemoryStore
from corral.cache.owners import OwnerKind, owner_tag
from corral.core.types import ChatResponse, ToolCall, Usage
from corral.store.kv import KV

log = logging.getLogger("corral.cache")

# v2 adds tool calls and the answer's origin (model, provider, latency: what a hit saved).
# v1 entries still read; a v1 process drops v2 entries as unreadable during a rolling upgrade.
FORMAT_VERSION = 2
READABLE_VERSIONS = frozenset({1, 2})
CACHEABLE_FINISH = frozenset({"stop", "length"})


@dataclass(frozen=True, slots=True)
class Entry:
    """A decoded entry: the answer, when it was stored (unix seconds) and how it was made."""

    response: ChatResponse
    cached_at: float
    origin: dict[str, Any]


def cache_store(kv: KV, max_total_bytes: int = DEFAULT_MAX_BYTES) -> KV | BoundedMemoryStore:
    """Where cached answers live: the KV when it is shared (Redis), else a bounded LRU."""
    return BoundedMemoryStore(max_total_bytes) if kv.local else kv


def _usage(data: dict[str, Any] | None) -> Usage | None:
    if data is None:
        return None
    return Usage(
        input_tokens=int(data.get("input_tokens", 0)),
        output_tokens=int(data.get("output_tokens", 0)),
        cached_tokens=int(data.get("cached_tokens", 0)),
        reasoning_tokens=int(data.get("reasoning_tokens", 0)),
        estimated=bool(data.get("estimated", False)),
    )


class ExactCache:
    def __init__(self, kv: KV | BoundedMemoryStore, ttl_s: float = 3600, max_bytes: int = 256_000,
                 namespace: str = "cache:exact:") -> None:
        self.kv = kv  # get/set/delete and the tagged set/delete, which both kinds of store offer
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.namespace = namespace
        # hits, misses, stores, skipped_uncacheable, skipped_oversize, corrupt, errors
        self.counters: Counter[str] = Counter()

    def stats(self) -> dict[str, float]:
        """For /metrics: the counters, plus size and evictions of the in-process store."""
        numbers: dict[str, float] = {name: float(n) for name, n in self.counters.items()}
        if isinstance(self.kv, BoundedMemoryStore):
            numbers.update(self.kv.stats())
        return numbers

    @staticmethod
    def cacheable(response: ChatResponse, tools_ok: bool = False) -> bool:
        """Whether ``response`` is a complete answer worth keeping (see the module doc)."""
        if response.finish_reason not in CACHEABLE_FINISH and not (
                tools_ok and response.finish_reason == "tool_calls"):
            return False
        if response.tool_calls:
            return tools_ok
        return bool(response.content)

    def encode(self, response: ChatResponse, *, tools_ok: bool = False,
               origin: dict[str, Any] | None = None) -> bytes | None:
        """Serialise now (callers may mutate the response later); None if not to be cached.
        ``origin``: how the answer was made (served model, provider, latency), for hits' records."""
        if not self.cacheable(response, tools_ok):
            self.counters["skipped_uncacheable"] += 1
            return None
        u = response.usage
        payload = orjson.dumps({
            "v": FORMAT_VERSION,
            "id": response.id,
            "model": response.model,
            "content": response.content,
            "tool_calls": [[c.id, c.name, c.arguments] for c in response.tool_calls]
            if response.tool_calls else None,
            "finish_reason": response.finish_reason,
            "created": response.created,
            "usage": None if u is None else {
                "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                "cached_tokens": u.cached_tokens, "reasoning_tokens": u.reasoning_tokens,
                "estimated": u.estimated,
            },
            "cached_at": time.time(),
            "origin": origin,
            **{name: value for name, value in _backend_fields(response).items() if value is not None},
        })
        if len(payload) > self.max_bytes:
            self.counters["skipped_oversize"] += 1
            return None
        return payload

    @staticmethod
    def decode(payload: bytes) -> ChatResponse:
        return ExactCache.decode_entry(payload).response

    @staticmethod
    def decode_entry(payload: bytes) -> Entry:
        data = orjson.loads(payload)
        if not isinstance(data, dict) or data.get("v") not in READABLE_VERSIONS:
            raise ValueError("unknown cache entry format")
        calls = data.get("tool_calls")
        response = ChatResponse(
            id=str(data["id"]),
            model=str(data["model"]),
            content=data["content"],
            tool_calls=[ToolCall(str(i), str(n), str(a)) for i, n, a in calls] if calls else None,
            finish_reason=data["finish_reason"],
            usage=_usage(data.get("usage")),
            created=int(data.get("created") or 0),
            logprobs=data.get("logprobs"),
            refusal=data.get("refusal"),
            annotations=data.get("annotations"),
            system_fingerprint=data.get("system_fingerprint"),
            service_tier=data.get("service_tier"),
            reasoning=data.get("reasoning"),
        )
        origin = data.get("origin")
        cached_at = float(data.get("cached_at") or 0.0)
        return Entry(response, cached_at, origin if isinstance(origin, dict) else {})

    async def put(self, key: str, response: ChatResponse) -> bool:
        """Store ``response`` under ``key``; False when skipped or the KV failed."""
        payload = self.encode(response)
        return False if payload is None else await self.put_encoded(key, payload)

    async def put_encoded(self, key: str, payload: bytes, ttl_s: float | None = None,
                          tags: Sequence[str] = ()) -> bool:
        """Store bytes from :meth:`encode` (lets callers serialise first, write later); ``tags``:
        the entry's owners (corral.cache.owners), for erasure."""
        try:
            if tags:
                await self.kv.set_tagged(self.namespace + key, payload, ttl_s or self.ttl_s, tags)
            else:
                await self.kv.set(self.namespace + key, payload, ttl_s=ttl_s or self.ttl_s)
        except Exception as exc:  # noqa: BLE001 - a cache write must never fail a request
            self.counters["errors"] += 1
            log.warning("exact cache write failed: %s", exc)
            return False
        self.counters["stores"] += 1
        return True

    async def put_many(self, writes: Sequence[tuple[str, bytes, float | None, Sequence[str]]]) -> None:
        """:meth:`put_encoded` for a batch: one pipeline on Redis, else one write after another
        (in process, or on the local coordinator, where they leave in one frame anyway)."""
        set_many = getattr(self.kv, "set_many", None)
        if set_many is None:
            await asyncio.gather(*(self.put_encoded(*write) for write in writes))
            return
        errors = await set_many([(self.namespace + key, payload, ttl_s or self.ttl_s, tags)
                                 for key, payload, ttl_s, tags in writes])
        failed = [e for e in errors if e is not None]
        self.counters["stores"] += len(errors) - len(failed)
        if failed:
            self.counters["errors"] += len(failed)
            log.warning("exact cache writes failed: %d of %d (%s)", len(failed), len(errors), failed[0])

    async def get(self, key: str) -> ChatResponse | None:
        """The cached plain-text answer for ``key`` (the fallback's read: never a tool call),
        or None (miss, corrupt entry or KV failure)."""
        entry = await self.get_entry(key)
        if entry is None or entry.response.tool_calls:
            return None
        return entry.response

    async def get_entry(self, key: str) -> Entry | None:
        """The cached entry for ``key``, any answer kind, or None (miss, corrupt or KV failure)."""
        try:
            payload = await self.kv.get(self.namespace + key)
        except Exception as exc:  # noqa: BLE001 - a cache read must never fail a request
            self.counters["errors"] += 1
            log.warning("exact cache read failed: %s", exc)
            return None
        if payload is None:
            self.counters["misses"] += 1
            return None
        try:
            entry = self.decode_entry(payload)
        except (ValueError, KeyError, TypeError) as exc:
            self.counters["corrupt"] += 1
            log.warning("dropping unreadable exact cache entry %s: %s", key, exc)
            await self.delete(key)
            return None
        self.counters["hits"] += 1
        return entry

    async def erase_owner(self, kind: OwnerKind, value: str) -> tuple[list[str], int]:
        """Delete the entries written for/by one owner: (their keys, how many were live). Raises the
        store's error: an erasure must say it failed, unlike a cache read or write."""
        keys, live = await self.kv.delete_tagged(owner_tag(kind, value))
        return [k.removeprefix(self.namespace) for k in keys], live

    async def delete(self, key: str) -> bool:
        try:
            return await self.kv.delete(self.namespace + key)
        except Exception as exc:  # noqa: BLE001
            self.counters["errors"] += 1
            log.warning("exact cache delete failed: %s", exc)
            return False


def _backend_fields(response: ChatResponse) -> dict[str, Any]:
    """What the provider said beside the answer: a hit returns it as the miss did."""
    return {"logprobs": response.logprobs, "refusal": response.refusal, "annotations": response.annotations,
            "system_fingerprint": response.system_fingerprint, "service_tier": response.service_tier,
            "reasoning": response.reasoning}
