"""The knowledge base's real parts, with an in-memory index and the instant hash embedder, for
tests of the ingestion handler that need no gateway."""

from __future__ import annotations

from corral.core.context import Caller
from corral.knowledge.index_memory import MemoryIndex
from corral.knowledge.objects import VectorStore
from corral.knowledge.parsers import ParseLimits
from corral.knowledge.retriever import Retriever
from corral.knowledge.types import Embedder, Index
from corral.knowledge.wiring import Parts, chunk_file, reader
from tests.knowledge.conftest import HashEmbedder


def hash_parts(index: Index | None = None) -> Parts:
    embedder = HashEmbedder()

    async def embedder_for(store: VectorStore, caller: Caller) -> Embedder:
        return embedder

    return Parts(index=index or MemoryIndex(), embedder=embedder_for, read=reader(ParseLimits()),
                 chunker=chunk_file, retriever=Retriever, route_of=lambda model: model)
