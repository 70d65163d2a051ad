"""An `Index` held in process memory: BM25 for lexical search, exact cosine for dense.

Why it exists: the retrieval-quality benchmark and the tests need an index with no database,
and a reference for what the SQLite and PostgreSQL indexes should return: BM25 scores
(k1 1.2, b 0.75, Lucene's idf) over `corral.knowledge.lexical.terms`, and cosine similarity.
Searches are exact (a scan of the store's chunks), fine up to some ten thousand chunks.

Filters follow OpenAI's vector-store search: comparisons (`eq`, `ne`, `gt`, `gte`, `lt`,
`lte`, `in`, `nin`) on a chunk's `attributes`, combined with `and` / `or`. A chunk without
the key matches only `ne` and `nin`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from corral.knowledge.filters import matches as filter_matches
from corral.knowledge.filters import validate
from corral.knowledge.lexical import terms
from corral.knowledge.types import AttributeValue, Chunk, Filter, Hit

K1 = 1.2
B = 0.75


@dataclass(slots=True)
class _Entry:
    chunk: Chunk
    vector: np.ndarray  # unit length
    tf: Counter[str]
    length: int
    files: set[str]


@dataclass(slots=True)
class _Store:
    entries: dict[str, _Entry] = field(default_factory=dict)  # by content hash (or chunk id)
    df: Counter[str] = field(default_factory=Counter)
    total_length: int = 0

    def remove(self, key: str) -> None:
        entry = self.entries.pop(key)
        self.df.subtract(entry.tf.keys())
        self.total_length -= entry.length


class MemoryIndex:
    """Chunks and vectors per store, in dicts; every method is scoped to one store."""

    def __init__(self) -> None:
        self._stores: dict[str, _Store] = {}

    async def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        new = 0
        for chunk, vector in zip(chunks, vectors, strict=True):
            store = self._stores.setdefault(chunk.store_id, _Store())
            key = chunk.content_hash or chunk.id
            if key in store.entries:  # identical text: stored once, held by every file that has it
                store.entries[key].files.add(chunk.file_id)
                continue
            tf = Counter(terms(chunk.text))
            length = sum(tf.values())
            store.entries[key] = _Entry(chunk, _unit(vector), tf, length, {chunk.file_id})
            store.df.update(tf.keys())
            store.total_length += length
            new += 1
        return new

    async def delete_file(self, store_id: str, file_id: str) -> int:
        store = self._stores.get(store_id)
        if store is None:
            return 0
        removed = 0
        for key, entry in list(store.entries.items()):
            if file_id in entry.files:
                entry.files.discard(file_id)
                if not entry.files:
                    store.remove(key)
                    removed += 1
        return removed

    async def delete_store(self, store_id: str) -> int:
        store = self._stores.pop(store_id, None)
        return len(store.entries) if store else 0

    async def lexical(self, store_id: str, query: str, k: int, filters: Filter | None = None) -> list[Hit]:
        """BM25 over the store's chunks that pass `filters`; chunks sharing no term are left out."""
        store = self._stores.get(store_id)
        if store is None or not store.entries or k <= 0:
            return []
        n = len(store.entries)
        average = store.total_length / n or 1.0
        weights = {t: math.log(1 + (n - store.df[t] + 0.5) / (store.df[t] + 0.5))
                   for t in set(terms(query)) if store.df[t] > 0}
        scored: list[tuple[float, Chunk]] = []
        for entry in store.entries.values():
            score = 0.0
            for term, idf in weights.items():
                f = entry.tf.get(term, 0)
                if f:
                    score += idf * f * (K1 + 1) / (f + K1 * (1 - B + B * entry.length / average))
            if score > 0 and matches(filters, entry.chunk.attributes):
                scored.append((score, entry.chunk))
        scored.sort(key=lambda pair: -pair[0])
        return [Hit(chunk, score, lexical_rank=i) for i, (score, chunk) in enumerate(scored[:k])]

    async def dense(self, store_id: str, vector: Sequence[float], k: int,
                    filters: Filter | None = None) -> list[Hit]:
        """Cosine similarity against every chunk of the store that passes `filters`."""
        store = self._stores.get(store_id)
        if store is None or not store.entries or k <= 0:
            return []
        entries = [e for e in store.entries.values() if matches(filters, e.chunk.attributes)]
        if not entries:
            return []
        similarity = np.stack([e.vector for e in entries]) @ _unit(vector)
        best = np.argsort(-similarity, kind="stable")[:k]
        return [Hit(entries[j].chunk, float(similarity[j]), dense_rank=i) for i, j in enumerate(best)]


def _unit(vector: Sequence[float]) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def matches(filters: Filter | None, attributes: Mapping[str, AttributeValue]) -> bool:
    """Whether a chunk with `attributes` passes an OpenAI vector-store filter (None: all do):
    corral.knowledge.filters' reference meaning, the one the SQL indexes compile."""
    if filters is None:
        return True
    validate(filters)
    return filter_matches(filters, attributes)
