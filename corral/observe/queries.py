"""SQL for the ``requests`` table: the sink's insert and the readers' queries.

Both live here so the table's shape is known in one module. The insert skips the ORM's
per-row work (it runs for every request); reads go through SQLAlchemy Core and stay
portable across SQLite and PostgreSQL (percentiles use ROW_NUMBER, which both have), so
``corral logs``, ``corral stats`` and the dashboard read the same numbers everywhere.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import chain
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import ColumnElement, RowMapping, case, desc, func, select

from corral.observe.record import RequestRecord
from corral.store.db import SQLITE_BUSY_TIMEOUT_MS, Database
from corral.store.schema import requests

Row = list[Any]  # column values in COLUMNS order
Statement = Callable[[Sequence[Row]], tuple[str, list[tuple[Any, ...]]]]

_SCALARS = (
    "request_id", "created_at", "key_id", "team", "end_user", "route", "requested_model",
    "served_model", "deployment", "provider_type", "status", "http_status", "error_type", "stream",
    "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "usage_estimated",
    "ttft_upstream_ms", "ttft_client_ms", "latency_ms", "cost_usd", "priced", "cache_hit",
    "degraded", "fallback", "response", "client_request_id", "operation",
)
COLUMNS = (*_SCALARS, "attempts", "prompt", "extras")
#: Stored attempts are compact JSON arrays (encoding is per request); readers get objects.
ATTEMPT_FIELDS = ("deployment", "provider", "model", "status", "error_type", "duration_ms")
_JSON_COLUMNS = ("prompt", "extras")
_CONTENT = ("prompt", "response")
_get_scalars = attrgetter(*_SCALARS)
# Values a client or a model controls: clipped to the column and NUL-free, so one odd value
# cannot make PostgreSQL refuse a batch. Names from configuration are not checked per row
# (a row refused anyway is isolated by the sink's row-by-row retry).
_UNTRUSTED = tuple((COLUMNS.index(c), getattr(requests.c[c].type, "length", None) or 2**62)
                   for c in ("request_id", "end_user", "route", "requested_model", "response",
                             "client_request_id"))
_CREATED = COLUMNS.index("created_at")
_LATENCY = COLUMNS.index("latency_ms")
assert _CREATED == 1  # the insert's binders rebuild rows around it
SQLITE_MAX_ROWS = 1024  # per SQLite statement (31 parameters each)
PERCENTILES = (50, 95, 99)
MAX_LIMIT = 1000


# -- write side ----------------------------------------------------------------------------

def record_row(record: RequestRecord) -> Row:
    """Column values, JSON-safe (created_at stays unix seconds until bound)."""
    row = [
        *_get_scalars(record),
        orjson.dumps([(a.deployment, a.provider, a.model, a.status, a.error_type, a.duration_ms)
                      for a in record.attempts]).decode(),
        None if record.prompt is None else orjson.dumps(record.prompt, default=str).decode(),
        orjson.dumps(record.extras, default=str).decode(),
    ]
    for i, limit in _UNTRUSTED:
        value = row[i]
        if value is not None and (len(value) > limit or "\x00" in value):
            row[i] = value[:limit].replace("\x00", "")
    return row


def row_finished(row: Row) -> float:
    """Unix time the request ended: what the sink's flush lag is measured from."""
    return float(row[_CREATED]) + float(row[_LATENCY]) / 1000


