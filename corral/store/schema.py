"""Table definitions (SQLAlchemy Core) — the current shape of the database.

This module describes what the tables look like *now* and is what queries
import. Tables are created and changed only by :mod:`corral.store.migrations`;
when you add or alter a table here, append a migration there too (a test
compares the migrated database with this metadata).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

# Deterministic constraint names keep later ALTER migrations portable.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are
    stored as naive UTC and re-tagged on read. Naive inputs are rejected to
    avoid silently storing local time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_metadata() -> MetaData:
    """MetaData with Corral's naming convention (also used by migrations' snapshots)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


metadata = new_metadata()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),  # key_<hex>
    Column("name", String(200), nullable=False),
    Column("team", String(200), nullable=False),
    Column("scopes", Text, nullable=False),  # comma-separated, sorted
    Column("prefix", String(32), nullable=False),  # shown to humans: sk-corral-xxxxxx
    Column("hash", String(64), nullable=False, unique=True),  # sha256 hex of the full key
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("created_by", String(200), nullable=True),
    Index("ix_api_keys_prefix", "prefix"),
    Index("ix_api_keys_team", "team"),
)

#: Longest prompt excerpt kept in ``policy_events.prompt_excerpt`` (characters).
PROMPT_EXCERPT_CHARS = 2000

# Provider refusals and content-filter answers, kept for operators to review.
policy_events = Table(
    "policy_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("request_id", String(128), nullable=False),  # client ids may be 128 chars
    Column("key_id", String(64), nullable=True),
    Column("team", String(200), nullable=True),
    Column("route", String(200), nullable=False),  # public model name
    Column("deployment", String(300), nullable=True),  # provider/model that refused
    Column("provider", String(100), nullable=True),
    Column("category", String(200), nullable=False),  # provider's category or error code
    Column("message", Text, nullable=False),  # provider's message
    # PRIVACY: raw user text (last user message, at most PROMPT_EXCERPT_CHARS). Pending
    # redaction by the privacy work; treat this column as sensitive until then.
    Column("prompt_excerpt", Text, nullable=True),
    Column("stream", Boolean, nullable=False),
    Index("ix_policy_events_created_at", "created_at"),
    Index("ix_policy_events_route", "route"),
    Index("ix_policy_events_key_id", "key_id"),
)

