"""Table definitions (SQLAlchemy Core) — the current shape of the database.

This module describes what the tables look like *now* and is what queries
import. Tables are created and changed only by :mod:`corral.store.migrations`;
when you add or alter a table here, append a migration there too (a test
compares the migrated database with this metadata). The shared pieces (metadata, the UTC
datetime type) are in :mod:`corral.store.schema_base`; the knowledge base's tables in
:mod:`corral.store.schema_knowledge`, the audit log in :mod:`corral.store.schema_governance`
and the prompt registry in :mod:`corral.store.schema_prompts`,
re-exported here, so importing this module still registers every table on `metadata`.
"""

from __future__ import annotations

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
)

from corral.store.schema_base import NAMING_CONVENTION as NAMING_CONVENTION
from corral.store.schema_base import UTCDateTime as UTCDateTime
from corral.store.schema_base import metadata as metadata
from corral.store.schema_base import new_metadata as new_metadata
from corral.store.schema_base import schema_migrations as schema_migrations
from corral.store.schema_base import utcnow as utcnow
from corral.store.schema_governance import audit_log as audit_log
from corral.store.schema_incidents import incident_notes as incident_notes
from corral.store.schema_incidents import incidents as incidents
from corral.store.schema_incidents import input_rules as input_rules
from corral.store.schema_knowledge import DIALECT_COLUMNS as DIALECT_COLUMNS
from corral.store.schema_knowledge import Vector as Vector
from corral.store.schema_knowledge import kb_chunk_refs as kb_chunk_refs
from corral.store.schema_knowledge import kb_chunks as kb_chunks
from corral.store.schema_knowledge import kb_index_stores as kb_index_stores
from corral.store.schema_knowledge import vector_store_file_batches as vector_store_file_batches
from corral.store.schema_knowledge import vector_store_file_texts as vector_store_file_texts
from corral.store.schema_knowledge import vector_store_files as vector_store_files
from corral.store.schema_knowledge import vector_stores as vector_stores
from corral.store.schema_prompts import prompt_changes as prompt_changes
from corral.store.schema_prompts import prompt_labels as prompt_labels
from corral.store.schema_prompts import prompt_versions as prompt_versions
from corral.store.schema_prompts import prompts as prompts

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
