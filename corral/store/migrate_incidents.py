"""Migration 16: incidents, incident notes and input rules (corral.incidents).

Frozen snapshots (see corral.store.migrations): never edit one that has shipped.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from corral.store.db import Transaction
from corral.store.ddl import create_table_ddl
from corral.store.schema import UTCDateTime, new_metadata


async def v16_incidents(tx: Transaction) -> None:
    """Incidents opened by reports and content-policy events, their notes, and input rules."""
    md = new_metadata()
    incidents = Table(
        "incidents", md,
        Column("id", String(40), primary_key=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Column("source", String(16), nullable=False),
        Column("category", String(32), nullable=False),
        Column("detail", String(200), nullable=True),
        Column("severity", String(16), nullable=False),
        Column("state", String(16), nullable=False),
        Column("assignee", String(200), nullable=True),
        Column("group_key", String(600), nullable=True),
        Column("request_id", String(128), nullable=True),
        Column("response_id", String(160), nullable=True),
        Column("route", String(200), nullable=True),
        Column("team", String(200), nullable=True),
        Column("key_id", String(64), nullable=True),
        Column("end_user", String(256), nullable=True),
        Column("reporter_key_id", String(64), nullable=True),
        Column("reports", Integer, nullable=False),
        Column("triaged_at", UTCDateTime(), nullable=True),
        Column("resolved_at", UTCDateTime(), nullable=True),
        Column("escalation", String(16), nullable=False),
        Column("escalation_attempts", Integer, nullable=False),
        Column("escalation_error", Text, nullable=True),
        Column("escalated_at", UTCDateTime(), nullable=True),
        Index("ix_incidents_created_at", "created_at"),
        Index("ix_incidents_state", "state"),
        Index("ix_incidents_group_key", "group_key"),
        Index("ix_incidents_request_id", "request_id"),
        Index("ix_incidents_end_user", "end_user"),
        Index("ix_incidents_key_id", "key_id"),
    )
    notes = Table(
        "incident_notes", md,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("incident_id", String(40), ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("author", String(200), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("text", Text, nullable=False),
        Index("ix_incident_notes_incident_id", "incident_id"),
    )
    rules = Table(
        "input_rules", md,
        Column("id", String(40), primary_key=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("pattern", Text, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("action", String(16), nullable=False),
        Column("route", String(200), nullable=True),
        Column("team", String(200), nullable=True),
        Column("note", Text, nullable=True),
        Column("source", String(600), nullable=True),
        Column("created_by", String(200), nullable=False),
        Column("enabled", Boolean, nullable=False),
        Column("retired_at", UTCDateTime(), nullable=True),
        Column("retired_by", String(200), nullable=True),
        Column("hits", Integer, nullable=False),
        Column("last_hit_at", UTCDateTime(), nullable=True),
        Index("ix_input_rules_enabled", "enabled"),
    )
    for table in (incidents, notes, rules):
        for stmt in create_table_ddl(table):
            await tx.execute(stmt)
