"""Resolve ``name@label`` or ``name@3`` to the exact version's text, on the request path.

Why a cache: every chat request on a route with a prompt resolves one. A label is read from
the database at most once per ``ttl_s`` (5 s) per (prompt, label) in each process, with one
query in flight per entry (followers wait for it), so a moved label reaches every replica
within 5 s and a busy route costs one indexed SELECT per 5 s. Versions never change, so a
pinned version's text stays cached until evicted. An unknown prompt or label is cached for
the TTL too, so a client repeating a bad name cannot turn each request into a query. The cache
holds at most ``max_entries`` (oldest dropped first). This process's own label moves
(API, dashboard) call :meth:`PromptResolver.forget`, so they apply here at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import select

from corral.core.errors import InvalidRequest
from corral.prompts.names import PromptRef
from corral.store.db import Database
from corral.store.schema import prompt_labels, prompt_versions, prompts

DEFAULT_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class ResolvedPrompt:
    name: str
    version: int
    text: str
    sha256: str
    label: str | None  # None: a pinned version
    protected: bool  # the label is protected (the two-person rule); False for a pinned version


_Entry = tuple[float, ResolvedPrompt | None]
_FAILED = object()  # a leader's query raised: its followers query themselves


class PromptResolver:
    def __init__(self, db: Database, *, ttl_s: float = DEFAULT_TTL_S, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[ResolvedPrompt | object | None]] = {}
        self.queries = 0  # database reads so far (tests check the cache holds)

    async def resolve(self, ref: PromptRef) -> ResolvedPrompt:
        """The version ``ref`` names now; a 400 (param ``prompt``) when there is none."""
        key = str(ref)
        hit = self._cache.get(key)
        # A pinned version that exists never changes; anything else (a label, a miss) lives ttl_s.
        if hit is not None and ((ref.version is not None and hit[1] is not None) or hit[0] > self.clock()):
            found = hit[1]
        else:
            found = await self._load_once(key, ref)
        if found is None:
            what = f"label '{ref.label}'" if ref.label is not None else f"version {ref.version}"
            raise InvalidRequest(f"The prompt registry has no {what} for prompt '{ref.name}' ('{key}'); "
                                 "check the name, or ask its owners to set the label.", param="prompt")
        return found

    def forget(self, name: str) -> None:
        """Drop ``name``'s cached labels (a label of it moved in this process)."""
        for key in [k for k in self._cache if k.partition("@")[0] == name]:
            del self._cache[key]

    async def _load_once(self, key: str, ref: PromptRef) -> ResolvedPrompt | None:
        waiting = self._inflight.get(key)
        if waiting is not None:
            led = await asyncio.shield(waiting)
            if isinstance(led, ResolvedPrompt) or led is None:
                return led
            return await self._load(ref)  # the leader failed: try here
        future: asyncio.Future[ResolvedPrompt | object | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        outcome: ResolvedPrompt | object | None = _FAILED
        try:
            found = await self._load(ref)
            outcome = found
        finally:
            del self._inflight[key]
            future.set_result(outcome)
        self._remember(key, found)
        return found

    def _remember(self, key: str, found: ResolvedPrompt | None) -> None:
        self._cache[key] = (self.clock() + self.ttl_s, found)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def _load(self, ref: PromptRef) -> ResolvedPrompt | None:
        self.queries += 1
        v = prompt_versions
        stmt = select(v.c.version, v.c.text, v.c.sha256, prompts.c.protected_labels).join(
            prompts, prompts.c.name == v.c.name).where(v.c.name == ref.name)
        if ref.version is not None:
            stmt = stmt.where(v.c.version == ref.version)
        else:
            on = (prompt_labels.c.name == v.c.name) & (prompt_labels.c.version == v.c.version)
            stmt = stmt.join(prompt_labels, on).where(prompt_labels.c.label == ref.label)
        row = await self.db.fetch_one(stmt)
        if row is None:
            return None
        protected = ref.label is not None and ref.label in orjson.loads(row["protected_labels"])
        return ResolvedPrompt(ref.name, row["version"], row["text"], row["sha256"], ref.label, protected)
