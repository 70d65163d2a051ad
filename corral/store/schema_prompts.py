"""The system-prompt registry's tables (migration 15, corral.prompts). Kept beside
corral.store.schema, on its metadata, which re-exports them so that one import still
describes the whole database.

Versions are immutable (rows are inserted, never updated); a label points at one version;
a move of a protected label waits in ``prompt_changes`` until a second owner approves it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from corral.store.schema_base import UTCDateTime, metadata

# One row per named prompt: who owns it and which labels need a second owner to move.
prompts = Table(
    "prompts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("description", String(500), nullable=True),
    Column("owners", Text, nullable=False),  # JSON list: key ids and "cli:<os user>"
    Column("protected_labels", Text, nullable=False),  # JSON list, e.g. ["production"]
    Column("created_by", String(200), nullable=False),  # a key id or "cli:<os user>"
    Column("created_at", UTCDateTime(), nullable=False),
)

# The texts, numbered 1, 2, ... per prompt; never updated or deleted by Corral.
prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("text", Text, nullable=False),  # staff-authored system prompt (the data map: content)
    Column("sha256", String(64), nullable=False),  # hex of the UTF-8 text
    Column("author", String(200), nullable=False),
    Column("author_name", String(200), nullable=True),  # the key's name, when the author is a key
    Column("note", String(1000), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("uq_prompt_versions_name_version", "name", "version", unique=True),
)

# Where each label points now (production -> 3); a protected label moves only by an approved change.
prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("label", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("moved_by", String(200), nullable=False),  # who proposed the move (or made it, unprotected)
    Column("approved_by", String(200), nullable=True),  # the second owner, for a protected label
    Column("change_id", Integer, nullable=True),  # the prompt_changes row that moved it
    Column("moved_at", UTCDateTime(), nullable=False),
)

# Proposed moves of protected labels: pending, then applied (approved) or rejected.
prompt_changes = Table(
    "prompt_changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("label", String(40), nullable=False),
    Column("from_version", Integer, nullable=True),  # NULL: the label did not exist yet
    Column("to_version", Integer, nullable=False),
    Column("note", String(1000), nullable=True),
    Column("state", String(16), nullable=False),  # pending | applied | rejected
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_by_name", String(200), nullable=True),
    Column("proposed_at", UTCDateTime(), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_by_name", String(200), nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("reason", String(1000), nullable=True),  # why it was rejected
    Index("ix_prompt_changes_state", "state"),
    Index("ix_prompt_changes_name_label", "name", "label"),
)
