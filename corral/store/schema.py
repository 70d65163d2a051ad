"""Table definitions (SQLAlchemy Core) — the current shape of the database.

This module describes what the tables look like *now* and is what queries
import. Tables are created and changed only by :mod:`corral.store.migrations`;
when you add or alter a table here, append a migration there too (a test
compares the migrated database with this metadata).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

# Deterministic constraint names keep later ALTER migrations portable.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are
    stored as naive UTC and re-tagged on read. Naive inputs are rejected to
    avoid silently storing local time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_metadata() -> MetaData:
    """MetaData with Corral's naming convention (also used by migrations' snapshots)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


metadata = new_metadata()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
)

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
