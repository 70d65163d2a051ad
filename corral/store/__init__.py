"""Persistence: tables, migrations and shared counters — no request logic.

Embedded by default (SQLite under ``CORRAL_HOME``, in-process counters);
distributed by configuration (``CORRAL_DATABASE_URL`` → PostgreSQL,
``CORRAL_REDIS_URL`` → Redis).
"""

from __future__ import annotations

import os
from pathlib import Path

from corral.store.db import (
    Database,
    Transaction,
    default_database_url,
    normalize_url,
    redact_url,
)
from corral.store.kv import KV, KVUnavailable, MemoryKV
from corral.store.kv_redis import RedisKV
from corral.store.kv_url import kv_from_url
from corral.store.migrations import MIGRATIONS, Migration, migrate

ENV_HOME = "CORRAL_HOME"
ENV_DATABASE_URL = "CORRAL_DATABASE_URL"
ENV_REDIS_URL = "CORRAL_REDIS_URL"

__all__ = [
    "KV",
    "KVUnavailable",
    "MIGRATIONS",
    "Database",
    "MemoryKV",
    "Migration",
    "RedisKV",
    "Transaction",
    "corral_home",
    "database_url_from_env",
    "default_database_url",
    "kv_from_env",
    "kv_from_url",
    "migrate",
    "normalize_url",
    "open_database_from_env",
    "redact_url",
]


def corral_home() -> Path:
    """``$CORRAL_HOME`` or ``./.corral`` (relative to the current directory)."""
    return Path(os.environ.get(ENV_HOME) or ".corral").expanduser()


def database_url_from_env() -> str:
    """``$CORRAL_DATABASE_URL`` or SQLite at ``$CORRAL_HOME/corral.db``."""
    return os.environ.get(ENV_DATABASE_URL) or default_database_url(corral_home())


async def open_database_from_env(*, run_migrations: bool = True) -> Database:
    """Connect using the environment and bring the schema up to date."""
    db = await Database.connect(database_url_from_env())
    if run_migrations:
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
    return db


def kv_from_env(prefix: str = "corral:") -> KV:
    """Redis KV if ``$CORRAL_REDIS_URL`` is set, else in-process :class:`MemoryKV`."""
    return kv_from_url(os.environ.get(ENV_REDIS_URL) or None, prefix=prefix)
