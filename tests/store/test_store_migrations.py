"""Migrations: idempotent, atomic, concurrent-safe, and in sync with schema.py."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect

from corral.store import MIGRATIONS, Database, Migration, migrate
from corral.store.migrations import applied_versions
from corral.store.schema import DIALECT_COLUMNS, metadata

LATEST = [m.version for m in MIGRATIONS]


@pytest.mark.asyncio
async def test_migrate_is_idempotent(db: Database) -> None:
    assert await applied_versions(db) == []
    assert await migrate(db) == LATEST
    assert await migrate(db) == []
    assert await applied_versions(db) == LATEST


@pytest.mark.asyncio
async def test_migrated_database_matches_schema_metadata(migrated_db: Database) -> None:
    def describe(conn):  # type: ignore[no-untyped-def]
        insp = inspect(conn)
        return {
            t: (
                {c["name"]: c["nullable"] for c in insp.get_columns(t)},
                {i["name"] for i in insp.get_indexes(t)},
            )
            for t in insp.get_table_names()
        }

    async with migrated_db.transaction(readonly=True) as tx:
        actual = await tx.connection.run_sync(describe)
    expected = {
        t.name: (
            {c.name: c.nullable and not c.primary_key for c in t.columns},
            {str(i.name) for i in t.indexes},
        )
        for t in metadata.sorted_tables
    }
    # Columns one dialect alone has (PostgreSQL's generated tsvector) are named in schema.py;
    # tables one dialect alone has (SQLite's FTS5 kb_chunks_fts) are simply not compared.
    only_here = DIALECT_COLUMNS.get(migrated_db.dialect, {})
    for name, (columns, indexes) in expected.items():
        assert name in actual, f"table {name} missing: add a migration"
        found = {c: n for c, n in actual[name][0].items() if c not in only_here.get(name, ())}
        assert found == columns, f"{name} columns drift from schema.py"
        assert indexes <= actual[name][1], f"{name} indexes drift from schema.py"


@pytest.mark.asyncio
async def test_concurrent_migrate_applies_once(db: Database) -> None:
    others = [await Database.connect(db.url) for _ in range(3)]
    extra = Migration(len(LATEST) + 100, "slow extra", ["CREATE TABLE mig_test_concurrent (x INTEGER)"])
    try:
        results = await asyncio.gather(*(migrate(d, [*MIGRATIONS, extra]) for d in [db, *others]))
    finally:
        for d in others:
            await d.close()
    assert sorted(results, key=len) == [[], [], [], [*LATEST, extra.version]]
    assert await applied_versions(db) == [*LATEST, extra.version]


@pytest.mark.asyncio
async def test_appended_migration_runs_once(migrated_db: Database) -> None:
    async def data_step(tx) -> None:  # type: ignore[no-untyped-def]
        await tx.execute("INSERT INTO mig_test_append (x) VALUES (42)")

    appended = [
        *MIGRATIONS,
        Migration(900, "table", ["CREATE TABLE mig_test_append (x INTEGER)"]),
        Migration(901, "data", data_step),
    ]
    assert await migrate(migrated_db, appended) == [900, 901]
    assert await migrate(migrated_db, appended) == []
    assert await migrated_db.fetch_val("SELECT x FROM mig_test_append") == 42


@pytest.mark.asyncio
async def test_failed_migration_rolls_back_everything(migrated_db: Database) -> None:
    bad = [
        *MIGRATIONS,
        Migration(900, "good", ["CREATE TABLE mig_test_rollback (x INTEGER)"]),
        Migration(901, "bad", ["THIS IS NOT SQL"]),
    ]
    with pytest.raises(Exception):  # noqa: B017 - driver-specific error type
        await migrate(migrated_db, bad)
    assert await applied_versions(migrated_db) == LATEST
    await migrated_db.execute("CREATE TABLE mig_test_rollback (x INTEGER)")  # 900 was undone


@pytest.mark.asyncio
async def test_unknown_recorded_versions_are_tolerated(migrated_db: Database) -> None:
    assert await migrate(migrated_db, MIGRATIONS[:0]) == []


@pytest.mark.parametrize("versions", [[2, 1], [1, 1], [0]])
@pytest.mark.asyncio
async def test_invalid_ordering_rejected(versions: list[int]) -> None:
    db = await Database.connect("sqlite:///:memory:")
    try:
        with pytest.raises(ValueError, match="strictly increasing"):
            await migrate(db, [Migration(v, "x", []) for v in versions])
    finally:
        await db.close()
