"""Governance tables: the hash-chained audit log (migration 14). Kept beside
corral.store.schema, on its metadata, which re-exports them so that one import still
describes the whole database."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from corral.store.schema_base import UTCDateTime, metadata

# The audit log (corral.governance.audit): append-only; each row carries the hash of the row
# before it (`prev_hash`) and its own hash over its fields and that link, so an edited,
# removed or reordered row breaks the chain. Rows are never updated or deleted by Corral.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),  # a key id, "cli:<os user>" or "system"
    Column("actor_name", String(200), nullable=True),  # the key's name, when the actor is a key
    Column("action", String(64), nullable=False),  # key.create, key.revoke, config.load, ...
    Column("target", String(300), nullable=False),  # what was acted on: a key id, a config path ...
    Column("before", Text, nullable=True),  # JSON, never secrets (no raw keys, no key hashes)
    Column("after", Text, nullable=True),  # JSON
    Column("prev_hash", String(64), nullable=False),  # "0" * 64 for the first entry
    Column("hash", String(64), nullable=False, unique=True),  # sha256 hex
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_action", "action"),
)
