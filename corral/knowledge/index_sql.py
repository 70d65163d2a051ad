"""What the SQLite and PostgreSQL indexes share: their tables (migration 11), dedupe, the
files' references, deletes, and turning ranked chunks into hits.

Dedupe: a text is stored, embedded and indexed once per store (kb_chunks is unique on
store_id + content_hash). Each chunk of each file is a row of kb_chunk_refs pointing at it, so
deleting one of two files that share a passage keeps the passage for the other; the text
goes with its last reference. A hit is reported as the text's first reference (by file id,
then position) that passes the filters, with that file's attributes.

Filters are applied before k is taken: an EXISTS over the references in the same query that
ranks, so a filtered search returns the best k of the chunks that pass, never fewer because
others ranked higher. (The embedded dense search over-fetches from its graph and then scans
the matches exactly when too few passed: index_sqlite.)

Every change to a store runs under a per-store lock (PostgreSQL: an advisory lock; SQLite's
write transactions are serial already) and bumps kb_index_stores.generation, which the
embedded vector graphs watch.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.elements import TextClause

from corral.knowledge.filters import compile_sql
from corral.knowledge.types import Chunk, Filter, Hit
from corral.store import Database
from corral.store.db import Transaction

BATCH = 500  # rows per IN (...) list or executemany


def seqs_in(sql: str) -> TextClause:
    """A statement whose `:seqs` is a list (expanded to IN (...))."""
    return text(sql).bindparams(bindparam("seqs", expanding=True))


def as_matrix(vectors: Sequence[Sequence[float]] | Sequence[bytes], dims: int | None = None) -> np.ndarray:
    """float32 rows from lists of floats or stored float32 bytes."""
    if len(vectors) and isinstance(vectors[0], bytes | bytearray | memoryview):
        flat = np.frombuffer(b"".join(bytes(v) for v in vectors), dtype=np.float32)  # type: ignore[arg-type]
        return flat.reshape(len(vectors), -1)
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or (dims is not None and matrix.shape[1] != dims):
        raise ValueError(f"expected {len(vectors)} vectors of one dimension, got shape {matrix.shape}")
    return matrix


def content_hash(chunk: Chunk) -> str:
    return chunk.content_hash or hashlib.sha256(chunk.text.encode()).hexdigest()


_STATE = text("SELECT uid, dims, generation, chunks, lex_key FROM kb_index_stores WHERE store_id = :s")
_NEW_DIMS = text("UPDATE kb_index_stores SET uid = :u, dims = :d WHERE store_id = :s")
_NEW_STATE = text("INSERT INTO kb_index_stores (store_id, uid, dims, generation, chunks, lex_key) "
                  "VALUES (:s, :u, :d, 0, 0, :k)")
_BUMP = text("UPDATE kb_index_stores SET generation = :g, chunks = chunks + :n WHERE store_id = :s")
_BY_HASH = seqs_in("SELECT content_hash, seq FROM kb_chunks WHERE store_id = :s AND content_hash IN :seqs")
_FILE_SEQS = text("SELECT DISTINCT seq FROM kb_chunk_refs WHERE store_id = :s AND file_id = :f")
_DELETE_FILE_REFS = text("DELETE FROM kb_chunk_refs WHERE store_id = :s AND file_id = :f")
_ORPHANS = seqs_in("SELECT c.seq FROM kb_chunks c WHERE c.seq IN :seqs "
                   "AND NOT EXISTS (SELECT 1 FROM kb_chunk_refs r WHERE r.seq = c.seq)")
# What a hit needs, read with its ranking in one statement (one round trip: through aiosqlite
# each statement is a thread hop, ~0.2 ms on a busy machine, a good share of a 5 ms search).
HIT_COLUMNS = ("c.seq, c.text, c.tokens, c.content_hash, r.chunk_id, r.file_id, r.position, "
               "r.heading_path, r.attributes")
_RANKED_HITS = """
WITH ranked AS ({ranking})
SELECT ranked.score, {columns}
FROM ranked JOIN kb_chunks c ON c.seq = ranked.seq JOIN kb_chunk_refs r ON r.seq = c.seq{cond}
WHERE {same_store}
ORDER BY ranked.score DESC, c.seq, r.file_id, r.position
"""


class SqlIndex(ABC):
    """The `Index` protocol over kb_* tables; subclasses add lexical and dense search."""

    dialect = ""
    posting_budget = 0  # chunks a lexical search may score (index_terms)
    #: The hits' store check. It must not steer the plan: k chunks are looked up by seq, never
    #: the store's rows scanned by its (store_id, content_hash) index (SQLite's `+` says so).
    same_store = "c.store_id = :s"

    def __init__(self, db: Database) -> None:
        if db.dialect != self.dialect:
            raise ValueError(f"{type(self).__name__} needs a {self.dialect} database, not {db.dialect}")
        self.db = db

    # -- what a backend supplies -------------------------------------------------------------

    @abstractmethod
    def _store_lock(self, store_id: str) -> AbstractAsyncContextManager[Any]:
        """Held around a change to a store and what follows it in this process."""

    @abstractmethod
    async def _insert_chunks(self, tx: Transaction, rows: list[dict[str, Any]], dims: int) -> None:
        """Insert kb_chunks rows (`embedding` a float32 row)."""

    def _json(self, param: str) -> str:
        return param  # SQLite stores JSON as text; PostgreSQL casts to jsonb

    async def _changed(self, store_id: str, uid: str, generation: int, added: Sequence[int],
                       vectors: np.ndarray | None, removed: Sequence[int]) -> None:
        """After a commit that changed the store's chunks (the embedded graphs follow it)."""

    async def _dropped(self, store_id: str, uid: str | None) -> None:
        """After a store was deleted."""

    @abstractmethod
    async def lexical(self, store_id: str, query: str, k: int,
                      filters: Filter | None = None) -> list[Hit]: ...

    @abstractmethod
    async def dense(self, store_id: str, vector: Sequence[float], k: int,
                    filters: Filter | None = None) -> list[Hit]: ...

    async def aclose(self) -> None:
        """Release what the index holds (the embedded graphs save themselves)."""

    # -- writes ------------------------------------------------------------------------------

    async def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]] | np.ndarray) -> int:
        """Store chunks with their vectors; a text already in the store is kept once (its file
        gets a reference to it). How many texts were new."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        by_store: dict[str, list[int]] = {}
        for i, chunk in enumerate(chunks):
            by_store.setdefault(chunk.store_id, []).append(i)
        new = 0
        for store_id, idx in by_store.items():
            matrix = as_matrix([vectors[i] for i in idx])
            new += await self._add_store(store_id, [chunks[i] for i in idx], matrix)
        return new

    async def _add_store(self, store_id: str, chunks: list[Chunk], matrix: np.ndarray) -> int:
        dims = matrix.shape[1]
        hashes = [content_hash(c) for c in chunks]
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):
            first.setdefault(h, i)
        async with self._store_lock(store_id):
            async with self.db.transaction() as tx:
                uid, generation, lex_key = await self._lock_state(tx, store_id, dims)
                seqs = await self._seqs_by_hash(tx, store_id, list(first))
                fresh = [h for h in first if h not in seqs]
                rows = [{"s": store_id, "h": h, "t": chunks[first[h]].text, "n": chunks[first[h]].tokens,
                         "d": dims, "e": matrix[first[h]], "k": lex_key} for h in fresh]
                for i in range(0, len(rows), BATCH):
                    await self._insert_chunks(tx, rows[i:i + BATCH], dims)
                if fresh:
                    seqs.update(await self._seqs_by_hash(tx, store_id, fresh))
                    generation += 1
                    await tx.execute(_BUMP, {"s": store_id, "g": generation, "n": len(fresh)})
                await self._insert_refs(tx, chunks, [seqs[h] for h in hashes])
            if fresh:
                await self._changed(store_id, uid, generation, [seqs[h] for h in fresh],
                                    matrix[[first[h] for h in fresh]], [])
        return len(fresh)

    async def _lock_state(self, tx: Transaction, store_id: str, dims: int) -> tuple[str, int, int | None]:
        """Take the store's lock; its side-index uid, generation and lexical key (all made at
        its first add)."""
        await tx.lock(f"corral.knowledge.index:{store_id}")
        state = await tx.fetch_one(_STATE, {"s": store_id})
        if state is None:
            uid, lex_key = uuid.uuid4().hex, await self._new_lex_key(tx)
            await tx.execute(_NEW_STATE, {"s": store_id, "u": uid, "d": dims, "k": lex_key})
            return uid, 0, lex_key
        if state["dims"] != dims:
            if state["chunks"]:
                raise ValueError(f"store {store_id} holds {state['dims']}-dimension vectors, not {dims}: "
                                 "delete its chunks (delete_store) before changing its embedder")
            # Empty (its last file's chunks were deleted): it takes the new dimension, in a new
            # graph (a new uid), so a write that outlived a re-embed cannot pin the old one.
            uid = uuid.uuid4().hex
            await tx.execute(_NEW_DIMS, {"s": store_id, "u": uid, "d": dims})
            return uid, int(state["generation"]), state["lex_key"]
        return str(state["uid"]), int(state["generation"]), state["lex_key"]

    async def _new_lex_key(self, tx: Transaction) -> int | None:
        """A new store's lexical key (SQLite's term prefix); None where unused."""
        return None

    async def _seqs_by_hash(self, tx: Transaction, store_id: str, hashes: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for i in range(0, len(hashes), BATCH):
            rows = await tx.fetch_all(_BY_HASH, {"s": store_id, "seqs": hashes[i:i + BATCH]})
            found.update((r["content_hash"], r["seq"]) for r in rows)
        return found

    async def _insert_refs(self, tx: Transaction, chunks: list[Chunk], seqs: list[int]) -> None:
        sql = text("INSERT INTO kb_chunk_refs (store_id, chunk_id, file_id, seq, position, heading_path, "
                   f"attributes) VALUES (:s, :c, :f, :q, :p, :h, {self._json(':a')}) "
                   "ON CONFLICT (store_id, chunk_id) DO NOTHING")
        rows = [{"s": c.store_id, "c": c.id, "f": c.file_id, "q": seq, "p": c.position,
                 "h": json.dumps(list(c.heading_path)), "a": json.dumps(dict(c.attributes))}
                for c, seq in zip(chunks, seqs, strict=True)]
        for i in range(0, len(rows), BATCH):
            await tx.execute(sql, rows[i:i + BATCH])

    async def delete_file(self, store_id: str, file_id: str) -> int:
        """Remove a file's chunks from every index of the store; how many. A text another file
        of the store also has stays for that file."""
        async with self._store_lock(store_id):
            async with self.db.transaction() as tx:
                await tx.lock(f"corral.knowledge.index:{store_id}")
                seqs = [r[0] for r in await tx.execute(_FILE_SEQS, {"s": store_id, "f": file_id})]
                if not seqs:
                    return 0
                removed = await tx.execute(_DELETE_FILE_REFS, {"s": store_id, "f": file_id})
                orphans: list[int] = []
                for i in range(0, len(seqs), BATCH):
                    orphans.extend(r[0] for r in await tx.execute(_ORPHANS, {"seqs": seqs[i:i + BATCH]}))
                for i in range(0, len(orphans), BATCH):
                    await tx.execute(seqs_in("DELETE FROM kb_chunks WHERE seq IN :seqs"),
                                     {"seqs": orphans[i:i + BATCH]})
                state = await tx.fetch_one(_STATE, {"s": store_id})
                generation = int(state["generation"]) + 1 if state else 0
                if orphans and state:
                    await tx.execute(_BUMP, {"s": store_id, "g": generation, "n": -len(orphans)})
            if orphans and state:
                await self._changed(store_id, str(state["uid"]), generation, [], None, orphans)
        return int(removed.rowcount)

    async def delete_store(self, store_id: str) -> int:
        """Remove every chunk of the store, and its dimension (a new embedder may follow)."""
        async with self._store_lock(store_id):
            async with self.db.transaction() as tx:
                await tx.lock(f"corral.knowledge.index:{store_id}")
                uid = await tx.fetch_val(text("SELECT uid FROM kb_index_stores WHERE store_id = :s"),
                                         {"s": store_id})
                removed = await tx.execute(text("DELETE FROM kb_chunk_refs WHERE store_id = :s"),
                                           {"s": store_id})
                await tx.execute(text("DELETE FROM kb_chunks WHERE store_id = :s"), {"s": store_id})
                await tx.execute(text("DELETE FROM kb_index_stores WHERE store_id = :s"), {"s": store_id})
            await self._dropped(store_id, uid)
        return int(removed.rowcount)

    # -- reads -------------------------------------------------------------------------------

    def _exists(self, filters: Filter | None, seq: str = "c.seq") -> tuple[str, dict[str, Any]]:
        """` AND EXISTS (a reference of chunk `seq` that passes)`, or nothing without filters."""
        cond, params = self._ref_filter(filters)
        exists = f" AND EXISTS (SELECT 1 FROM kb_chunk_refs r WHERE r.seq = {seq}{cond})"
        return (exists if cond else ""), params

    def _ref_filter(self, filters: Filter | None) -> tuple[str, dict[str, Any]]:
        """` AND <the filter over reference r>`, or nothing (validated either way)."""
        if not filters:
            return "", {}
        cond, params = compile_sql(filters, self.dialect, "r.attributes")
        return f" AND {cond}", params

    async def _ranked_hits(self, tx: Transaction, store_id: str, ranking: str, params: dict[str, Any],
                           filters: Filter | None, *, lexical: bool) -> list[Hit]:
        """Hits of a ranking query (`seq`, `score`: higher is better, filtered, LIMIT k) with
        their text and first passing reference, in the same statement."""
        cond, fparams = self._ref_filter(filters)  # the same names and values as in `ranking`
        sql = _RANKED_HITS.format(ranking=ranking, columns=HIT_COLUMNS, cond=cond, same_store=self.same_store)
        rows = await tx.fetch_all(text(sql), {**params, **fparams})
        return hits_of(store_id, rows, [float(r["score"]) for r in rows], lexical=lexical)


def hits_of(store_id: str, rows: Sequence[RowMapping], scores: Sequence[float], *,
            lexical: bool) -> list[Hit]:
    """One hit per chunk (its first row: rows come by chunk, then file id and position), in
    the rows' order, with the row's score and its rank (0 is the best, as fusion counts)."""
    hits: list[Hit] = []
    seen: set[int] = set()
    for row, score in zip(rows, scores, strict=True):
        if row["seq"] not in seen:
            seen.add(row["seq"])
            rank = len(hits)
            hits.append(Hit(_chunk(store_id, row), score, lexical_rank=rank if lexical else None,
                            dense_rank=None if lexical else rank))
    return hits


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _chunk(store_id: str, row: RowMapping) -> Chunk:
    return Chunk(id=row["chunk_id"], store_id=store_id, file_id=row["file_id"], text=row["text"],
                 position=row["position"], heading_path=tuple(_loads(row["heading_path"])),
                 tokens=row["tokens"], content_hash=row["content_hash"],
                 attributes=_loads(row["attributes"]))
