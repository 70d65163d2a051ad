"""One async database layer for SQLite (embedded default) and PostgreSQL (replicas).

Everything above ``corral.store`` talks to a :class:`Database`; nothing else
creates engines, so backend quirks (SQLite locking, URL drivers, search paths)
are handled exactly once, here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import CursorResult, RowMapping, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from corral.store.files import create_private_file, private_dir

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Statement = Executable | str

#: Milliseconds a SQLite writer waits for the file lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 5000
_READONLY = "corral_readonly"
log = logging.getLogger("corral.store")


def default_database_url(home: Path) -> str:
    """SQLite file under ``home`` — the zero-configuration default."""
    return f"sqlite:///{Path(home).expanduser().resolve() / 'corral.db'}"


def normalize_url(url: str | URL) -> URL:
    """Map user-friendly URLs to the async drivers Corral uses.

    ``sqlite:///p`` → ``sqlite+aiosqlite``; ``postgres://`` / ``postgresql://``
    (any sync driver) → ``postgresql+asyncpg``. libpq's ``sslmode`` is renamed
    to asyncpg's ``ssl`` so managed-PostgreSQL URLs work unchanged.
    """
    u = make_url(url) if isinstance(url, str) else url
    backend = u.get_backend_name()
    if backend == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
        if u.database and u.database.startswith("~"):
            u = u.set(database=os.path.expanduser(u.database))
        return u
    if backend in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+asyncpg")
        if "sslmode" in u.query:
            query = dict(u.query)
            query["ssl"] = query.pop("sslmode")
            u = u.set(query=query)
        return u
    raise ValueError(f"unsupported database URL scheme {u.drivername!r} (use sqlite:// or postgresql://)")


def redact_url(url: str | URL) -> str:
    """URL safe to log (password hidden)."""
    u = make_url(url) if isinstance(url, str) else url
    return u.render_as_string(hide_password=True)


def lock_id(name: str) -> int:
    """Stable signed 64-bit id for ``pg_advisory_xact_lock`` derived from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _as_executable(stmt: Statement) -> Executable:
    return text(stmt) if isinstance(stmt, str) else stmt


def _is_memory_sqlite(u: URL) -> bool:
    return u.database in (None, "", ":memory:")


