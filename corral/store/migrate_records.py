"""Migrations 1-6: keys, policy events, request records and the quality tables.

Frozen snapshots (see corral.store.migrations): never edit one that has shipped.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from corral.store.db import Transaction
from corral.store.ddl import create_table_ddl
from corral.store.schema import UTCDateTime, new_metadata


async def v1_api_keys(tx: Transaction) -> None:
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


async def v2_policy_events(tx: Transaction) -> None:
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


async def v3_requests(tx: Transaction) -> None:
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


async def v4_quality(tx: Transaction) -> None:
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


async def v5_client_request_id(tx: Transaction) -> None:
    """Records are keyed by Corral's own id; the client's id becomes a correlation column."""
    await tx.execute("ALTER TABLE requests ADD COLUMN client_request_id VARCHAR(128)")
    await tx.execute("CREATE INDEX ix_requests_client_request_id ON requests (client_request_id)")


async def v6_operation(tx: Transaction) -> None:
    """Embeddings are recorded like chat; the operation tells them apart (gen_ai.operation.name)."""
    await tx.execute("ALTER TABLE requests ADD COLUMN operation VARCHAR(32) NOT NULL DEFAULT 'chat'")
