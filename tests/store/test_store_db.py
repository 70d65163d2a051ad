"""Database layer: URL handling, transactions and SQLite pragmas on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.schema import CreateTable

from corral.store import (
    Database,
    corral_home,
    database_url_from_env,
    default_database_url,
    normalize_url,
    open_database_from_env,
    redact_url,
)
from corral.store.db import lock_id
from corral.store.schema import UTCDateTime


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///rel/x.db", "sqlite+aiosqlite:///rel/x.db"),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?ssl=require"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


def test_normalize_url_rejects_other_backends() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        normalize_url("mysql://u@h/db")


def test_redact_url_hides_password() -> None:
    assert "secret" not in redact_url("postgresql://u:secret@h/db")


def test_lock_id_is_stable_signed_64_bit() -> None:
    assert lock_id("a") == lock_id("a") != lock_id("b")
    assert -(2**63) <= lock_id("a") < 2**63


def test_default_url_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_database_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'corral.db'}"
    monkeypatch.delenv("CORRAL_DATABASE_URL", raising=False)
    monkeypatch.delenv("CORRAL_HOME", raising=False)
    assert corral_home() == Path(".corral")
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "h"))
    assert database_url_from_env() == f"sqlite:///{(tmp_path / 'h').resolve() / 'corral.db'}"
    monkeypatch.setenv("CORRAL_DATABASE_URL", "postgres://x/y")
    assert database_url_from_env() == "postgres://x/y"


@pytest.mark.asyncio
async def test_open_database_from_env_creates_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_DATABASE_URL", raising=False)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "nested" / "home"))
    db = await open_database_from_env()
    try:
        assert db.dialect == "sqlite"
        assert await db.fetch_val("SELECT max(version) FROM schema_migrations") >= 1
    finally:
        await db.close()
    assert (tmp_path / "nested" / "home" / "corral.db").is_file()


@pytest.mark.asyncio
async def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = await Database.connect(f"sqlite:///{tmp_path / 'a' / 'b.db'}")
    try:
        assert await db.fetch_val("PRAGMA journal_mode") == "wal"
        assert await db.fetch_val("PRAGMA foreign_keys") == 1
        assert await db.fetch_val("PRAGMA busy_timeout") >= 1000
    finally:
        await db.close()


@pytest.mark.asyncio
async def test_sqlite_memory_database_is_shared_across_calls() -> None:
    db = await Database.connect("sqlite:///:memory:")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        await db.execute("INSERT INTO t VALUES (1)")
        assert await db.fetch_val("SELECT count(*) FROM t") == 1
    finally:
        await db.close()


_md = MetaData()
_t = Table("store_test_t", _md, Column("x", Integer, primary_key=True), Column("ts", UTCDateTime()))


@pytest.mark.asyncio
async def test_execute_fetch_and_dialect(db: Database, backend: str) -> None:
    assert db.dialect == backend
    await db.execute(CreateTable(_t))
    await db.execute(_t.insert(), [{"x": 1}, {"x": 2}, {"x": 3}])  # executemany
    result = await db.execute(_t.update().where(_t.c.x > 1).values(ts=None))
    assert result.rowcount == 2
    assert (await db.fetch_one(select(_t).where(_t.c.x == 2)))["x"] == 2
    assert await db.fetch_one(select(_t).where(_t.c.x == 9)) is None
    assert [r["x"] for r in await db.fetch_all(select(_t).order_by(_t.c.x))] == [1, 2, 3]
    assert await db.fetch_val("SELECT count(*) FROM store_test_t WHERE x > :n", {"n": 1}) == 2


@pytest.mark.asyncio
async def test_transaction_commits_and_rolls_back(db: Database) -> None:
    await db.execute(CreateTable(_t))
    async with db.transaction() as tx:
        await tx.lock("store-test")
        await tx.execute(_t.insert().values(x=1))
        assert await tx.fetch_val(select(_t.c.x)) == 1
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute(_t.insert().values(x=2))
            raise RuntimeError("boom")
    assert [r["x"] for r in await db.fetch_all(select(_t))] == [1]


@pytest.mark.asyncio
async def test_ddl_is_transactional(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute(CreateTable(_t))
            raise RuntimeError("boom")
    await db.execute(CreateTable(_t))  # would fail if the first CREATE had autocommitted


@pytest.mark.asyncio
async def test_utc_datetimes_round_trip(db: Database) -> None:
    await db.execute(CreateTable(_t))
    local = datetime(2025, 1, 2, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    await db.execute(_t.insert().values(x=1, ts=local))
    got = await db.fetch_val(select(_t.c.ts))
    assert got == local and got.tzinfo == UTC
    with pytest.raises(Exception, match="naive"):
        await db.execute(_t.insert().values(x=2, ts=datetime(2025, 1, 1)))
