"""Migration 14: the audit log (corral.governance.audit).

Frozen snapshots (see corral.store.migrations): never edit one that has shipped.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from corral.store.db import Transaction
from corral.store.ddl import create_table_ddl
from corral.store.schema import UTCDateTime, new_metadata


async def v14_audit_log(tx: Transaction) -> None:
    """Append-only, hash-chained record of admin actions: who, when, what, before and after."""
    md = new_metadata()
    audit_log = Table(
        "audit_log",
        md,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("at", UTCDateTime(), nullable=False),
        Column("actor", String(200), nullable=False),
        Column("actor_name", String(200), nullable=True),
        Column("action", String(64), nullable=False),
        Column("target", String(300), nullable=False),
        Column("before", Text, nullable=True),
        Column("after", Text, nullable=True),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False, unique=True),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_action", "action"),
    )
    for stmt in create_table_ddl(audit_log):
        await tx.execute(stmt)
