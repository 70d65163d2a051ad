"""`knowledge:` configuration: how much a team may keep in vector stores, and how files are
ingested (docs/knowledge.md).

Why these defaults: every chunk lives in the one database every replica depends on (SQLite
file or PostgreSQL), so each bound stops one team from filling it. 100 stores per team and
10,000 files per store are OpenAI's own limits for a vector store; 64 MB per file keeps one
parse (a PDF is read whole, in memory) within a worker's means, below the Files API's
200 MB; a million chunks per store is about 1.5 GB of 384-dimension vectors and text.
`auto` chunking is OpenAI's (800 tokens, 400 overlap), so a client that relies on it gets
the passages it would get there.

This module imports nothing but pydantic: `Settings` composes it as the `knowledge:` key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MB = 1_000_000


class KnowledgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_stores_per_team: int | None = Field(100, ge=1)  # null: no limit; more get 403
    max_files_per_store: int | None = Field(10_000, ge=1)  # files attached to one store; more get 403
    max_file_bytes: int = Field(64 * MB, ge=1)  # a larger file ends `failed` (invalid_file), unparsed
    max_chunks_per_store: int | None = Field(1_000_000, ge=1)  # a file that would pass it ends `failed`
    # The route that embeds documents and queries of new stores (a store keeps the one it was
    # made with). null: the built-in local embedding model, offline.
    embedding_model: str | None = None
    # OpenAI's `auto` chunking strategy: tokens per chunk and overlap between neighbours.
    auto_chunk_tokens: int = Field(800, ge=100, le=4096)
    auto_overlap_tokens: int = Field(400, ge=0)
    parse_timeout_s: float = Field(120.0, gt=0)  # one file's parse; longer ends `failed` (server_error)
    embed_batch: int = Field(64, ge=1, le=2048)  # texts per embeddings request while ingesting
    ingest_attempts: int = Field(3, ge=1, le=20)  # tries per file when embedding or the index fails
    priority: int = Field(0, ge=-100, le=100)  # queue priority of ingestion (background responses run above)
    poll_after_ms: int = Field(250, ge=10)  # the `openai-poll-after-ms` hint the SDKs' poll helpers read

    @model_validator(mode="after")
    def _overlap_below_half(self) -> KnowledgeSettings:
        if self.auto_overlap_tokens > self.auto_chunk_tokens // 2:
            raise ValueError("auto_overlap_tokens must be at most half of auto_chunk_tokens (OpenAI's rule)")
        return self
