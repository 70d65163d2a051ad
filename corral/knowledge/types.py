"""The shapes the knowledge-base parts agree on: documents become chunks, chunks are
embedded and indexed, a query finds hits.

    parse (corral.knowledge.parsers)   file bytes -> Document (text blocks with headings)
    chunk (corral.knowledge.chunking)  Document -> [Chunk] within a token budget, with overlap
    embed (corral.knowledge.embedders) [text] -> [vector]; one model and dimension per store
    index (corral.knowledge.index_*)   chunks + vectors in; hybrid search out, per store
    retrieve (corral.knowledge.retriever) query -> [Hit], lexical and dense fused (RRF)

Everything here is plain data and protocols, so each part can be built and tested alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

AttributeValue = str | float | bool


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of a document as its structure has it: a paragraph, a table, a list item."""

    text: str
    kind: Literal["heading", "paragraph", "table", "list", "code"] = "paragraph"
    level: int = 0  # a heading's level (1 for the title); 0 for other blocks


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed file: its blocks in reading order. `title` when the format names one."""

    blocks: list[Block]
    title: str | None = None
    media_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable passage. `content_hash` (sha256 of the text) stores identical text once
    per store; `heading_path` is the headings above it, outermost first."""

    id: str
    store_id: str
    file_id: str
    text: str
    position: int  # 0-based order of the chunk in its file
    heading_path: tuple[str, ...] = ()
    tokens: int = 0
    content_hash: str = ""
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)  # the file's, for filters


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk a search found, with its fused score (higher is better, 0..1 after
    normalisation) and where it ranked in each list (None: not in that list)."""

    chunk: Chunk
    score: float
    lexical_rank: int | None = None
    dense_rank: int | None = None


# A metadata filter as OpenAI's vector-store search sends it: a comparison
# {"type": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|"nin", "key": ..., "value": ...} or a compound
# {"type": "and"|"or", "filters": [...]}.
Filter = Mapping[str, Any]


class Embedder(Protocol):
    """Turns texts into vectors. `name` and `dimensions` are recorded per store: a store
    keeps one embedder, and changing it re-embeds the store."""

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class Index(Protocol):
    """Where a store's chunks live and are searched (SQLite by default, PostgreSQL with
    pgvector when configured). Every method is scoped to one store."""

    async def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        """Store chunks (identical content_hash in the same store: kept once); how many are new."""
        ...

    async def delete_file(self, store_id: str, file_id: str) -> int:
        """Remove a file's chunks from every index of the store; how many."""
        ...

    async def delete_store(self, store_id: str) -> int: ...

    async def lexical(self, store_id: str, query: str, k: int, filters: Filter | None = None) -> list[Hit]:
        """Full-text search, best first (score: the engine's, higher is better)."""
        ...

    async def dense(self, store_id: str, vector: Sequence[float], k: int,
                    filters: Filter | None = None) -> list[Hit]:
        """Nearest neighbours by cosine similarity, best first."""
        ...
