"""The data map (corral.governance.datamap) against the real schema, and `corral governance datamap`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from corral.cli import main
from corral.governance.datamap import (
    DATA_CLASSES,
    DATA_MAP,
    KINDS,
    UNMAPPED_TABLES,
    DataStore,
    by_class,
    describe,
    tables,
)
from corral.store import Database, migrate
from corral.store.schema import metadata

ADD_ONE = ("Add a DataStore(name, 'table', data_class, holds, user_column=..., key_column=..., "
           "request_column=..., team_column=...) to DATA_MAP in corral/governance/datamap.py "
           "(or, if it holds nothing from requests or users, to UNMAPPED_TABLES with the reason)")
ENTRIES = {s.name: s for s in DATA_MAP}
TABLE_ENTRIES = [s for s in DATA_MAP if s.kind == "table"]


def _split(path: str) -> tuple[str, str, str]:
    """'store_id -> vector_stores.id' -> ('store_id', 'vector_stores', 'id')."""
    column, _, target = path.partition(" -> ")
    table, _, target_column = target.partition(".")
    return column, table, target_column


def test_every_table_in_the_metadata_is_mapped() -> None:
    missing = sorted(set(metadata.tables) - tables() - set(UNMAPPED_TABLES))
    assert not missing, f"tables with no data map entry: {', '.join(missing)}. {ADD_ONE}."
    assert not set(UNMAPPED_TABLES) & tables(), "a table is both mapped and in UNMAPPED_TABLES"
    assert set(UNMAPPED_TABLES) <= set(metadata.tables), "UNMAPPED_TABLES names a table that is gone"


async def test_every_table_of_a_migrated_sqlite_database_is_mapped(tmp_path: Path) -> None:
    """Migrations make tables the metadata does not list (SQLite's FTS5 index and its shadow
    tables): those need entries too (`dialect="sqlite"`, `companions=`)."""
    db = await Database.connect(f"sqlite:///{tmp_path / 'corral.db'}")
    try:
        await migrate(db)
        rows = await db.fetch_all(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
    finally:
        await db.close()
    found = {r["name"] for r in rows if not r["name"].startswith("sqlite_")}
    known = tables() | set(UNMAPPED_TABLES) | {c for s in TABLE_ENTRIES for c in s.companions}
    missing = sorted(found - known)
    assert not missing, f"tables in a migrated SQLite database with no data map entry: {missing}. {ADD_ONE}."
    for store in TABLE_ENTRIES:
        if store.dialect == "sqlite":
            absent = sorted({store.name, *store.companions} - found)
            assert not absent, f"{store.name}: the data map names SQLite tables that do not exist: {absent}"


@pytest.mark.parametrize("store", TABLE_ENTRIES, ids=lambda s: s.name)
def test_table_entries_name_real_tables_and_columns(store: DataStore) -> None:
    if store.dialect is not None:
        assert store.name not in metadata.tables, f"{store.name} is in the metadata: drop dialect="
        assert store.dialect in ("sqlite", "postgresql")
    else:
        assert store.name in metadata.tables, f"{store.name}: no such table in corral.store.schema.metadata"
        columns = metadata.tables[store.name].c
        for role, column in store.columns().items():
            assert column in columns, f"{store.name}.{role}_column: {store.name} has no column {column!r}"
    for path in store.via:
        column, table, target = _split(path)
        assert table and target, f"{store.name}: via {path!r} is not 'column -> table.column'"
        if store.dialect is None:
            assert column in metadata.tables[store.name].c, f"{store.name}: via names no column {column!r}"
        assert table in metadata.tables and target in metadata.tables[table].c, \
            f"{store.name}: via {path!r} points at no such column"
        assert table in ENTRIES, f"{store.name}: via {path!r} leads to a table with no entry"


def _finds_key(store: DataStore, seen: frozenset[str] = frozenset()) -> bool:
    if store.key_column is not None:
        return True
    return any(_finds_key(ENTRIES[t], seen | {store.name}) for t in (_split(p)[1] for p in store.via)
               if t not in seen)


@pytest.mark.parametrize("store", [s for s in TABLE_ENTRIES if {"content", "identity"} & set(s.classes)],
                         ids=lambda s: s.name)
def test_personal_tables_say_how_to_find_a_keys_entries(store: DataStore) -> None:
    assert _finds_key(store) or store.note, (
        f"{store.name} holds content or identity, but names no key_column, no via path to a table "
        "that has one, and no note saying why a key's entries cannot be found")


def test_non_table_entries_say_where_and_how_keyed() -> None:
    for store in DATA_MAP:
        assert store.kind in KINDS and store.data_class in DATA_CLASSES
        assert set(store.also) <= set(DATA_CLASSES), f"{store.name}: also names an unknown class"
        assert store.data_class not in store.also, f"{store.name}: also repeats its data_class"
        if store.kind != "table":
            assert store.keyed_by and store.location, f"{store.name}: say where it lives and how it is keyed"
            assert not store.columns() and not store.via, f"{store.name}: columns are for tables"
    assert len(ENTRIES) == len(DATA_MAP), "two entries share a name"


def test_by_class() -> None:
    assert {s.name for s in by_class("credentials", primary=True)} == {"api_keys", "auth_key_cache"}
    assert "requests" in {s.name for s in by_class("identity")}
    assert "requests" not in {s.name for s in by_class("identity", primary=True)}
    operational = {s.name for s in by_class("operational")}
    assert {"rate_limit_meters", "breaker_state", "retry_budgets"} <= operational
    with pytest.raises(ValueError, match="unknown data class"):
        by_class("secret")  # type: ignore[arg-type]


def test_cli_prints_the_map() -> None:
    out = CliRunner().invoke(main, ["governance", "datamap"])
    assert out.exit_code == 0, out.output
    assert out.output.strip() == describe()
    for store in DATA_MAP:
        assert store.name in out.output
    assert "end_user" in out.output and "schema_migrations" in out.output


def test_cli_json_parses() -> None:
    out = CliRunner().invoke(main, ["governance", "datamap", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [d["name"] for d in data] == [s.name for s in DATA_MAP]
    requests = data[[d["name"] for d in data].index("requests")]
    found = (requests["kind"], requests["data_class"], requests["user_column"])
    assert found == ("table", "content", "end_user")