# One row per request (corral.observe): written behind the request path in batches,
# replayed from the disk spool after an outage, so the insert is idempotent on request_id.
requests = Table(
    "requests",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),  # request start
    Column("key_id", String(64), nullable=True),
    Column("team", String(200), nullable=True),
    Column("end_user", String(256), nullable=True),  # the request's `user` field
    Column("route", String(200), nullable=False),  # public model name
    Column("requested_model", String(200), nullable=False),
    Column("served_model", String(200), nullable=True),
    Column("deployment", String(300), nullable=True),
    Column("provider_type", String(100), nullable=True),
    Column("status", String(16), nullable=False),  # ok | error | degraded
    Column("http_status", Integer, nullable=False),
    Column("error_type", String(100), nullable=True),
    Column("stream", Boolean, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("reasoning_tokens", Integer, nullable=False),
    Column("usage_estimated", Boolean, nullable=False),
    Column("ttft_upstream_ms", Float, nullable=True),
    Column("ttft_client_ms", Float, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("cost_usd", Float, nullable=True),  # NULL: unpriced, never shown as $0
    Column("priced", Boolean, nullable=False),
    Column("cache_hit", Boolean, nullable=False),
    Column("degraded", String(64), nullable=True),
    Column("fallback", String(300), nullable=True),
    # JSON: [[deployment, provider, model, status, error_type, duration_ms], ...]
    Column("attempts", Text, nullable=False),
    # PRIVACY: captured content, only with content capture on and as the privacy stage left it.
    Column("prompt", Text, nullable=True),  # JSON
    Column("response", Text, nullable=True),
    Column("extras", Text, nullable=False),  # JSON object
    # The id the client sent, for correlation; request_id is always Corral's own (migration 5).
    Column("client_request_id", String(128), nullable=True),
    Column("operation", String(32), nullable=False, server_default="chat"),  # migration 6
    Index("ix_requests_created_at", "created_at"),
    Index("ix_requests_key_id", "key_id"),
    Index("ix_requests_team", "team"),
    Index("ix_requests_route", "route"),
    Index("ix_requests_served_model", "served_model"),
    Index("ix_requests_status", "status"),
    Index("ix_requests_client_request_id", "client_request_id"),
)

# Quality signals (corral.observe.quality): user feedback on answers, golden Q/A pairs per
# route, and sampled answer scores. Feedback references a request by the id the client saw
# (request_id or the chat response id), without a foreign key: records are written behind.
feedback = Table(
    "feedback",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("response_id", String(160), nullable=True),  # e.g. chatcmpl-<hex>
    Column("key_id", String(64), nullable=True),  # the caller who gave the feedback
    Column("team", String(200), nullable=True),
    Column("rating", String(8), nullable=True),  # up | down
    Column("score", Float, nullable=True),  # 0..1
    Column("comment", Text, nullable=True),  # PRIVACY: free user text
    Column("correction", Text, nullable=True),  # PRIVACY: free user text
    Index("ix_feedback_created_at", "created_at"),
    Index("ix_feedback_request_id", "request_id"),
    Index("ix_feedback_response_id", "response_id"),
)

golden_examples = Table(
    "golden_examples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("route", String(200), nullable=False),  # public model name
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Index("ix_golden_examples_route", "route"),
)

quality_scores = Table(
    "quality_scores",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("route", String(200), nullable=False),
    Column("model", String(200), nullable=True),  # served model
    Column("kind", String(32), nullable=False),  # similarity | consistency
    Column("score", Float, nullable=False),
    Column("golden_id", Integer, nullable=True),  # nearest golden example (similarity)
    Index("ix_quality_scores_created_at", "created_at"),
    Index("ix_quality_scores_route", "route"),
)

# Files (corral.files, migration 7): metadata here, the bytes in ~1 MiB rows of file_chunks, so
# every replica serves every file from the shared database (no local disk). A row is written
# `uploading` when an upload starts and becomes `processed` when it commits; only processed,
# unexpired rows are visible, and the purge removes expired files and abandoned uploads.
files = Table(
    "files",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),  # file-<hex>
    Column("team", String(200), nullable=False),  # the owner: the uploading key's team
    Column("key_id", String(64), nullable=True),  # the key that uploaded it (NULL: written by Corral)
    Column("purpose", String(32), nullable=True),  # NULL until the upload commits
    Column("filename", String(512), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # uploading | processed
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),  # NULL: kept until deleted
    Index("ix_files_team_seq", "team", "seq"),
    Index("ix_files_expires_at", "expires_at"),
    Index("ix_files_status_created_at", "status", "created_at"),
)

file_chunks = Table(
    "file_chunks",
    metadata,
    Column("file_id", String(64), ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),  # 0, 1, 2, ... in file order
    Column("data", LargeBinary, nullable=False),
)

