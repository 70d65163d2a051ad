"""Erasure in the caches (corral.cache.owners): each write is filed under its end user, key and
request, on every store (MemoryKV, Redis, the bounded LRU), and erasing an owner deletes exactly
its entries, the semantic index rows pointing at them, and nothing of anyone else."""

from __future__ import annotations

import asyncio

import numpy as np

from corral.cache.exact import ExactCache
from corral.cache.memory import BoundedMemoryStore
from corral.cache.owners import owner_tag, owner_tags
from corral.cache.semantic import Probe, SemanticCache
from corral.cache.semantic_index import SemanticIndex
from corral.cache.stage import CacheStage
from corral.core.context import Caller, RequestContext
from corral.core.types import ChatRequest, ChatResponse, Message
from corral.store import KV
from tests.cache.test_stage import _routes, _run


def test_tags_hash_the_ids_and_skip_missing_ones() -> None:
    tags = owner_tags("alice@example.com", "key_1", "req_9")
    assert tags == (owner_tag("user", "alice@example.com"), owner_tag("key", "key_1"),
                    owner_tag("request", "req_9"))
    assert all("alice" not in t and "key_1" not in t for t in tags)  # Redis key names show no id
    assert owner_tags(None, "key_1", "") == (owner_tag("key", "key_1"),)


async def test_delete_tagged_deletes_the_tags_keys_only(kv: KV) -> None:
    a, b = owner_tags("alice", "key_1", "req_a"), owner_tags("bob", "key_1", "req_b")
    await kv.set_tagged("cache:exact:1", b"alice's", 60, a)
    await kv.set_tagged("cache:exact:2", b"alice's again", 60, a)
    await kv.set_tagged("cache:exact:3", b"bob's", 60, b)
    keys, live = await kv.delete_tagged(owner_tag("user", "alice"))
    assert (sorted(keys), live) == (["cache:exact:1", "cache:exact:2"], 2)
    assert [await kv.get(f"cache:exact:{i}") for i in (1, 2, 3)] == [None, None, b"bob's"]
    assert await kv.delete_tagged(owner_tag("user", "alice")) == ([], 0)  # idempotent
    keys, live = await kv.delete_tagged(owner_tag("key", "key_1"))  # alice's keys are gone already
    assert live == 1 and await kv.get("cache:exact:3") is None


async def test_expired_entries_are_not_counted(kv: KV) -> None:
    await kv.set_tagged("gone", b"v", 0.05, owner_tags("carol", None, None))
    await asyncio.sleep(0.15)
    _, live = await kv.delete_tagged(owner_tag("user", "carol"))
    assert live == 0


async def test_the_bounded_store_untags_what_it_evicts() -> None:
    store = BoundedMemoryStore(max_bytes=2000)
    tags = owner_tags("dave", None, None)
    for i in range(5):
        await store.set_tagged(f"k{i}", b"x" * 500, 60, tags)  # ~600 bytes each: the oldest go
    keys, live = await store.delete_tagged(owner_tag("user", "dave"))
    assert (sorted(keys), live) == (["k2", "k3", "k4"], 3)
    assert store.stats()["entries"] == 0 and store._tagged == {}


def _ctx(user: str, request_id: str, text: str) -> RequestContext:
    ctx = RequestContext(request_id, ChatRequest("gpt", [Message("user", text)], user=user))
    ctx.caller = Caller("key_1", "app", "growth", frozenset({"inference"}))
    return ctx


async def test_the_stage_erases_an_owners_entries_and_semantic_rows() -> None:
    store = BoundedMemoryStore()
    exact = ExactCache(store)
    semantic = SemanticCache(exact, embed=lambda texts: np.ones((len(texts), 4)), index=SemanticIndex())
    stage = CacheStage(exact, _routes(), semantic=semantic)
    for user, rid in (("alice", "req_1"), ("alice", "req_2"), ("bob", "req_3")):
        ctx = _ctx(user, rid, f"question {rid}")
        await _run(stage, ChatResponse(rid, "gpt-4o", f"answer {rid}"), ctx)
        assert ctx.cache_key is not None
        semantic.remember(Probe(f"scope-{user}", "q", np.ones(4)), ctx.cache_key, 60)
    assert await stage.erase_owner("user", "alice") == {"exact_cache_memory": 2, "semantic_cache_index": 2}
    assert semantic.index.stats()["entries"] == 1 and store.stats()["entries"] == 1
    assert await stage.erase_owner("user", "alice") == {"exact_cache_memory": 0, "semantic_cache_index": 0}
    assert await stage.erase_owner("request", "req_3") == {"exact_cache_memory": 1, "semantic_cache_index": 1}


async def test_queued_writes_to_redis_land_before_the_erasure(kv: KV) -> None:
    stage = CacheStage(ExactCache(kv), _routes())
    await _run(stage, ChatResponse("r", "gpt-4o", "answer"), _ctx("erin", "req_5", "hello"))
    erased = await stage.erase_owner("key", "key_1")  # the background writer is flushed first
    assert sum(erased.values()) == 1
