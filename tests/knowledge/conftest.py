"""Shared pieces of the knowledge-base tests: the built-in embedding model, loaded once per
session (~1 s), and a deterministic stand-in embedder for tests about ranking logic."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from corral.knowledge.lexical import terms
from corral.providers.base import ProviderConfig
from corral.providers.local_embed import LocalEmbedProvider

RAG_DATA = Path(os.environ.get("CORRAL_RAG_DATA",
                               Path(__file__).resolve().parents[3] / "shared" / "data" / "rag"))


@pytest.fixture(scope="session")
def local_embed() -> Iterator[LocalEmbedProvider]:
    provider = LocalEmbedProvider(ProviderConfig(name="local-embed", type="local-embed"))
    asyncio.run(provider.warmup())
    yield provider
    asyncio.run(provider.aclose())


class HashEmbedder:
    """Bag-of-terms vectors (each term hashed to one of 64 axes): texts sharing terms are close.
    Deterministic and instant, for tests of fusion, filters and thresholds."""

    name = "hash"
    dimensions = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.vector(t) for t in texts]

    def vector(self, text: str) -> list[float]:
        v = [0.0] * self.dimensions
        for term in terms(text):
            v[hashlib.sha1(term.encode()).digest()[0] % self.dimensions] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]
