"""The embedded index (the default): chunks in the SQLite database, lexical search by FTS5
with BM25, dense search by a usearch graph per store kept beside the database
(index_vectors, which also says how the graph stays consistent with the table).

Lexical: FTS5 over each chunk's `terms`, the words as corral.knowledge.lexical analyses them
(stop words dropped, Snowball stems), the query analysed alike: the BM25 of the in-memory
index (k1 1.2, b 0.75) on the same terms, so the retrieval settings measured with it carry
over (SQuAD set, lexical alone, recall@1 / recall@5: 0.825 / 0.970 here, 0.829 / 0.970 in
memory; FTS5's porter tokenizer over the raw text measured 0.820 / 0.968).

- Each term is stored as `<store's lex_key>_<term>`, so a store's postings are its own: a
  search reads no other store's chunks (a store_id column ANDed in cost 5-13 ms at 100k; a
  join to kb_chunks doubled the time) and a term's count is the store's.
- Posting budget (index_terms): FTS5 scores every chunk holding any query term (~1.4 us
  each). Measured at 100k (SQuAD questions over filler, FTS5 alone, recall@1 / @5, p50 /
  p95): unbounded 0.793 / 0.945, 26 / 139 ms; 20,000: 0.778 / 0.932, 8 / 20 ms; 10,000:
  0.763 / 0.920, 5.5 / 12 ms; 5,000 (the default): 0.744 / 0.890, 3.4 / 7 ms; the hybrid
  search's recall@5 is 0.97 with either of the last two. Counts come from
  fts5vocab, which walks the postings too (cached), and are not asked while the store holds
  no more chunks than the budget: a query then scores at most that many, whatever its terms.

Scores: lexical is FTS5's BM25 negated (higher is better, unbounded, comparable only within
one query); dense is the cosine similarity, computed exactly from the stored float32
embeddings for the returned chunks (the graph holds float16 and only picks candidates).

Filters on dense search: the graph cannot test attributes, so it over-fetches (10 x k, at
least 200 candidates) and the candidates are checked in SQL. When fewer than k pass and the
graph holds more than were fetched, the filter is selective (under ~5% of the store passes),
so the matches are few: they are all scored exactly instead. Either way the answer is the
best k among the chunks that pass, as if filtered before k was taken.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import RowMapping

from corral.knowledge.index_sql import HIT_COLUMNS, SqlIndex, as_matrix, hits_of, seqs_in
from corral.knowledge.index_terms import POSTING_BUDGET, TermCounts, within_budget
from corral.knowledge.index_vectors import Graphs
from corral.knowledge.lexical import terms
from corral.knowledge.types import Filter, Hit
from corral.store import Database
from corral.store.db import Transaction

OVERFETCH = 10
MIN_CANDIDATES = 200
#: Extra unfiltered candidates, re-scored exactly: float16 in the graph can swap close pairs.
EXTRA = 16

_INSERT = text("INSERT INTO kb_chunks (store_id, content_hash, text, tokens, dims, embedding, terms) "
               "VALUES (:s, :h, :t, :n, :d, :e, :w)")
_CANDIDATES = """
SELECT c.embedding, {columns}
FROM kb_chunks c JOIN kb_chunk_refs r ON r.seq = c.seq{cond}
WHERE c.seq IN :seqs AND +c.store_id = :s
ORDER BY c.seq, r.file_id, r.position
"""
_MATCHING = "SELECT c.seq, c.embedding FROM kb_chunks c WHERE c.store_id = :s{exists}"
_LEXICAL = """
SELECT kb_chunks_fts.rowid AS seq, -bm25(kb_chunks_fts) AS score
FROM kb_chunks_fts
WHERE kb_chunks_fts MATCH :q{exists}
ORDER BY score DESC, seq LIMIT :k
"""
STATE_TTL_S = 2.0
_LEX_KEY = text("SELECT lex_key, chunks FROM kb_index_stores WHERE store_id = :s")
_COUNTS = seqs_in("SELECT term, doc FROM kb_chunks_fts_vocab WHERE term IN :seqs")


def store_terms(lex_key: int, text: str) -> list[str]:
    """The text's terms (lexical.terms) as the store's FTS5 index holds them."""
    return [f"{lex_key}_{t}" for t in terms(text)]


def cosine_top(query: np.ndarray, rows: Sequence[Any], k: int) -> list[tuple[int, float]]:
    """(seq, cosine similarity) of the k rows (seq, float32 bytes) nearest the query, best
    first; ties by seq."""
    if not rows:
        return []
    matrix = as_matrix([r[1] for r in rows])
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    sims = (matrix @ query) / np.where(norms == 0, 1.0, norms)
    seqs = np.asarray([r[0] for r in rows])
    order = np.lexsort((seqs, -sims))[:k]
    return [(int(seqs[i]), float(sims[i])) for i in order]


class SqliteIndex(SqlIndex):
    """`Index` on SQLite; `directory` holds the graphs' side files (None: memory only)."""

    dialect = "sqlite"
    same_store = "+c.store_id = :s"

    def __init__(self, db: Database, directory: Path | None, *,
                 posting_budget: int = POSTING_BUDGET) -> None:
        super().__init__(db)
        self.graphs = Graphs(db, directory)
        self.posting_budget = posting_budget
        self.term_counts = TermCounts()
        # store -> (read at, lex_key, chunks): a search then costs one statement, not two
        # (~1.4 ms each through aiosqlite here). Another process's new store or size is seen
        # within STATE_TTL_S; this process's own writes drop the entry at once.
        self._states: dict[str, tuple[float, int, int]] = {}

    def _store_lock(self, store_id: str) -> AbstractAsyncContextManager[Any]:
        return self.graphs.lock(store_id)

    async def _insert_chunks(self, tx: Transaction, rows: list[dict[str, Any]], dims: int) -> None:
        await tx.execute(_INSERT, [{**r, "e": np.asarray(r["e"], dtype=np.float32).tobytes(),
                                    "w": " ".join(store_terms(r["k"], r["t"]))} for r in rows])

    async def _new_lex_key(self, tx: Transaction) -> int | None:
        return int(await tx.fetch_val(text("SELECT COALESCE(MAX(lex_key), 0) + 1 FROM kb_index_stores")))

    async def aclose(self) -> None:
        await self.graphs.close()

    async def lexical(self, store_id: str, query: str, k: int, filters: Filter | None = None) -> list[Hit]:
        """BM25 over the store's chunks holding any of the query's terms (within the posting
        budget), best first."""
        exists, params = self._exists(filters, seq="kb_chunks_fts.rowid")
        if k <= 0 or not terms(query):
            return []
        async with self.db.transaction(readonly=True) as tx:
            state = await self._lex_state(tx, store_id)
            if state is None:
                return []
            lex_key, chunks = state
            wanted = list(dict.fromkeys(store_terms(lex_key, query)))
            if chunks <= self.posting_budget:  # a query cannot score more chunks than that
                kept = wanted
            else:
                async def count(missing: Sequence[str]) -> dict[str, int]:
                    rows = await tx.fetch_all(_COUNTS, {"seqs": list(missing)})
                    return {r["term"]: int(r["doc"]) for r in rows}
                counts = await self.term_counts.get(wanted, count, chunks)
                kept = within_budget(counts, self.posting_budget)
            if not kept:
                return []
            match = " OR ".join(f'"{t}"' for t in kept)
            args = {"q": match, "s": store_id, "k": k, **params}
            return await self._ranked_hits(tx, store_id, _LEXICAL.format(exists=exists), args, filters,
                                           lexical=True)

    async def _lex_state(self, tx: Transaction, store_id: str) -> tuple[int, int] | None:
        """The store's (lex_key, chunks), from the cache when younger than STATE_TTL_S."""
        now = time.monotonic()
        cached = self._states.get(store_id)
        if cached is not None and now - cached[0] < STATE_TTL_S:
            return cached[1], cached[2]
        row = await tx.fetch_one(_LEX_KEY, {"s": store_id})
        if row is None:
            return None
        self._states[store_id] = (now, row["lex_key"], row["chunks"])
        return row["lex_key"], row["chunks"]

    async def _changed(self, store_id: str, uid: str, generation: int, added: Sequence[int],
                       vectors: np.ndarray | None, removed: Sequence[int]) -> None:
        self._states.pop(store_id, None)
        await self.graphs.applied(store_id, uid, generation, added, vectors, removed)

    async def _dropped(self, store_id: str, uid: str | None) -> None:
        self._states.pop(store_id, None)
        await self.graphs.drop(store_id, uid)

    async def dense(self, store_id: str, vector: Sequence[float], k: int,
                    filters: Filter | None = None) -> list[Hit]:
        """Nearest chunks by cosine similarity, best first (see the module's note on filters)."""
        exists, params = self._exists(filters)
        cond, _ = self._ref_filter(filters)
        query = np.asarray(vector, dtype=np.float32)
        if k <= 0:
            return []
        args = {"s": store_id, **params}
        async with self.graphs.lock(store_id), self.db.transaction(readonly=True) as tx:
            graph = await self.graphs.current(store_id, tx)
            if graph is None:
                return []
            if query.shape != (graph.dims,):
                raise ValueError(f"query vector has shape {query.shape}; the store's vectors "
                                 f"have {graph.dims} dimensions")
            size = len(graph.index)
            want = min(size, max(k * OVERFETCH, MIN_CANDIDATES) if filters else k + EXTRA)
            candidates = self.graphs.search(graph, query, want)
            rows = await tx.fetch_all(seqs_in(_CANDIDATES.format(columns=HIT_COLUMNS, cond=cond)),
                                      {**args, "seqs": candidates})
            if filters and len({r["seq"] for r in rows}) < k and want < size:
                # a selective filter: score every chunk that passes, exactly
                matching = (await tx.execute(text(_MATCHING.format(exists=exists)), args)).all()
                best = [seq for seq, _ in cosine_top(query, matching, k)]
                rows = await tx.fetch_all(seqs_in(_CANDIDATES.format(columns=HIT_COLUMNS, cond=cond)),
                                          {**args, "seqs": best})
        return _rank(store_id, query, rows, k)


def _rank(store_id: str, query: np.ndarray, rows: Sequence[RowMapping], k: int) -> list[Hit]:
    """The k rows' chunks nearest the query (rows by chunk, first reference first)."""
    first: dict[int, RowMapping] = {}
    for row in rows:
        first.setdefault(row["seq"], row)
    best = cosine_top(query, [(seq, row["embedding"]) for seq, row in first.items()], k)
    return hits_of(store_id, [first[seq] for seq, _ in best], [score for _, score in best], lexical=False)
