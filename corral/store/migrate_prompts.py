"""Migration 15: the system-prompt registry (corral.prompts).

Frozen snapshots (see corral.store.migrations): never edit one that has shipped.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from corral.store.db import Transaction
from corral.store.ddl import create_table_ddl
from corral.store.schema import UTCDateTime, new_metadata


def _serial() -> Column[int]:
    return Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True)


async def v15_prompts(tx: Transaction) -> None:
    """Named prompts, their immutable versions, labels, and pending label moves (two-person rule)."""
    md = new_metadata()
    prompts = Table(
        "prompts", md,
        Column("name", String(64), primary_key=True),
        Column("description", String(500), nullable=True),
        Column("owners", Text, nullable=False),
        Column("protected_labels", Text, nullable=False),
        Column("created_by", String(200), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
    )
    versions = Table(
        "prompt_versions", md,
        _serial(),
        Column("name", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("text", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("author", String(200), nullable=False),
        Column("author_name", String(200), nullable=True),
        Column("note", String(1000), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Index("uq_prompt_versions_name_version", "name", "version", unique=True),
    )
    labels = Table(
        "prompt_labels", md,
        Column("name", String(64), primary_key=True),
        Column("label", String(40), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("moved_by", String(200), nullable=False),
        Column("approved_by", String(200), nullable=True),
        Column("change_id", Integer, nullable=True),
        Column("moved_at", UTCDateTime(), nullable=False),
    )
    changes = Table(
        "prompt_changes", md,
        _serial(),
        Column("name", String(64), nullable=False),
        Column("label", String(40), nullable=False),
        Column("from_version", Integer, nullable=True),
        Column("to_version", Integer, nullable=False),
        Column("note", String(1000), nullable=True),
        Column("state", String(16), nullable=False),
        Column("proposed_by", String(200), nullable=False),
        Column("proposed_by_name", String(200), nullable=True),
        Column("proposed_at", UTCDateTime(), nullable=False),
        Column("decided_by", String(200), nullable=True),
        Column("decided_by_name", String(200), nullable=True),
        Column("decided_at", UTCDateTime(), nullable=True),
        Column("reason", String(1000), nullable=True),
        Index("ix_prompt_changes_state", "state"),
        Index("ix_prompt_changes_name_label", "name", "label"),
    )
    for stmt in create_table_ddl(prompts, versions, labels, changes):
        await tx.execute(stmt)