def insert_statement(dialect: str) -> Statement:
    """The idempotent insert for a batch, as (SQL, executemany parameters).

    PostgreSQL: one parameter set per row (asyncpg pipelines them on the loop). SQLite:
    the batch in one multi-row statement rounded up to a power of two rows (padded by
    repeating the last row, a conflict ON CONFLICT DO NOTHING skips), so a handful of
    statements are ever compiled. Few statements matter: each is a trip through
    aiosqlite's thread, which must win the GIL from the event loop, and on a saturated
    loop that takes milliseconds per trip.
    """
    n = len(COLUMNS)
    head = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES "
    tail = " ON CONFLICT (request_id) DO NOTHING"
    if dialect == "postgresql":
        pg_sql = head + "(" + ", ".join(f"${i}" for i in range(1, n + 1)) + ")" + tail

        def bind_pg(rows: Sequence[Row]) -> tuple[str, list[tuple[Any, ...]]]:
            return pg_sql, [(r[0], datetime.fromtimestamp(r[1], UTC), *r[2:]) for r in rows]

        return bind_pg
    probe = sqlite3.connect(":memory:")  # the library aiosqlite uses, with its build's limit
    try:
        fits = min(SQLITE_MAX_ROWS, probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // n)
    finally:
        probe.close()
    most = 1 << (max(fits, 1).bit_length() - 1)  # rows per statement, at most
    one = "(" + ", ".join("?" * n) + ")"
    sqls: dict[int, str] = {}
    cached = [-1, ""]

    def stamp(ts: float) -> str:  # SQLAlchemy's DateTime text, strftime once per second
        second = int(ts)
        if second != cached[0]:
            cached[:] = [second, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))]
        return f"{cached[1]}.{int((ts - second) * 1e6):06d}"

    def bind_sqlite(rows: Sequence[Row]) -> tuple[str, list[tuple[Any, ...]]]:
        size = min(most, 1 << (len(rows) - 1).bit_length())
        flat = [(r[0], stamp(r[1]), *r[2:]) for r in rows]
        flat += flat[-1:] * (-len(flat) % size)
        sql = sqls.get(size) or sqls.setdefault(size, head + ", ".join([one] * size) + tail)
        return sql, [tuple(chain.from_iterable(flat[i:i + size])) for i in range(0, len(flat), size)]

    return bind_sqlite


class BatchInserter:
    """Writes a batch of rows with one statement: the sink's only way into the table.

    SQLite files get a thread of their own over a plain sqlite3 connection. Through the
    Database (aiosqlite under SQLAlchemy) a batch is a dozen round trips to aiosqlite's
    thread, each of which must win the GIL back from the event loop: on a busy loop one
    batch took seconds and the queue only grew. Here a batch is one call (BEGIN
    IMMEDIATE, one INSERT, COMMIT) and SQLite works with the GIL released. The pragmas
    are those corral.store.db sets on its own connections. PostgreSQL (and in-memory
    SQLite) go through the Database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._statement = insert_statement(db.dialect)
        path = getattr(getattr(db, "url", None), "database", None)
        self._path = path if db.dialect == "sqlite" and path and path != ":memory:" else None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="corral-records") if self._path else None
        self._conn: sqlite3.Connection | None = None

    async def insert(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        sql, params = self._statement(rows)
        if self._executor is None:
            async with self.db.transaction() as tx:
                await tx.connection.exec_driver_sql(sql, params)
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._insert, sql, params)
        except asyncio.CancelledError:  # the sink gave up waiting: stop SQLite as well
            if self._conn is not None:
                self._conn.interrupt()
            raise

    async def close(self) -> None:
        if self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
            self._executor.shutdown(wait=False)

    def _insert(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        if self._conn is None:
            assert self._path is not None
            self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(sql, params)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# -- read side -----------------------------------------------------------------------------

def _filters(since: datetime | None, route: str | None, key_id: str | None, team: str | None,
             status: str | None = None, served_model: str | None = None) -> list[ColumnElement[bool]]:
    c = requests.c
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(c.created_at >= since)
    for column, value in ((c.route, route), (c.key_id, key_id), (c.team, team), (c.status, status),
                          (c.served_model, served_model)):
        if value is not None:
            where.append(column == value)
    return where


def to_dict(row: RowMapping) -> dict[str, Any]:
    """A stored row as JSON-friendly data (JSON columns parsed, time in ISO 8601)."""
    data = dict(row)
    data["created_at"] = row["created_at"].isoformat()
    for name in _JSON_COLUMNS:
        if data.get(name) is not None:
            data[name] = orjson.loads(data[name])
    data["attempts"] = [dict(zip(ATTEMPT_FIELDS, a, strict=False)) for a in orjson.loads(row["attempts"])]
    for name in ("ttft_upstream_ms", "ttft_client_ms", "latency_ms"):
        if data[name] is not None:
            data[name] = round(data[name], 3)
    for name in ("stream", "usage_estimated", "priced", "cache_hit"):
        data[name] = bool(data[name])
    return data


async def recent(
    db: Database,
    limit: int = 100,
    *,
    since: datetime | None = None,
    route: str | None = None,
    key_id: str | None = None,
    team: str | None = None,
    status: str | None = None,
    served_model: str | None = None,
    after_id: int | None = None,
    content: bool = False,
) -> list[dict[str, Any]]:
    """Newest first; with ``after_id``, rows stored after that id in insertion order (follow).

    Content columns are left out unless ``content`` (they can be large and are sensitive).
    """
    limit = max(1, min(limit, MAX_LIMIT))
    columns = [col for col in requests.c if content or col.name not in _CONTENT]
    query = select(*columns).where(*_filters(since, route, key_id, team, status, served_model))
    if after_id is not None:
        query = query.where(requests.c.id > after_id).order_by(requests.c.id)
    else:
        query = query.order_by(desc(requests.c.created_at), desc(requests.c.id))
    return [to_dict(r) for r in await db.fetch_all(query.limit(limit))]


async def last_id(db: Database) -> int:
    """The newest row id (0 for an empty table): where ``logs --follow`` starts."""
    return int(await db.fetch_val(select(func.coalesce(func.max(requests.c.id), 0))))


async def get(db: Database, request_id: str) -> dict[str, Any] | None:
    """One request's full record, content included when it was captured."""
    row = await db.fetch_one(select(requests).where(requests.c.request_id == request_id))
    return None if row is None else to_dict(row)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _percentiles(db: Database, column: Any, where: list[ColumnElement[bool]], n: int
                       ) -> dict[str, float | None]:
    """Nearest-rank percentiles of ``column`` over ``n`` non-null values, in one query."""
    if n == 0:
        return {f"p{p}": None for p in PERCENTILES}
    ranks = {p: max(1, math.ceil(p / 100 * n)) for p in PERCENTILES}
    ranked = select(column.label("v"), func.row_number().over(order_by=column).label("rn")).where(
        *where, column.is_not(None)).subquery()
    rows = await db.fetch_all(select(ranked.c.v, ranked.c.rn).where(ranked.c.rn.in_(set(ranks.values()))))
    values = {r["rn"]: float(r["v"]) for r in rows}
    return {f"p{p}": values.get(k) for p, k in ranks.items()}


