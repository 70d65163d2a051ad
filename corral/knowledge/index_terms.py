"""What the lexical searches of both indexes share: how many chunks hold a term, and which of
a query's terms to keep so a search scores a bounded number of chunks.

Why a posting budget: full-text engines score every chunk holding any query term, and at
100k chunks a question's word as common as "year" or "state" sits in thousands of them
(SQLite FTS5: ~1.4 us a chunk; 26 ms p50 / 139 ms p95 unbounded, docs/benchmarks.md
"Retrieval latency"). The common terms are the ones BM25 weighs least (low idf), so a query
keeps its terms rarest first while their chunk counts add up to the budget (the rarest
always). A store whose query terms fit gets its exact ranking.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

#: Chunks a lexical search may score (summed over its terms' counts). At 100k chunks
#: (bench/rag_latency.py, SQLite): 10,000 gave the hybrid search p50 27.5 / p95 37.3 ms, 5,000
#: 25.4 / 33.1 ms, both with recall@5 0.97 (lexical alone 0.920 against 0.892).
POSTING_BUDGET = 5_000

Count = Callable[[Sequence[str]], Awaitable[dict[str, int]]]


class TermCounts:
    """How many chunks hold each term, cached: counting walks the term's postings (a term in
    all of 100k chunks: ~5 ms). A count is asked again after `ttl_s`, or sooner when the
    store has grown or shrunk by a quarter since (an ingest takes a store from 1k to 100k
    chunks in minutes, and counts from its start would let every common word through)."""

    def __init__(self, ttl_s: float = 300.0, size: int = 100_000) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._counts: dict[str, tuple[float, int, int]] = {}  # term -> (when, store size, count)

    def _fresh(self, term: str, now: float, store_size: int) -> bool:
        found = self._counts.get(term)
        return (found is not None and now - found[0] <= self.ttl_s
                and 0.8 * found[1] <= store_size <= 1.25 * found[1])

    async def get(self, terms: Sequence[str], count: Count, store_size: int) -> dict[str, int]:
        """Counts of `terms` (keys must name the store, of `store_size` chunks now), asking
        `count` for those not cached or stale."""
        now = time.monotonic()
        missing = [t for t in terms if not self._fresh(t, now, store_size)]
        if missing:
            if len(self._counts) + len(missing) > self.size:
                self._counts.clear()
            found = await count(missing)
            self._counts.update((t, (now, store_size, found.get(t, 0))) for t in missing)
        return {term: self._counts[term][2] for term in terms}


def within_budget(counts: dict[str, int], budget: int) -> list[str]:
    """The terms rarest first while their counts add up to `budget` (the rarest always);
    terms no chunk holds are left out."""
    kept: list[str] = []
    total = 0
    for term in sorted((t for t in counts if counts[t] > 0), key=lambda t: (counts[t], t)):
        if kept and total + counts[term] > budget:
            break
        kept.append(term)
        total += counts[term]
    return kept
