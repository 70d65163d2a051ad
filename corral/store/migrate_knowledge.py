"""Migrations 11 and 12: the knowledge index's tables, and the vector stores over them.

Migration 11: both dialects get kb_chunks, kb_chunk_refs and kb_index_stores (a snapshot, as every migration
keeps). What only one dialect can have is made here too:

- SQLite: a `terms` column (the text's words as corral.knowledge.lexical analyses them, each
  prefixed with its store's number: index_sqlite says why) and an FTS5 table over it (external
  content: stored once), kept in step by triggers, so no code path can insert or delete a
  chunk and forget the lexical index; and an fts5vocab table for terms' chunk counts.
- PostgreSQL: the pgvector extension (`CREATE EXTENSION IF NOT EXISTS vector`, in `public`
  where it exists, so test schemas dropped with CASCADE never take it with them), a `vector`
  column and a generated `tsvector` with its GIN index. HNSW indexes are made per dimension
  when a store first adds vectors of it (corral.knowledge.index_pg), as the dimension is the
  embedder's.
"""

from __future__ import annotations

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
from sqlalchemy.schema import CreateIndex, CreateTable

from corral.store.db import Transaction
from corral.store.ddl import create_table_ddl
from corral.store.schema import UTCDateTime, Vector, new_metadata

