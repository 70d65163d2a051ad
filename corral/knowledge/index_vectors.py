"""The embedded dense index: one usearch HNSW graph per store, in memory, saved beside the
database in a side file (`<dir>/<uid>.usearch`) so a restart does not rebuild it.

Why usearch (docs/benchmarks.md, "Vector index for the embedded default"): at 100k x 384 it
answers in 0.5 ms p50 / 0.7 ms p95 with recall@10 1.0, removes vectors in place (faiss's
HNSW cannot), keeps them as float16 (152 MB in memory for 100k), and its wheel is 11 MB,
Apache-2.0. sqlite-vec is exact only (45-77 ms at 100k) and this Python cannot load SQLite
extensions; hnswlib ships no wheel.

How it stays consistent with kb_chunks after a crash: the table is the truth, the graph a
cache of one store's {seq: embedding}.

- kb_chunks keeps every embedding (float32) under a seq that is never reused (AUTOINCREMENT),
  and every change to a store bumps kb_index_stores.generation in the same transaction.
- A graph that has seen generation g and reads another reconciles: seqs it has and the table
  not are removed, seqs the table has and it not are added from the stored embeddings. That
  also takes in another process's writes (`corral worker` ingests, `corral serve` searches)
  and a side file older than the table (a crash after a commit, before the file was saved).
- The file is written under a temporary name, fsynced and renamed over the old one: a crash
  leaves the old file or the new, never a torn one, and a file that does not load is deleted
  and rebuilt from the table. Its name is the store's uid (random, made with the store's
  first vector), so a deleted store's file, or another database's, is never taken for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # noqa: F401  (first: usearch loaded before it breaks its sessions, see local_embed)
from sqlalchemy import text
from usearch.index import Index as UIndex

from corral.knowledge.index_sql import BATCH, as_matrix, seqs_in
from corral.store import Database
from corral.store.db import Transaction
from corral.store.files import private_dir

log = logging.getLogger(__name__)

#: Save a graph once this many changes are unsaved (or a quarter of its size, if more), so
#: saving stays a small share of ingestion; the rest is caught up from the table at load.
SAVE_EVERY = 2000

_STATE = text("SELECT uid, dims, generation FROM kb_index_stores WHERE store_id = :s")
_SEQS = text("SELECT seq FROM kb_chunks WHERE store_id = :s")
_EMBEDDINGS = seqs_in("SELECT seq, embedding FROM kb_chunks WHERE seq IN :seqs")


@dataclass
class Graph:
    """One store's graph and what it reflects."""

    uid: str
    dims: int
    index: UIndex
    seen: int = -1  # the kb_index_stores.generation the graph matches
    unsaved: int = 0


#: Candidates the graph walk keeps (usearch's default is 64): at 5k x 32 random vectors recall@10
#: goes from 0.977 to 0.999 for +0.08 ms a query.
EXPANSION_SEARCH = 128
EXACT_BELOW = 1000


def _new_index(dims: int) -> UIndex:
    return UIndex(ndim=dims, metric="cos", dtype="f16", expansion_search=EXPANSION_SEARCH)