def _prepare_sqlite_file(path: str) -> None:
    """Create the database file (and its directory) private before SQLite opens it.

    SQLite gives the -wal and -shm files the database file's mode, so a 0600 database
    keeps them 0600 too. An existing file keeps its mode; a readable one is reported.
    """
    file = Path(path)
    private_dir(file.parent)
    if not create_private_file(file) and file.stat().st_mode & 0o077:
        log.warning("database %s is readable by other users (mode %o); `chmod 600` it and its "
                    "-wal/-shm files", file, file.stat().st_mode & 0o777)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """WAL + foreign keys + busy timeout, and explicit BEGIN control.

    pysqlite's legacy transaction handling does not BEGIN before DDL or SELECT,
    which breaks transactional migrations. We take over: write transactions
    use ``BEGIN IMMEDIATE`` (take the write lock up front, so busy_timeout
    applies instead of a deadlock-style SQLITE_BUSY on lock upgrade); read-only
    ones use a deferred ``BEGIN`` so readers never block each other under WAL.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # busy_timeout first: switching to WAL needs a lock other replicas may hold.
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class Transaction:
    """Statements executed inside one open transaction (see :meth:`Database.transaction`)."""

    def __init__(self, conn: AsyncConnection, dialect: str) -> None:
        self.connection = conn
        self.dialect = dialect

    async def execute(self, stmt: Statement, params: Params = None) -> CursorResult[Any]:
        """Run a statement; ``params`` may be a list of dicts for executemany."""
        return await self.connection.execute(_as_executable(stmt), params)

    async def fetch_one(self, stmt: Statement, params: Params = None) -> RowMapping | None:
        result = await self.execute(stmt, params)
        return result.mappings().first()

    async def fetch_all(self, stmt: Statement, params: Params = None) -> list[RowMapping]:
        result = await self.execute(stmt, params)
        return list(result.mappings().all())

    async def fetch_val(self, stmt: Statement, params: Params = None) -> Any:
        """First column of the first row, or None."""
        result = await self.execute(stmt, params)
        return result.scalar()

    async def lock(self, name: str) -> None:
        """Serialise this transaction against others taking the same named lock.

        PostgreSQL: ``pg_advisory_xact_lock`` (released at commit/rollback), so
        replicas starting together do not race. SQLite: a no-op because write
        transactions already hold the database write lock (``BEGIN IMMEDIATE``).
        """
        if self.dialect == "postgresql":
            await self.connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id(name)})


class Database:
    """Async SQLAlchemy Core engine wrapper shared by every store module.

    Each ``execute``/``fetch_*`` call runs in its own short transaction; use
    :meth:`transaction` to group statements atomically.
    """

    def __init__(self, engine: AsyncEngine, url: URL, schema: str | None = None) -> None:
        self.engine = engine
        self.schema = schema
        #: Normalised URL; includes ``?schema=`` so ``Database.connect(db.url)`` reopens it.
        self.url = url.update_query_dict({"schema": schema}) if schema else url
        self._readonly_engine = engine.execution_options(**{_READONLY: True})

    @classmethod
    async def connect(
        cls,
        url: str | URL,
        *,
        schema: str | None = None,
        echo: bool = False,
        pool_size: int = 5,
        max_overflow: int = 10,
    ) -> Database:
        """Create the engine and check connectivity (fail fast at startup).

        ``schema`` (or a ``?schema=`` URL query parameter) sets the PostgreSQL
        ``search_path`` so several deployments or tests can share one database;
        the schema must already exist. It is ignored for SQLite.
        """
        u = normalize_url(url)
        if "schema" in u.query:
            schema = schema or str(u.query["schema"])
            u = u.difference_update_query(["schema"])
        kwargs: dict[str, Any] = {"echo": echo}
        if u.get_backend_name() == "sqlite":
            if _is_memory_sqlite(u):  # one shared connection: tests/tools only
                kwargs["poolclass"] = StaticPool
            else:
                await asyncio.to_thread(_prepare_sqlite_file, str(u.database))
        else:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)
            if schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        engine = create_async_engine(u, **kwargs)
        if u.get_backend_name() == "sqlite":
            _install_sqlite_hooks(engine)
        db = cls(engine, u, schema if u.get_backend_name() != "sqlite" else None)
        try:
            await db.fetch_val("SELECT 1")
        except BaseException:
            await engine.dispose()
            raise
        return db

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[Transaction]:
        """Commit on success, roll back on exception.

        ``readonly=True`` lets SQLite readers run concurrently with a writer;
        on PostgreSQL it is only a hint and changes nothing.
        """
        engine = self._readonly_engine if readonly else self.engine
        async with engine.begin() as conn:
            yield Transaction(conn, self.dialect)

    async def execute(self, stmt: Statement, params: Params = None) -> CursorResult[Any]:
        """Write in its own transaction. ``rowcount`` is -1 for executemany on PostgreSQL."""
        async with self.transaction() as tx:
            return await tx.execute(stmt, params)

    async def fetch_one(self, stmt: Statement, params: Params = None) -> RowMapping | None:
        """Read-only query (``fetch_*`` never take SQLite's write lock).

        For ``INSERT ... RETURNING`` use :meth:`transaction` and ``tx.fetch_one``.
        """
        async with self.transaction(readonly=True) as tx:
            return await tx.fetch_one(stmt, params)

    async def fetch_all(self, stmt: Statement, params: Params = None) -> list[RowMapping]:
        async with self.transaction(readonly=True) as tx:
            return await tx.fetch_all(stmt, params)

    async def fetch_val(self, stmt: Statement, params: Params = None) -> Any:
        async with self.transaction(readonly=True) as tx:
            return await tx.fetch_val(stmt, params)

    def __repr__(self) -> str:
        return f"Database({redact_url(self.url)!r})"
