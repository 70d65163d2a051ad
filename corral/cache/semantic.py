"""The semantic cache: answer a request whose last user message *means* the same as an earlier one.

Opt-in per route (``cache: {semantic: true}``), after an exact miss. Everything but the last
user message must still be identical: the scope of an entry is a hash of the request with
that message blanked (system prompt, earlier turns, tools, parameters), the team, the end
user and the route, so a semantic hit never crosses teams, prompts or settings. Within a
scope, the message is embedded by the built-in all-MiniLM-L6-v2 model (offline, ~3 ms on a
worker thread) and compared by cosine with earlier messages (corral.cache.semantic_index).

A cosine alone cannot tell "convert miles to km" from "convert km to miles" (bench/
semantic_cache_eval.py: near misses score as high as paraphrases), so each candidate above
the route's threshold must also pass the guard (corral.cache.semantic_guard: numbers,
negations, opposites, named terms and their order must agree) against the message that
produced the entry, which the entry keeps (``origin["prompt"]``). The first of the five most
similar candidates that passes answers.

Not probed: a last message that is not a user's text, or longer than ``MAX_PROBE_CHARS`` (the
model reads 256 tokens: two long messages differing further on would look the same), and any
request in which the privacy stage found personal data (two prompts differing only in a
person's details are near each other and must not share an answer).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from corral.cache.exact import Entry, ExactCache
from corral.cache.keys import cache_key
from corral.cache.semantic_guard import _analyse, compatible
from corral.cache.semantic_index import SemanticIndex
from corral.core.context import RequestContext
from corral.core.types import ChatRequest, TextPart

MAX_PROBE_CHARS = 800
CANDIDATES = 5
Embed = Callable[[Sequence[str]], np.ndarray]
COUNTERS = ("probes", "hits", "guarded", "unprobed", "remembered")


@dataclass(frozen=True, slots=True)
class Probe:
    scope: str
    text: str
    vector: np.ndarray


@dataclass(frozen=True, slots=True)
class SemanticHit:
    entry: Entry
    key: str
    similarity: float


def probe_text(request: ChatRequest) -> str | None:
    """The last user message's text, when the semantic cache may compare it."""
    if not request.messages:
        return None
    last = request.messages[-1]
    if last.role != "user" or last.tool_calls:
        return None
    content = last.content
    if isinstance(content, list):
        if not all(isinstance(p, TextPart) for p in content):
            return None  # an image's meaning is not in the text
        content = " ".join(p.text for p in content if isinstance(p, TextPart))
    if not content or not content.strip() or len(content) > MAX_PROBE_CHARS:
        return None
    return content.strip()


def semantic_scope(request: ChatRequest, route: str, scope: tuple[str, ...]) -> str:
    """Who and what an entry may answer: the request without its last message's text."""
    last = replace(request.messages[-1], content="")
    blanked = replace(request, messages=[*request.messages[:-1], last])
    return cache_key(blanked, route, scope=("semantic", *scope))


def personal_data_found(ctx: RequestContext) -> bool:
    return ctx.privacy is not None and bool(ctx.privacy.entities)


class SemanticCache:
    def __init__(self, cache: ExactCache, embed: Embed, index: SemanticIndex | None = None,
                 guard: Callable[[str, str], bool] = compatible,
                 clock: Callable[[], float] = time.time) -> None:
        self.cache = cache
        self.embed = embed
        self.index = index or SemanticIndex(max_entries_per_scope=1000, max_scopes=2000)
        self.guard = guard
        self.clock = clock
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTERS})

    async def probe(self, ctx: RequestContext, request: ChatRequest, route: str,
                    scope: tuple[str, ...]) -> Probe | None:
        """The request's place in the semantic index, or None when it may not be compared."""
        text = probe_text(request)
        if text is None or personal_data_found(ctx):
            self.counters["unprobed"] += 1
            return None
        self.counters["probes"] += 1
        vectors = await asyncio.to_thread(self.embed, [text])
        return Probe(semantic_scope(request, route, scope), text, np.asarray(vectors[0]))

    async def find(self, probe: Probe, threshold: float, ttl_s: float) -> SemanticHit | None:
        """The most similar fresh entry whose message passes the guard, or None."""
        for key, similarity in self.index.candidates(probe.scope, probe.vector, threshold, CANDIDATES):
            entry = await self.cache.get_entry(key)
            if entry is None or self.clock() - entry.cached_at >= ttl_s:
                self.index.remove(probe.scope, key)
                continue
            cached = entry.origin.get("prompt")
            if not isinstance(cached, str) or not self.guard(probe.text, cached):
                self.counters["guarded"] += 1
                continue
            self.counters["hits"] += 1
            return SemanticHit(entry, key, similarity)
        return None

    def remember(self, probe: Probe, key: str, ttl_s: float) -> None:
        """Index an answer just stored under `key` (called once its write is under way)."""
        self.index.add(probe.scope, probe.vector, key, ttl_s)
        self.counters["remembered"] += 1

    def forget(self, keys: Sequence[str]) -> int:
        """Drop the index rows of these exact keys (an erased owner's entries) and the guard's
        memo of analysed messages (it holds texts, not owners: cleared whole); rows dropped."""
        _analyse.cache_clear()  # the guard's memo, in this package
        return self.index.remove_keys(set(keys)) if keys else 0

    def stats(self) -> dict[str, int]:
        return {**self.counters, **{f"index_{k}": v for k, v in self.index.stats().items()}}
