"""Incident tables (migration 16): incidents, their notes, and input rules (corral.incidents).

Kept beside corral.store.schema, on its metadata, which re-exports them so that one import
still describes the whole database.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from corral.store.schema_base import UTCDateTime, metadata

# One row per incident. A feedback report opens one per request (more reports on the same
# request add to it: `reports`); content-policy events open one per (team, route, category)
# while it is not closed (`group_key`). `escalation`: none | pending | delivered | failed.
incidents = Table(
    "incidents",
    metadata,
    Column("id", String(40), primary_key=True),  # inc_<hex>
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("source", String(16), nullable=False),  # feedback | policy_event
    Column("category", String(32), nullable=False),  # harmful | wrong | data_leak | content_policy
    Column("detail", String(200), nullable=True),  # a policy event's provider category
    Column("severity", String(16), nullable=False),  # low | medium | high | critical
    Column("state", String(16), nullable=False),  # open | triaged | resolved | dismissed
    Column("assignee", String(200), nullable=True),
    Column("group_key", String(600), nullable=True),  # what later reports/events attach by
    Column("request_id", String(128), nullable=True),
    Column("response_id", String(160), nullable=True),
    Column("route", String(200), nullable=True),
    Column("team", String(200), nullable=True),  # the team whose request it is
    Column("key_id", String(64), nullable=True),  # the key that made the request
    Column("end_user", String(256), nullable=True),  # the request's `user` field
    Column("reporter_key_id", String(64), nullable=True),  # the key that reported it first
    Column("reports", Integer, nullable=False),  # feedback reports or policy events attached
    Column("triaged_at", UTCDateTime(), nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),  # resolved or dismissed
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

# Notes and reports on an incident. PRIVACY: `text` is stored under the request's privacy
# policy (redacted whenever it is on), as feedback comments are.
incident_notes = Table(
    "incident_notes",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("incident_id", String(40), ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("author", String(200), nullable=False),  # a key id or "system"
    Column("kind", String(16), nullable=False),  # report | note | escalation
    Column("text", Text, nullable=False),
    Index("ix_incident_notes_incident_id", "incident_id"),
)

# Checks run on prompts before the provider call (corral.incidents.stage): a literal or a
# bounded regex that flags (recorded) or blocks (400) matching input.
input_rules = Table(
    "input_rules",
    metadata,
    Column("id", String(40), primary_key=True),  # rule_<hex>
    Column("created_at", UTCDateTime(), nullable=False),
    Column("pattern", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # literal | regex
    Column("action", String(16), nullable=False),  # flag | block
    Column("route", String(200), nullable=True),  # NULL: every route
    Column("team", String(200), nullable=True),  # NULL: every team
    Column("note", Text, nullable=True),
    Column("source", String(600), nullable=True),  # incident:<id> or policy_events:<ids>
    Column("created_by", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("retired_at", UTCDateTime(), nullable=True),
    Column("retired_by", String(200), nullable=True),
    Column("hits", Integer, nullable=False),
    Column("last_hit_at", UTCDateTime(), nullable=True),
    Index("ix_input_rules_enabled", "enabled"),
)
