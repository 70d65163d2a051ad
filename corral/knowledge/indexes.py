"""Which index a gateway's database gets: SQLite -> SqliteIndex (graphs' side files under
`<home>/knowledge`), PostgreSQL -> PgIndex (pgvector)."""

from __future__ import annotations

from pathlib import Path

from corral.knowledge.index_pg import PgIndex
from corral.knowledge.index_sql import SqlIndex
from corral.knowledge.index_sqlite import SqliteIndex
from corral.store import Database


def open_index(db: Database, home: Path | None) -> SqlIndex:
    """The index for `db` (migrated). `home`: CORRAL_HOME; None keeps the embedded graphs in
    memory only (rebuilt from the table by each process)."""
    if db.dialect == "postgresql":
        return PgIndex(db)
    return SqliteIndex(db, Path(home) / "knowledge" if home is not None else None)
