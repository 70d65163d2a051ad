"""Shared pieces of the index tests: an index on each backend, chunks and vectors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest_asyncio

from corral.knowledge.index_sql import SqlIndex
from corral.knowledge.indexes import open_index
from corral.knowledge.types import AttributeValue, Chunk, Hit
from corral.store import Database

DIMS = 16


@pytest_asyncio.fixture
async def index(migrated_db: Database, tmp_path: Path) -> AsyncIterator[SqlIndex]:
    """The backend's index on a migrated database (SQLite graphs' files under tmp_path)."""
    idx = open_index(migrated_db, tmp_path / "home")
    try:
        yield idx
    finally:
        await idx.aclose()


async def analyze(index: SqlIndex) -> None:
    """Table statistics as a running PostgreSQL has them, so its planner takes the HNSW index
    (fresh tables have none, and it scans exactly instead: filters would be tested less)."""
    if index.db.dialect == "postgresql":
        for table in ("kb_chunks", "kb_chunk_refs"):
            await index.db.execute(f"ANALYZE {table}")


def chunk(store: str, file: str, position: int, text: str, **attributes: AttributeValue) -> Chunk:
    return Chunk(id=f"{store}/{file}/{position}", store_id=store, file_id=file, text=text, position=position,
                 heading_path=("Doc", f"Section {position}"), tokens=len(text.split()), attributes=attributes)


def vectors(n: int, seed: int = 0, dims: int = DIMS) -> np.ndarray:
    """n random float32 rows (not normalised: the index must handle any length)."""
    return np.random.default_rng(seed).standard_normal((n, dims)).astype(np.float32)


def cosine_order(query: np.ndarray, matrix: np.ndarray) -> list[int]:
    """Row indexes by cosine similarity to the query, best first."""
    sims = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    return [int(i) for i in np.argsort(-sims, kind="stable")]


def ids(hits: Sequence[Hit]) -> list[str]:
    return [h.chunk.id for h in hits]