_EXTENSION_SCHEMA = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'vector'
"""


class PgVectorMissing(RuntimeError):
    """The PostgreSQL server has no pgvector to create the extension from."""


async def pgvector_schema(tx: Transaction) -> str | None:
    """The schema the `vector` extension lives in, None when it is not created."""
    found = await tx.fetch_val(_EXTENSION_SCHEMA)
    return str(found) if found else None


async def ensure_pgvector(tx: Transaction) -> str:
    """Create the extension where missing (public, else the current schema); its schema."""
    found = await pgvector_schema(tx)
    if found:
        return found
    if not await tx.fetch_val("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"):
        raise PgVectorMissing(
            "the knowledge index needs the pgvector extension, which this PostgreSQL server does not "
            "have: install it (Debian: postgresql-NN-pgvector, or `make pgvector` as root, which "
            "builds the vendored source) and start again")
    has_public = await tx.fetch_val("SELECT 1 FROM pg_namespace WHERE nspname = 'public'")
    target = "public" if has_public else await tx.fetch_val("SELECT current_schema()")
    await tx.execute(f'CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA "{target}"')
    return str(target)


_SQLITE_FTS = [
    "ALTER TABLE kb_chunks ADD COLUMN terms TEXT NOT NULL DEFAULT ''",
    # tokenchars '_': a term is \w+ (underscores included), as lexical.terms splits words
    "CREATE VIRTUAL TABLE kb_chunks_fts USING fts5(terms, content='kb_chunks', content_rowid='seq', "
    "tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")",
    "CREATE TRIGGER kb_chunks_fts_insert AFTER INSERT ON kb_chunks BEGIN "
    "INSERT INTO kb_chunks_fts(rowid, terms) VALUES (new.seq, new.terms); END",
    "CREATE TRIGGER kb_chunks_fts_delete AFTER DELETE ON kb_chunks BEGIN "
    "INSERT INTO kb_chunks_fts(kb_chunks_fts, rowid, terms) VALUES ('delete', old.seq, old.terms); END",
    "CREATE VIRTUAL TABLE kb_chunks_fts_vocab USING fts5vocab(kb_chunks_fts, row)",
]
_PG_FTS = [
    "ALTER TABLE kb_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_kb_chunks_tsv ON kb_chunks USING gin (tsv)",
]


async def v11_knowledge_index(tx: Transaction) -> None:
    """kb_chunks (a text once per store, with its embedding), kb_chunk_refs (files' chunks
    pointing at it), kb_index_stores (per store: dimension, side-index file, change counter)."""
    pg = tx.dialect == "postgresql"
    vector_type = Vector(await ensure_pgvector(tx)) if pg else LargeBinary()
    md = new_metadata()
    chunks = Table(
        "kb_chunks",
        md,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("store_id", String(64), nullable=False),
        Column("content_hash", String(64), nullable=False),
        Column("text", Text, nullable=False),
        Column("tokens", Integer, nullable=False),
        Column("dims", Integer, nullable=False),
        Column("embedding", vector_type, nullable=False),
        UniqueConstraint("store_id", "content_hash"),
        sqlite_autoincrement=True,
    )
    refs = Table(
        "kb_chunk_refs",
        md,
        Column("store_id", String(64), primary_key=True),
        Column("chunk_id", String(200), primary_key=True),
        Column("file_id", String(64), nullable=False),
        Column("seq", BigInteger, ForeignKey("kb_chunks.seq", ondelete="CASCADE"), nullable=False),
        Column("position", Integer, nullable=False),
        Column("heading_path", Text, nullable=False),
        Column("attributes", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        Index("ix_kb_chunk_refs_store_id_file_id", "store_id", "file_id"),
        Index("ix_kb_chunk_refs_seq", "seq"),
    )
    stores = Table(
        "kb_index_stores",
        md,
        Column("store_id", String(64), primary_key=True),
        Column("uid", String(32), nullable=False),
        Column("dims", Integer, nullable=False),
        Column("generation", BigInteger, nullable=False),
        Column("chunks", Integer, nullable=False),
        Column("lex_key", Integer, nullable=True),
        Index("ix_kb_index_stores_lex_key", "lex_key", unique=True),
    )
    for table in (chunks, refs, stores):
        await tx.execute(CreateTable(table))
        for ix in sorted(table.indexes, key=lambda i: str(i.name)):
            await tx.execute(CreateIndex(ix))
    for stmt in _PG_FTS if pg else _SQLITE_FTS:
        await tx.execute(stmt)


async def v12_vector_stores(tx: Transaction) -> None:
    """OpenAI's vector stores (corral.knowledge): stores, their files, parsed text, file batches."""
    md = new_metadata()
    stores = Table(
        "vector_stores",
        md,
        Column("id", String(64), primary_key=True),
        Column("team", String(200), nullable=False),
        Column("key_id", String(64), nullable=True),
        Column("name", String(256), nullable=False),
        Column("description", Text, nullable=True),
        Column("metadata", Text, nullable=True),
        Column("status", String(16), nullable=False),
        Column("expires_after_days", Integer, nullable=True),
        Column("expires_at", UTCDateTime(), nullable=True),
        Column("last_active_at", UTCDateTime(), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("embed_model", String(200), nullable=False),
        Column("embed_name", String(200), nullable=True),
        Column("embed_dimensions", Integer, nullable=True),
        Column("chunk_tokens", Integer, nullable=False),
        Column("chunk_overlap", Integer, nullable=False),
        Index("ix_vector_stores_team_created_at", "team", "created_at"),
    )
    store_files = Table(
        "vector_store_files",
        md,
        Column("store_id", String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), primary_key=True),
        Column("file_id", String(64), primary_key=True),
        Column("team", String(200), nullable=False),
        Column("filename", String(512), nullable=False),
        Column("status", String(16), nullable=False),
        Column("last_error", Text, nullable=True),
        Column("attributes", Text, nullable=True),
        Column("chunk_tokens", Integer, nullable=False),
        Column("chunk_overlap", Integer, nullable=False),
        Column("usage_bytes", BigInteger, nullable=False),
        Column("chunks", Integer, nullable=False),
        Column("batch_id", String(64), nullable=True),
        Column("token", String(32), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Index("ix_vector_store_files_store_id_status", "store_id", "status"),
        Index("ix_vector_store_files_store_id_created_at", "store_id", "created_at"),
        Index("ix_vector_store_files_batch_id", "batch_id"),
    )
    texts = Table(
        "vector_store_file_texts",
        md,
        Column("store_id", String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), primary_key=True),
        Column("file_id", String(64), primary_key=True),
        Column("idx", Integer, primary_key=True, autoincrement=False),
        Column("text", Text, nullable=False),
    )
    file_batches = Table(
        "vector_store_file_batches",
        md,
        Column("id", String(64), primary_key=True),
        Column("store_id", String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), nullable=False),
        Column("team", String(200), nullable=False),
        Column("status", String(16), nullable=False),
        Column("total", Integer, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Index("ix_vector_store_file_batches_store_id_created_at", "store_id", "created_at"),
    )
    for stmt in create_table_ddl(stores, store_files, texts, file_batches):
        await tx.execute(stmt)