class Graphs:
    """The graphs of one database's stores. Callers hold `lock(store)` around a change to the
    table and its `applied`, so this process applies its own changes in commit order."""

    def __init__(self, db: Database, directory: Path | None) -> None:
        self.db = db
        self.directory = directory
        self._graphs: dict[str, Graph] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, store_id: str) -> asyncio.Lock:
        return self._locks.setdefault(store_id, asyncio.Lock())

    def _path(self, uid: str) -> Path | None:
        return self.directory / f"{uid}.usearch" if self.directory else None

    async def current(self, store_id: str, tx: Transaction) -> Graph | None:
        """The store's graph, matching the table as `tx` (a read transaction) sees it; None when
        the store has no vectors. Hold the store's lock. Costs one query when nothing changed."""
        state = await tx.fetch_one(_STATE, {"s": store_id})
        if state is None:
            self._graphs.pop(store_id, None)
            return None
        graph = self._graphs.get(store_id)
        if graph is None or graph.uid != state["uid"]:
            graph = self._graphs[store_id] = await asyncio.to_thread(self._load, state["uid"], state["dims"])
        if graph.seen != state["generation"]:
            await self._reconcile(tx, store_id, graph, state["generation"])
        return graph

    def _load(self, uid: str, dims: int) -> Graph:
        path = self._path(uid)
        if path is not None:
            for leftover in path.parent.glob(f"{uid}.tmp*"):  # a save a crash cut short
                leftover.unlink(missing_ok=True)
        if path is not None and path.exists():
            try:
                index = _new_index(dims)  # loaded into, as the file does not keep expansion_search
                index.load(str(path))
                if index.ndim == dims:
                    return Graph(uid, dims, index)
                log.warning("vector index %s does not match its store; rebuilding it", path)
            except (ValueError, RuntimeError, OSError) as e:
                log.warning("vector index %s does not load (%s); rebuilding it", path, e)
            path.unlink(missing_ok=True)
        return Graph(uid, dims, _new_index(dims))

    async def _reconcile(self, tx: Transaction, store_id: str, graph: Graph, generation: int) -> None:
        """Make the graph hold exactly the store's seqs in `tx`'s snapshot, which is `generation`."""
        result = await tx.execute(_SEQS, {"s": store_id})
        table = np.fromiter((r[0] for r in result), dtype=np.uint64)
        have = np.asarray(graph.index.keys, dtype=np.uint64)
        missing = np.setdiff1d(table, have, assume_unique=True)
        stale = np.setdiff1d(have, table, assume_unique=True)
        rows: list[Any] = []
        for i in range(0, len(missing), BATCH):
            batch = [int(s) for s in missing[i:i + BATCH]]
            rows.extend((await tx.execute(_EMBEDDINGS, {"seqs": batch})).all())
        if len(stale) or rows:
            log.info("vector index of %s: %d added, %d removed from the table", store_id, len(rows),
                     len(stale))
            keys = np.asarray([r[0] for r in rows], dtype=np.uint64)
            await asyncio.to_thread(self._change, graph, keys, as_matrix([r[1] for r in rows], graph.dims),
                                    stale)
        graph.seen = generation

    def _change(self, graph: Graph, add_keys: np.ndarray, add: np.ndarray, remove: np.ndarray) -> None:
        if len(remove):
            graph.index.remove(remove)
        if len(add_keys):
            graph.index.add(add_keys, add, threads=2)
        graph.unsaved += len(remove) + len(add_keys)
        if graph.unsaved >= max(SAVE_EVERY, len(graph.index) // 4):
            self._save(graph)

    async def applied(self, store_id: str, uid: str, generation: int, added: Sequence[int],
                      vectors: np.ndarray | None, removed: Sequence[int]) -> None:
        """This process committed a change that made `generation`: apply it to the graph when
        the graph was current just before, else load or reconcile it from the table."""
        graph = self._graphs.get(store_id)
        if graph is None or graph.uid != uid or graph.seen != generation - 1:
            async with self.db.transaction(readonly=True) as tx:
                await self.current(store_id, tx)
            return
        add_keys = np.asarray(added, dtype=np.uint64)
        empty = np.zeros((0, graph.dims), dtype=np.float32)
        await asyncio.to_thread(self._change, graph, add_keys, empty if vectors is None else vectors,
                                np.asarray(removed, dtype=np.uint64))
        graph.seen = generation

    def search(self, graph: Graph, vector: np.ndarray, count: int) -> list[int]:
        """Up to `count` nearest seqs, nearest first (about 0.5 ms at 100k; run inline). Small
        graphs, or a count that takes them all, are scanned exactly: a graph walk can miss a
        poorly linked node, and below EXACT_BELOW a scan costs no more."""
        size = len(graph.index)
        count = min(count, size)
        if count <= 0:
            return []
        matches = graph.index.search(vector, count, threads=1, exact=size <= EXACT_BELOW or count == size)
        return [int(k) for k in matches.keys]

    async def drop(self, store_id: str, uid: str | None) -> None:
        """Forget a deleted store's graph and its file."""
        self._graphs.pop(store_id, None)
        path = self._path(uid) if uid else None
        if path is not None:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    def _save(self, graph: Graph) -> None:
        """Write the graph crash-safely: temporary file, fsync, rename, fsync the directory."""
        path = self._path(graph.uid)
        if path is None:
            return
        private_dir(path.parent)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        graph.index.save(str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        graph.unsaved = 0

    async def close(self) -> None:
        """Save what is unsaved (a graph not saved is rebuilt from the table next time)."""
        for store_id, graph in list(self._graphs.items()):
            async with self.lock(store_id):
                if graph.unsaved:
                    await asyncio.to_thread(self._save, graph)
        self._graphs.clear()
