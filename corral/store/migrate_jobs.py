"""Migrations 7-10 and 13: files, the job queue, stored responses, batches.

Frozen snapshots (see corral.store.migrations): never edit one that has shipped.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from corral.store.db import Transaction
from corral.store.ddl import create_table_ddl
from corral.store.schema import UTCDateTime, new_metadata


async def v7_files(tx: Transaction) -> None:
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


async def v8_jobs(tx: Transaction) -> None:
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



async def v9_responses(tx: Transaction) -> None:
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


async def v10_batches(tx: Transaction) -> None:
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


async def v13_claim_order(tx: Transaction) -> None:
    """The claim's order as an index: a worker asks for several kinds at once (`kind IN`),
    so (status, kind, priority, not_before) made every claim sort all queued rows of those
    kinds (51 ms of CPU per claim at 50,000 queued items here). Led by status and then the
    ORDER BY's own columns, the claim reads the first rows in order and stops (11 ms)."""
    await tx.execute("DROP INDEX ix_jobs_claim")
    await tx.execute("CREATE INDEX ix_jobs_claim_order ON jobs (status, priority DESC, not_before, id)")
