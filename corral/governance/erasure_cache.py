"""Erasure in the response caches: the exact cache (Redis, or a process's memory) and the
semantic index (a process's memory), found by the owner tags each write files
(corral.cache.owners).

Run in a gateway (``POST /admin/erasure``), it reaches the cache store that process writes to
(Redis, shared by every replica, or its own memory) and its own semantic index. ``corral erase``
reaches Redis when ``redis_url`` is set, and no process's memory. What is out of reach is named
in the receipt's ``not_erased`` with what to do: there is no cross-process invalidation channel.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from corral.store.kv import KVUnavailable

log = logging.getLogger("corral.governance")

Kind = Literal["user", "key", "request"]
CACHE_STORES = ("exact_cache", "exact_cache_memory", "semantic_cache_index")  # data map names

# What stays out of reach once an erasure reached a store in one process (or none).
_OTHER_PROCESSES = {
    "exact_cache_memory": "entries in the memory of other gateway processes (no redis_url: each keeps its "
                          "own): run POST /admin/erasure on each process, or restart them; they also "
                          "expire after the cache TTL",
    "semantic_cache_index": "rows in other processes' semantic index: their exact entry is gone (Redis), "
                            "so a row is dropped when met, but its vector stays until the TTL or a restart; "
                            "run POST /admin/erasure on each process to drop them at once",
}
_UNREACHED = {
    "exact_cache": "redis_url is not set where the erasure ran, or no cache was given: run `corral erase` "
                   "with the gateway's configuration, or POST /admin/erasure",
    **_OTHER_PROCESSES,
}


class OwnedCache(Protocol):
    """A cache that deletes an owner's entries (corral.cache.stage.CacheStage, or the CLI's Redis one)."""

    async def erase_owner(self, kind: Kind, value: str) -> dict[str, int]: ...


async def erase_cache(cache: OwnedCache | None, kind: Kind, value: str) -> tuple[dict[str, int], str | None]:
    """Entries deleted per cache store ({} when no cache is given), and why it failed if it did:
    a cache outage must not stop the tables' erasure, and the receipt says to run it again."""
    if cache is None:
        return {}, None
    try:
        return await cache.erase_owner(kind, value), None
    except KVUnavailable as exc:
        log.warning("erasure: the cache could not be erased: %s", exc)
        return {}, f"the cache store failed ({exc}): run the erasure again once it is back"


def cache_limits(reached: dict[str, int], failure: str | None = None) -> dict[str, str]:
    """``not_erased`` entries for the caches: what this erasure could not reach, and why."""
    if failure is not None:
        return {**_UNREACHED, "exact_cache": failure}
    if not reached:
        return dict(_UNREACHED)
    out = {"semantic_cache_index": _OTHER_PROCESSES["semantic_cache_index"]}
    if "exact_cache_memory" in reached:
        out["exact_cache_memory"] = _OTHER_PROCESSES["exact_cache_memory"]
    return out
