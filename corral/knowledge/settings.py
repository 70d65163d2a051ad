"""`knowledge:` configuration: how much a team may keep in vector stores, and how files are
ingested (docs/knowledge.md).

Why these defaults: every chunk lives in the one database every replica depends on (SQLite
file or PostgreSQL), so each bound stops one team from filling it (100 stores per team,
10,000 files per store). 64 MiB per file keeps one parse (a PDF is read whole, in memory)
within a worker's means, below the Files API's 200 MB, and matches the parser's own
`ParseLimits.max_bytes`; a million chunks is a few GB of text and 384-dimension vectors.

`auto` chunking is 200 tokens with 40 of overlap, not OpenAI's 800/400: the built-in
embedder reads only the first ~216 tokens of a text, so it would embed a quarter of an
800-token chunk, and on the RAG set 200/40 finds the answering passage far more often for
the same prompt budget (docs/knowledge.md, "Chunking"). A gateway that embeds with a model
reading longer texts can set OpenAI's values; a file's object always reports the sizes used.

This module imports nothing but pydantic: `Settings` composes it as the `knowledge:` key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MIB = 1024 * 1024


class KnowledgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_stores_per_team: int | None = Field(100, ge=1)  # null: no limit; more get 403
    max_files_per_store: int | None = Field(10_000, ge=1)  # files attached to one store; more get 403
    max_file_bytes: int = Field(64 * MIB, ge=1)  # a larger file ends `failed` (invalid_file), unparsed
    max_chunks_per_store: int | None = Field(1_000_000, ge=1)  # a file that would pass it ends `failed`
    # The route that embeds documents and queries of new stores (a store keeps the one it was
    # made with). null: the built-in local embedding model, offline.
    embedding_model: str | None = None
    # The `auto` chunking strategy: tokens per chunk and overlap between neighbours (OpenAI's
    # is 800/400; see the module docstring for why Corral's is smaller).
    auto_chunk_tokens: int = Field(200, ge=100, le=4096)
    auto_overlap_tokens: int = Field(40, ge=0)
    parse_timeout_s: float = Field(120.0, gt=0)  # one file's parse; longer ends `failed` (server_error)
    embed_batch: int = Field(64, ge=1, le=2048)  # texts per embeddings request while ingesting
    ingest_attempts: int = Field(3, ge=1, le=20)  # tries per file when embedding or the index fails
    priority: int = Field(0, ge=-100, le=100)  # queue priority of ingestion (background responses run above)
    poll_after_ms: int = Field(250, ge=10)  # the `openai-poll-after-ms` hint the SDKs' poll helpers read
    # An expired store (expires_after) can be revived by extending it; after this long expired,
    # the hourly purge deletes it with its files' chunks, as a retention rule.
    expired_purge_after_s: float = Field(7 * 86400, ge=0)

    @model_validator(mode="after")
    def _overlap_below_half(self) -> KnowledgeSettings:
        if self.auto_overlap_tokens > self.auto_chunk_tokens // 2:
            raise ValueError("auto_overlap_tokens must be at most half of auto_chunk_tokens (OpenAI's rule)")
        return self


class RouteKnowledge(BaseModel):
    """A route's `knowledge:` option: every chat request on it is grounded in these stores
    (corral.knowledge.stage; docs/knowledge.md, "Grounded chat completions").

    Stores are owned by teams and the configuration by the operator, so which of them a
    request searches is decided per caller: only those its key may see. A caller that may
    see none of them is refused (403) rather than answered ungrounded."""

    model_config = ConfigDict(extra="forbid")

    stores: list[str] = Field(min_length=1, max_length=8)  # vector store ids (vs_...)
    top_k: int = Field(5, ge=1, le=50)  # chunks retrieved, best first, from all the stores together
    # The prompt tokens (o200k_base) the rules and sources may add; sources that would pass it
    # are left out, worst first (the record counts them as `dropped`).
    max_context_tokens: int = Field(2000, ge=256, le=100_000)
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)  # chunks scoring below it are not used

    @model_validator(mode="after")
    def _store_ids(self) -> RouteKnowledge:
        for i, store_id in enumerate(self.stores):
            if not store_id.startswith("vs_") or len(store_id) > 64:
                raise ValueError(f"stores.{i}: '{store_id[:70]}' is not a vector store id (vs_...)")
        self.stores = list(dict.fromkeys(self.stores))
        return self