async def summary(
    db: Database,
    since: datetime | None = None,
    *,
    route: str | None = None,
    key_id: str | None = None,
    team: str | None = None,
    top_routes: int = 20,
) -> dict[str, Any]:
    """Count, error rate, latency and TTFT percentiles, tokens and cost over a window."""
    c = requests.c
    where = _filters(since, route, key_id, team)
    totals = [
        func.count().label("count"),
        _count_if(c.status == "error").label("errors"),
        _count_if(c.status == "degraded").label("degraded"),
        _count_if(c.cache_hit).label("cache_hits"),
        _count_if(c.cost_usd.is_(None)).label("unpriced"),
        func.sum(c.cost_usd).label("cost_usd"),
        *(func.coalesce(func.sum(c[f"{k}_tokens"]), 0).label(k)
          for k in ("input", "output", "cached", "reasoning")),
        func.count(c.ttft_upstream_ms).label("n_ttft_upstream"),
        func.count(c.ttft_client_ms).label("n_ttft_client"),
    ]
    row = await db.fetch_one(select(*totals).where(*where))
    assert row is not None  # an aggregate always returns one row
    n = int(row["count"])
    by_route = await db.fetch_all(
        select(c.route, *totals[:6]).where(*where).group_by(c.route)
        .order_by(desc(totals[0]), c.route).limit(top_routes)
    )
    return {
        "since": since.isoformat() if since is not None else None,
        "count": n,
        "errors": int(row["errors"]),
        "error_rate": int(row["errors"]) / n if n else 0.0,
        "degraded": int(row["degraded"]),
        "cache_hits": int(row["cache_hits"]),
        "latency_ms": await _percentiles(db, c.latency_ms, where, n),
        "ttft_upstream_ms": await _percentiles(db, c.ttft_upstream_ms, where, int(row["n_ttft_upstream"])),
        "ttft_client_ms": await _percentiles(db, c.ttft_client_ms, where, int(row["n_ttft_client"])),
        "tokens": {k: int(row[k]) for k in ("input", "output", "cached", "reasoning")},
        "cost_usd": None if row["cost_usd"] is None else float(row["cost_usd"]),
        "unpriced": int(row["unpriced"]),
        "by_route": [
            {"route": r["route"], "count": int(r["count"]), "errors": int(r["errors"]),
             "degraded": int(r["degraded"]), "unpriced": int(r["unpriced"]),
             "cost_usd": None if r["cost_usd"] is None else float(r["cost_usd"])}
            for r in by_route
        ],
    }
