"""Reading every byte a gateway keeps, for the erasure byte-scan test: the database (SQLite's
files after checkpoint and VACUUM, or every row of every table of a PostgreSQL schema as JSON),
the spool directory, and every Redis key and value under a prefix."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import text

from corral.store import Database
from corral.store.kv_redis import RedisKV


def sqlite_bytes(path: Path) -> bytes:
    """The database file and its -wal and -shm, after the procedure docs/erasure.md prescribes
    (PRAGMA wal_checkpoint(TRUNCATE), then VACUUM): nothing of a deleted row survives it."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("VACUUM")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


async def postgresql_text(db: Database) -> bytes:
    """Every row of every table in the connection's schema, each as JSON text (pg_dump is not
    installed here): what a dump of the data would hold."""
    names = await db.fetch_all(text("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"))
    parts = []
    for row in names:
        name = row["table_name"]
        rows = await db.fetch_all(text(f'SELECT row_to_json(t)::text AS j FROM "{name}" t'))
        parts += [f"{name}: {r['j']}" for r in rows]
    return "\n".join(parts).encode()


def directory_bytes(directory: Path) -> bytes:
    """Names and contents of every file under ``directory`` (hidden lock and temp files too)."""
    if not directory.exists():
        return b""
    return b"\n".join(p.name.encode() + b"\0" + p.read_bytes() for p in sorted(directory.rglob("*"))
                      if p.is_file())


async def redis_bytes(kv: RedisKV, prefix: str) -> dict[bytes, bytes]:
    """Every key under ``prefix`` and its value (strings as stored, sorted sets as their members)."""
    out: dict[bytes, bytes] = {}
    async for key in kv.client.scan_iter(match=prefix + "*", count=500):
        kind = await kv.client.type(key)
        if kind == b"string":
            out[key] = await kv.client.get(key) or b""
        elif kind == b"zset":
            out[key] = b"\n".join(await kv.client.zrange(key, 0, -1))
        else:
            out[key] = repr(await kv.client.dump(key)).encode()
    return out


def found(haystack: bytes, needles: dict[str, str]) -> list[str]:
    """Which of ``needles`` (label -> value) occur in ``haystack``."""
    return [label for label, value in needles.items() if value.encode() in haystack]


def count_containing(values: dict[Any, bytes], needle: str) -> int:
    return sum(1 for v in values.values() if needle.encode() in v)
