"""Ordered, versioned schema migrations recorded in ``schema_migrations``.

To change the schema, *append* a :class:`Migration` to :data:`MIGRATIONS`
with the next version number and update :mod:`corral.store.schema` to match.
Never edit a migration that has shipped: databases in the field already ran
it. Each migration snapshots the tables it creates (its own ``MetaData``)
instead of importing them from ``schema``, so later edits to ``schema``
cannot change what an old migration does.

All pending migrations run in one transaction under a named lock
(``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so
many replicas may call :func:`migrate` at startup at the same time: one
applies, the others wait and then find nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    inspect,
    select,
)
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.sql import Executable

from corral.store.db import Database, Transaction
from corral.store.migrate_knowledge import v11_knowledge_index
from corral.store.schema import UTCDateTime, new_metadata, schema_migrations, utcnow

log = logging.getLogger(__name__)

MIGRATION_LOCK = "corral.store.migrations"

Step = str | Executable
Apply = Callable[[Transaction], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    """One schema change: a list of DDL statements, or an async callable for logic/branching."""

    version: int
    name: str
    apply: Sequence[Step] | Apply

    async def run(self, tx: Transaction) -> None:
        if callable(self.apply):
            await self.apply(tx)
        else:
            for step in self.apply:
                await tx.execute(step)


def create_table_ddl(*tables: Table) -> list[Executable]:
    """CREATE TABLE plus CREATE INDEX statements for snapshot tables."""
    ddl: list[Executable] = []
    for table in tables:
        ddl.append(CreateTable(table))
        ddl.extend(CreateIndex(ix) for ix in sorted(table.indexes, key=lambda i: str(i.name)))
    return ddl


async def _v1_api_keys(tx: Transaction) -> None:
    md = new_metadata()
    api_keys = Table(
        "api_keys",
        md,
        Column("id", String(64), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("team", String(200), nullable=False),
        Column("scopes", Text, nullable=False),
        Column("prefix", String(32), nullable=False),
        Column("hash", String(64), nullable=False, unique=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("last_used_at", UTCDateTime(), nullable=True),
        Column("revoked_at", UTCDateTime(), nullable=True),
        Column("created_by", String(200), nullable=True),
        Index("ix_api_keys_prefix", "prefix"),
        Index("ix_api_keys_team", "team"),
    )
    for stmt in create_table_ddl(api_keys):
        await tx.execute(stmt)


async def _v2_policy_events(tx: Transaction) -> None:
    md = new_metadata()
    policy_events = Table(
        "policy_events",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("request_id", String(128), nullable=False),
        Column("key_id", String(64), nullable=True),
        Column("team", String(200), nullable=True),
        Column("route", String(200), nullable=False),
        Column("deployment", String(300), nullable=True),
        Column("provider", String(100), nullable=True),
        Column("category", String(200), nullable=False),
        Column("message", Text, nullable=False),
        Column("prompt_excerpt", Text, nullable=True),
        Column("stream", Boolean, nullable=False),
        Index("ix_policy_events_created_at", "created_at"),
        Index("ix_policy_events_route", "route"),
        Index("ix_policy_events_key_id", "key_id"),
    )
    for stmt in create_table_ddl(policy_events):
        await tx.execute(stmt)
    if tx.dialect == "postgresql":  # SQLite has no column comments; schema.py documents it there
        await tx.execute(
            "COMMENT ON COLUMN policy_events.prompt_excerpt IS "
            "'PRIVACY: raw user text (<= 2000 chars of the last user message), pending redaction'"
        )


async def _v3_requests(tx: Transaction) -> None:
    md = new_metadata()
    requests = Table(
        "requests",
        md,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("request_id", String(128), nullable=False, unique=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("key_id", String(64), nullable=True),
        Column("team", String(200), nullable=True),
        Column("end_user", String(256), nullable=True),
        Column("route", String(200), nullable=False),
        Column("requested_model", String(200), nullable=False),
        Column("served_model", String(200), nullable=True),
        Column("deployment", String(300), nullable=True),
        Column("provider_type", String(100), nullable=True),
        Column("status", String(16), nullable=False),
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
        Column("cost_usd", Float, nullable=True),
        Column("priced", Boolean, nullable=False),
        Column("cache_hit", Boolean, nullable=False),
        Column("degraded", String(64), nullable=True),
        Column("fallback", String(300), nullable=True),
        Column("attempts", Text, nullable=False),
        Column("prompt", Text, nullable=True),
        Column("response", Text, nullable=True),
        Column("extras", Text, nullable=False),
        Index("ix_requests_created_at", "created_at"),
        Index("ix_requests_key_id", "key_id"),
        Index("ix_requests_team", "team"),
        Index("ix_requests_route", "route"),
        Index("ix_requests_served_model", "served_model"),
        Index("ix_requests_status", "status"),
    )
    for stmt in create_table_ddl(requests):
        await tx.execute(stmt)


async def _v4_quality(tx: Transaction) -> None:
    md = new_metadata()
    feedback = Table(
        "feedback",
        md,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("request_id", String(128), nullable=True),
        Column("response_id", String(160), nullable=True),
        Column("key_id", String(64), nullable=True),
        Column("team", String(200), nullable=True),
        Column("rating", String(8), nullable=True),
        Column("score", Float, nullable=True),
        Column("comment", Text, nullable=True),
        Column("correction", Text, nullable=True),
        Index("ix_feedback_created_at", "created_at"),
        Index("ix_feedback_request_id", "request_id"),
        Index("ix_feedback_response_id", "response_id"),
    )
    golden_examples = Table(
        "golden_examples",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("route", String(200), nullable=False),
        Column("question", Text, nullable=False),
        Column("answer", Text, nullable=False),
        Index("ix_golden_examples_route", "route"),
    )
    quality_scores = Table(
        "quality_scores",
        md,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("request_id", String(128), nullable=False),
        Column("route", String(200), nullable=False),
        Column("model", String(200), nullable=True),
        Column("kind", String(32), nullable=False),
        Column("score", Float, nullable=False),
        Column("golden_id", Integer, nullable=True),
        Index("ix_quality_scores_created_at", "created_at"),
        Index("ix_quality_scores_route", "route"),
    )
    for stmt in create_table_ddl(feedback, golden_examples, quality_scores):
        await tx.execute(stmt)


async def _v5_client_request_id(tx: Transaction) -> None:
    """Records are keyed by Corral's own id; the client's id becomes a correlation column."""
    await tx.execute("ALTER TABLE requests ADD COLUMN client_request_id VARCHAR(128)")
    await tx.execute("CREATE INDEX ix_requests_client_request_id ON requests (client_request_id)")


async def _v6_operation(tx: Transaction) -> None:
    """Embeddings are recorded like chat; the operation tells them apart (gen_ai.operation.name)."""
    await tx.execute("ALTER TABLE requests ADD COLUMN operation VARCHAR(32) NOT NULL DEFAULT 'chat'")


async def _v7_files(tx: Transaction) -> None:
    """The Files API keeps bytes in the database, so every replica serves every file."""
    md = new_metadata()
    files = Table(
        "files",
        md,
        Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("id", String(64), nullable=False, unique=True),
        Column("team", String(200), nullable=False),
        Column("key_id", String(64), nullable=True),
        Column("purpose", String(32), nullable=True),
        Column("filename", String(512), nullable=False),
        Column("bytes", BigInteger, nullable=False),
        Column("status", String(16), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime(), nullable=True),
        Index("ix_files_team_seq", "team", "seq"),
        Index("ix_files_expires_at", "expires_at"),
        Index("ix_files_status_created_at", "status", "created_at"),
    )
    file_chunks = Table(
        "file_chunks",
        md,
        Column("file_id", String(64), ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
        Column("idx", Integer, primary_key=True, autoincrement=False),
        Column("data", LargeBinary, nullable=False),
    )
    for stmt in create_table_ddl(files, file_chunks):
        await tx.execute(stmt)


async def _v8_jobs(tx: Transaction) -> None:
    """The durable job queue (corral.jobs): background responses, batches, batch items."""
    md = new_metadata()
    jobs = Table(
        "jobs",
        md,
        Column("id", String(64), primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("team", String(200), nullable=False),
        Column("key_id", String(64), nullable=True),
        Column("payload", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("priority", Integer, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("max_attempts", Integer, nullable=False),
        Column("not_before", UTCDateTime(), nullable=False),
        Column("lease_owner", String(128), nullable=True),
        Column("lease_token", String(64), nullable=True),
        Column("lease_expires_at", UTCDateTime(), nullable=True),
        Column("dedupe_key", String(200), nullable=True),
        Column("result", Text, nullable=True),
        Column("error", Text, nullable=True),
        Column("parent_id", String(64), nullable=True),
        Column("cancel_requested", Boolean, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("started_at", UTCDateTime(), nullable=True),
        Column("finished_at", UTCDateTime(), nullable=True),
        Column("expires_at", UTCDateTime(), nullable=True),
        Index("ix_jobs_claim", "status", "kind", "priority", "not_before"),
        Index("ix_jobs_lease", "status", "lease_expires_at"),
        Index("ix_jobs_parent", "parent_id", "status"),
        Index("ix_jobs_team", "team", "status"),
        Index("ix_jobs_finished_at", "finished_at"),
        Index("uq_jobs_dedupe", "team", "kind", "dedupe_key", unique=True),
    )
    for stmt in create_table_ddl(jobs):
        await tx.execute(stmt)



async def _v9_responses(tx: Transaction) -> None:
    """Stored responses (the Responses API's `store: true`), owned by a team."""
    md = new_metadata()
    responses = Table(
        "responses",
        md,
        Column("id", String(64), primary_key=True),
        Column("team", String(200), nullable=False),
        Column("key_id", String(64), nullable=True),
        Column("status", String(16), nullable=False),
        Column("previous_response_id", String(64), nullable=True),
        Column("depth", Integer, nullable=False),
        Column("conversation_bytes", BigInteger, nullable=False),
        Column("body", Text, nullable=False),
        Column("input_items", Text, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Index("ix_responses_team_created_at", "team", "created_at"),
        Index("ix_responses_created_at", "created_at"),
    )
    for stmt in create_table_ddl(responses):
        await tx.execute(stmt)


async def _v10_batches(tx: Transaction) -> None:
    """The Batch API's batches (corral.batches); their requests are jobs of the queue."""
    md = new_metadata()
    batches = Table(
        "batches",
        md,
        Column("id", String(64), primary_key=True),
        Column("team", String(200), nullable=False),
        Column("key_id", String(64), nullable=False),
        Column("key_name", String(200), nullable=False),
        Column("scopes", Text, nullable=False),
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
        Column("metadata", Text, nullable=True),
        Column("total", Integer, nullable=False),
        Column("model", String(200), nullable=True),
        Column("output_file_id", String(64), nullable=True),
        Column("error_file_id", String(64), nullable=True),
        Column("errors", Text, nullable=True),
        Column("usage", Text, nullable=True),
        Column("counts", Text, nullable=True),
        Index("ix_batches_team_created_at", "team", "created_at"),
    )
    for stmt in create_table_ddl(batches):
        await tx.execute(stmt)


async def _v12_vector_stores(tx: Transaction) -> None:
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

# Append only. Versions must strictly increase.
MIGRATIONS: list[Migration] = [
    Migration(1, "create api_keys", _v1_api_keys),
    Migration(2, "create policy_events", _v2_policy_events),
    Migration(3, "create requests", _v3_requests),
    Migration(4, "create feedback, golden_examples, quality_scores", _v4_quality),
    Migration(5, "requests.client_request_id", _v5_client_request_id),
    Migration(6, "requests.operation", _v6_operation),
    Migration(7, "create files, file_chunks", _v7_files),
    Migration(8, "create jobs", _v8_jobs),
    Migration(9, "create responses", _v9_responses),
    Migration(10, "create batches", _v10_batches),
    Migration(11, "create kb_chunks, kb_chunk_refs, kb_index_stores (FTS5 / pgvector)", v11_knowledge_index),
    Migration(12, "create vector_stores and their files, texts, file batches", _v12_vector_stores),
]


def _validate(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or any(v <= 0 for v in versions):
        raise ValueError(f"migration versions must be positive and strictly increasing: {versions}")


async def applied_versions(db: Database) -> list[int]:
    """Versions recorded in ``schema_migrations`` (empty if the table is missing)."""
    async with db.transaction(readonly=True) as tx:
        exists = await tx.connection.run_sync(lambda c: inspect(c).has_table(schema_migrations.name))
        if not exists:
            return []
        rows = await tx.fetch_all(select(schema_migrations.c.version).order_by(schema_migrations.c.version))
    return [r["version"] for r in rows]


async def migrate(db: Database, migrations: Iterable[Migration] | None = None) -> list[int]:
    """Apply pending migrations atomically; return the versions applied (empty if up to date)."""
    todo_all = list(MIGRATIONS if migrations is None else migrations)
    _validate(todo_all)
    applied_now: list[int] = []
    async with db.transaction() as tx:
        await tx.lock(MIGRATION_LOCK)
        await tx.execute(CreateTable(schema_migrations, if_not_exists=True))
        rows = await tx.fetch_all(select(schema_migrations.c.version))
        done = {r["version"] for r in rows}
        for m in todo_all:
            if m.version in done:
                continue
            log.info("applying migration %d: %s", m.version, m.name)
            await m.run(tx)
            await tx.execute(
                schema_migrations.insert().values(version=m.version, name=m.name, applied_at=utcnow())
            )
            applied_now.append(m.version)
        unknown = done - {m.version for m in todo_all}
        if unknown:
            log.warning(
                "database has migrations this code does not know: %s (newer release?)",
                sorted(unknown),
            )
    return applied_now
