"""The knowledge base's tables: vector stores and their files (migration 12), and the index
they are searched through (migration 11). Kept beside corral.store.schema, on its metadata,
which imports them so that one import still describes the whole database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

from corral.store.schema_base import UTCDateTime, metadata

# Vector stores (corral.knowledge, migration 12): OpenAI's vector-store API over Corral's
# knowledge bases. A store belongs to a team; its files' chunks and vectors live in the index
# (migration 11's tables), its files' parsed text here (the `.../content` endpoint). File
# counts and bytes are counted from vector_store_files when read, never kept as counters that
# two workers could both update.
vector_stores = Table(
    "vector_stores",
    metadata,
    Column("id", String(64), primary_key=True),  # vs_<hex>
    Column("team", String(200), nullable=False),
    Column("key_id", String(64), nullable=True),  # the key that created it
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=True),
    Column("metadata", Text, nullable=True),  # JSON: up to 16 string pairs
    Column("status", String(16), nullable=False),  # active | deleting (expired: from expires_at)
    Column("expires_after_days", Integer, nullable=True),  # anchor: last_active_at
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("last_active_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("embed_model", String(200), nullable=False),  # the route that embeds its chunks and queries
    Column("embed_name", String(200), nullable=True),  # the embedder's model name, once it embedded
    Column("embed_dimensions", Integer, nullable=True),
    Column("chunk_tokens", Integer, nullable=False),  # chunking of files attached at creation
    Column("chunk_overlap", Integer, nullable=False),
    Index("ix_vector_stores_team_created_at", "team", "created_at"),
)

vector_store_files = Table(
    "vector_store_files",
    metadata,
    Column("store_id", String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), primary_key=True),
    Column("file_id", String(64), primary_key=True),  # the Files API's id
    Column("team", String(200), nullable=False),
    Column("filename", String(512), nullable=False),  # kept: search answers name it after a file is gone
    Column("status", String(16), nullable=False),  # in_progress | completed | cancelled | failed
    Column("last_error", Text, nullable=True),  # JSON {code, message}
    Column("attributes", Text, nullable=True),  # JSON: up to 16 pairs, for search filters
    Column("chunk_tokens", Integer, nullable=False),
    Column("chunk_overlap", Integer, nullable=False),
    Column("usage_bytes", BigInteger, nullable=False),  # the chunks' text, once ingested
    Column("chunks", Integer, nullable=False),
    Column("batch_id", String(64), nullable=True),  # vsfb_<hex>, when a file batch added it
    Column("token", String(32), nullable=False),  # new at every (re-)add: a stale ingest writes nothing
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_vector_store_files_store_id_status", "store_id", "status"),
    Index("ix_vector_store_files_store_id_created_at", "store_id", "created_at"),
    Index("ix_vector_store_files_batch_id", "batch_id"),
)

# A file's parsed text, block by block (headings, paragraphs, tables), as the parser read it.
vector_store_file_texts = Table(
    "vector_store_file_texts",
    metadata,
    Column("store_id", String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), primary_key=True),
    Column("file_id", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
)

vector_store_file_batches = Table(
    "vector_store_file_batches",
    metadata,
    Column("id", String(64), primary_key=True),  # vsfb_<hex>
    Column("store_id", String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), nullable=False),
    Column("team", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # in_progress | cancelled (the rest: from its files)
    Column("total", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_vector_store_file_batches_store_id_created_at", "store_id", "created_at"),
)


class Vector(UserDefinedType[list[float]]):
    """pgvector's `vector`, unsized: one column holds every store's embeddings, each row's `dims`
    sizes it and each dimension gets its own HNSW index. `schema` names where the extension
    lives (a deployment's search_path need not include it)."""

    cache_ok = True

    def __init__(self, schema: str | None = None) -> None:
        self.schema = schema

    def get_col_spec(self, **kw: Any) -> str:
        return f'"{self.schema}".vector' if self.schema else "vector"


# So reflecting kb_chunks knows the type: PostgreSQL names it `public.vector` where the
# search_path (a test's schema) does not hold the extension's schema.
for _name in ("vector", "public.vector"):
    ischema_names.setdefault(_name, Vector)

# The knowledge index (corral.knowledge.index_sqlite / index_pg, migration 11): a text once per
# store (content_hash) with its embedding; files point at it from kb_chunk_refs, so a text two
# files share outlives either's deletion. The migration adds what one dialect alone has:
# SQLite's analysed `terms` and its FTS5 table kb_chunks_fts (kept in step by triggers),
# PostgreSQL's generated tsvector `tsv` (DIALECT_COLUMNS); HNSW indexes are made per dimension
# when a store first uses it.
kb_chunks = Table(
    "kb_chunks",
    metadata,
    # Never reused (AUTOINCREMENT on SQLite): the side vector index keys on it.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("store_id", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),  # sha256 hex of the text
    Column("text", Text, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("dims", Integer, nullable=False),
    # float32 bytes on SQLite (the side index is rebuilt from them), vector on PostgreSQL
    Column("embedding", LargeBinary().with_variant(Vector(), "postgresql"), nullable=False),
    UniqueConstraint("store_id", "content_hash"),
    sqlite_autoincrement=True,
)

kb_chunk_refs = Table(
    "kb_chunk_refs",
    metadata,
    Column("store_id", String(64), primary_key=True),
    Column("chunk_id", String(200), primary_key=True),
    Column("file_id", String(64), nullable=False),
    Column("seq", BigInteger, ForeignKey("kb_chunks.seq", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("heading_path", Text, nullable=False),  # JSON list
    Column("attributes", JSON().with_variant(JSONB(), "postgresql"), nullable=False),  # the file's
    Index("ix_kb_chunk_refs_store_id_file_id", "store_id", "file_id"),
    Index("ix_kb_chunk_refs_seq", "seq"),
)

# Per store: its embedding dimension and number of texts; on SQLite the side index's file
# name (uid), a counter bumped by every change, so a process sees another's writes
# (index_vectors.py), and the number that prefixes the store's FTS5 terms (index_sqlite.py).
kb_index_stores = Table(
    "kb_index_stores",
    metadata,
    Column("store_id", String(64), primary_key=True),
    Column("uid", String(32), nullable=False),
    Column("dims", Integer, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("lex_key", Integer, nullable=True),
    Index("ix_kb_index_stores_lex_key", "lex_key", unique=True),
)

# Columns a migration adds on one dialect only (tests/store compares the rest).
DIALECT_COLUMNS: dict[str, dict[str, frozenset[str]]] = {
    "postgresql": {"kb_chunks": frozenset({"tsv"})},
    "sqlite": {"kb_chunks": frozenset({"terms"})},
}