# The durable job queue (corral.jobs): background responses, batches and their items. A
# worker claims a row by setting lease_owner/lease_token/lease_expires_at; only the holder of
# the current lease_token may write the outcome (fencing), so a result is written once.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),  # job_<hex>, or the API's own id (resp_..., batch_...)
    Column("kind", String(32), nullable=False),  # response | batch | batch_item | ...
    Column("team", String(200), nullable=False),
    Column("key_id", String(64), nullable=True),  # the key that submitted it
    Column("payload", Text, nullable=False),  # JSON; PRIVACY: may hold request content
    # queued | in_progress | completed | failed | cancelling | cancelled | expired
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False),  # higher is claimed first
    Column("attempts", Integer, nullable=False),  # claims so far (a released lease gives one back)
    Column("max_attempts", Integer, nullable=False),
    Column("not_before", UTCDateTime(), nullable=False),  # claimable from (retry backoff)
    Column("lease_owner", String(128), nullable=True),  # worker id
    Column("lease_token", String(64), nullable=True),  # new at every claim: the fencing token
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("dedupe_key", String(200), nullable=True),  # unique per (team, kind)
    Column("result", Text, nullable=True),  # JSON; PRIVACY: may hold model output
    Column("error", Text, nullable=True),  # JSON: the last attempt's error
    Column("parent_id", String(64), nullable=True),  # a batch item's batch
    Column("cancel_requested", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),  # first claim
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),  # still queued then: expired
    Index("ix_jobs_lease", "status", "lease_expires_at"),
    Index("ix_jobs_parent", "parent_id", "status"),
    Index("ix_jobs_team", "team", "status"),
    Index("ix_jobs_finished_at", "finished_at"),
    Index("uq_jobs_dedupe", "team", "kind", "dedupe_key", unique=True),
)
# The claim's ORDER BY as an index (migration 13 says why).
Index("ix_jobs_claim_order", jobs.c.status, jobs.c.priority.desc(), jobs.c.not_before, jobs.c.id)

# Stored responses (corral.responses, migration 9): the Responses API's `store: true`, owned by
# the creating key's team. PRIVACY: a data class holding conversation content at the client's
# request (input items and output as sent and answered); retention and erasure come with
# governance (`corral.responses.store.purge_older_than` until then).
responses = Table(
    "responses",
    metadata,
    Column("id", String(64), primary_key=True),  # resp_<hex>
    Column("team", String(200), nullable=False),
    Column("key_id", String(64), nullable=True),
    # queued | in_progress | completed | incomplete | failed | cancelled
    Column("status", String(16), nullable=False),
    Column("previous_response_id", String(64), nullable=True),
    Column("depth", Integer, nullable=False),  # responses in its conversation, itself included
    Column("conversation_bytes", BigInteger, nullable=False),  # stored item bytes of the chain through it
    Column("body", Text, nullable=False),  # the Response object, JSON
    Column("input_items", Text, nullable=False),  # this request's input items, JSON list
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_responses_team_created_at", "team", "created_at"),
    Index("ix_responses_created_at", "created_at"),
)

# Batches (corral.batches, migration 10): OpenAI's Batch object. The requests are jobs of
# the queue (kind batch_item, parent_id = the batch id); their results become the batch's
# output and error files (purpose batch_output) when it is finalized.
batches = Table(
    "batches",
    metadata,
    Column("id", String(64), primary_key=True),  # batch_<hex>; its plan job and items' parent_id
    Column("team", String(200), nullable=False),
    Column("key_id", String(64), nullable=False),  # the items run as this key
    Column("key_name", String(200), nullable=False),
    Column("scopes", Text, nullable=False),  # JSON list
    Column("endpoint", String(64), nullable=False),
    Column("input_file_id", String(64), nullable=False),
    Column("completion_window", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("in_progress_at", UTCDateTime(), nullable=True),
    Column("finalizing_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("failed_at", UTCDateTime(), nullable=True),
    Column("expired_at", UTCDateTime(), nullable=True),
    Column("cancelling_at", UTCDateTime(), nullable=True),
    Column("cancelled_at", UTCDateTime(), nullable=True),
    Column("metadata", Text, nullable=True),  # JSON
    Column("total", Integer, nullable=False),
    Column("model", String(200), nullable=True),
    Column("output_file_id", String(64), nullable=True),
    Column("error_file_id", String(64), nullable=True),
    Column("errors", Text, nullable=True),  # JSON: why validation failed
    Column("usage", Text, nullable=True),  # JSON: token totals
    # JSON: request_counts when finalized (the items' jobs are purged after jobs.retention_s)
    Column("counts", Text, nullable=True),
    Index("ix_batches_team_created_at", "team", "created_at"),
)

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
