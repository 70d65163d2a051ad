"""Spend totals by key, team, route, model, day or batch, from the `requests` table.

Why in SQL: the table grows by one row per request; grouping in the database keeps a
month of traffic from being pulled into the gateway. Why a lower bound is explicit: a
group's `cost_usd` sums the priced requests only, and `unpriced_requests` says how many
were left out; a group with nothing priced reports `cost_usd: None`, never $0.

Portable between SQLite and PostgreSQL. The only dialect-specific piece is the UTC day
bucket. It is derived from `created_at` whichever way that column is stored: as a UTC
timestamp (`corral.store.schema.requests`: timestamptz on PostgreSQL, naive UTC text on
SQLite) or as unix seconds (whole days since the epoch); either way the day comes back as
an ISO date string, the same on both backends. The batch a request ran for is the
`job_id` in its `extras` JSON text (`corral.observe.builder`), read with each backend's
own JSON function.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, get_args, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    case,
    cast,
    column,
    func,
    select,
    table,
)
from sqlalchemy.sql import ColumnElement

from corral.store.db import Database

GroupBy = Literal["key", "team", "route", "model", "day", "batch", "store", "tag"]
TimeBound = float | int | datetime | None

SECONDS_PER_DAY = 86400
_EPOCH = date(1970, 1, 1)
_GROUP_COLUMNS = {"key": "key_id", "team": "team", "route": "route", "model": "served_model"}
_TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")


def requests_table(name: str = "requests") -> Any:
    """The columns totals read, with `created_at` in unix seconds (a minimal stand-in)."""
    return table(
        name,
        column("created_at", Float),
        column("key_id", String),
        column("team", String),
        column("route", String),
        column("served_model", String),
        column("deployment", String),
        column("status", String),
        column("cost_usd", Float),
        column("extras", Text),
        *(column(c, Integer) for c in _TOKEN_COLUMNS),
    )


def default_table() -> Any:
    """The migrated `requests` table (`corral.store.schema`), or the stand-in without it."""
    from corral.store import schema

    real = getattr(schema, "requests", None)
    return real if real is not None else requests_table()


def _stores_datetimes(t: Any) -> bool:
    """True for a timestamp column (UTCDateTime decorates DateTime), False for seconds."""
    kind = t.c.created_at.type
    return isinstance(getattr(kind, "impl_instance", kind), DateTime)


@overload
def _bound(value: TimeBound, as_datetime: Literal[False]) -> float | None: ...
@overload
def _bound(value: TimeBound, as_datetime: bool) -> datetime | float | None: ...
def _bound(value: TimeBound, as_datetime: bool) -> datetime | float | None:
    """A window bound in the column's own terms (aware UTC datetime or unix seconds)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware one (datetime.now(UTC)) or unix seconds")
        return value.astimezone(UTC) if as_datetime else value.timestamp()
    return datetime.fromtimestamp(float(value), UTC) if as_datetime else float(value)


def _day_bucket(t: Any, dialect: str) -> ColumnElement[Any]:
    created = t.c.created_at
    if _stores_datetimes(t):
        if dialect == "postgresql":
            return cast(func.timezone("UTC", created), Date)  # timestamptz -> UTC date
        return func.date(created)  # SQLite: naive UTC text -> 'YYYY-MM-DD'
    if dialect == "postgresql":
        return cast(func.floor(created / SECONDS_PER_DAY), BigInteger)
    return cast(created / SECONDS_PER_DAY, Integer)  # SQLite CAST truncates (created_at >= 0)


def _day_label(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return (_EPOCH + timedelta(days=int(value))).isoformat()


def _where(t: Any, since: TimeBound, until: TimeBound) -> list[ColumnElement[bool]]:
    as_datetime = _stores_datetimes(t)
    clauses: list[ColumnElement[bool]] = []
    if (start := _bound(since, as_datetime)) is not None:
        clauses.append(t.c.created_at >= start)
    if (end := _bound(until, as_datetime)) is not None:
        clauses.append(t.c.created_at < end)
    return clauses


def _usd(value: Any) -> float | None:
    if value is None:
        return None
    return float(Decimal(str(value)).quantize(Decimal("0.00000001"), ROUND_HALF_EVEN))


def batch_of(t: Any, dialect: str) -> ColumnElement[Any]:
    """The batch id a record ran for (its `extras.job_id`); NULL for live requests.

    Background responses carry a job id too (`resp_...`); `_BATCH_ONLY` keeps them out.
    """
    if dialect == "postgresql":  # json, not jsonb: one field read, no full decomposition
        return func.json_extract_path_text(cast(t.c.extras, JSON), "job_id")
    return func.json_extract(t.c.extras, "$.job_id")


def _job_only(t: Any, job: ColumnElement[Any], prefix: str) -> list[ColumnElement[bool]]:
    """Records whose job id starts with `prefix` (`batch_`: batch lines; `vs_`: a vector
    store's embeddings, ingestion and searches). The LIKE on the raw text first spares the
    JSON parse on every live request's record, which is most of them."""
    return [t.c.extras.like('%"job_id"%'), job.like(prefix.replace("_", "\\_") + "%", escape="\\")]


def _sums(t: Any) -> list[ColumnElement[Any]]:
    """The columns every total reports: requests, errors, priced cost, unpriced, tokens."""
    return [
        func.count().label("requests"),
        func.sum(case((t.c.status == "error", 1), else_=0)).label("errors"),
        func.sum(t.c.cost_usd).label("cost_usd"),
        func.sum(case((t.c.cost_usd.is_(None), 1), else_=0)).label("unpriced_requests"),
        *(func.coalesce(func.sum(t.c[c]), 0).label(c) for c in _TOKEN_COLUMNS),
    ]


def _summed(row: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "requests": int(row["requests"]),
        "errors": int(row["errors"] or 0),
        "cost_usd": _usd(row["cost_usd"]),
        "unpriced_requests": int(row["unpriced_requests"] or 0),
    }
    item.update({c: int(row[c] or 0) for c in _TOKEN_COLUMNS})
    return item


TAG_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def check_tag(key: str | None) -> str:
    """A tag key safe to put in a JSON path: letters, digits, `_`, `.` and `-`, up to 64."""
    if key is None or not TAG_KEY.fullmatch(key):
        raise ValueError(f"a tag key is 1-64 letters, digits, '_', '.' or '-', not {key!r}")
    return key


def _tag(t: Any, dialect: str, key: str) -> ColumnElement[Any]:
    """The record's cost-attribution tag `key` (its request's `metadata`), NULL when untagged."""
    if dialect == "postgresql":
        return func.json_extract_path_text(cast(t.c.extras, JSON), "tags", key)
    return func.json_extract(t.c.extras, f'$.tags."{key}"')


def _group(t: Any, group_by: GroupBy, dialect: str,
           tag: str | None = None) -> tuple[ColumnElement[Any], list[ColumnElement[bool]]]:
    """The group expression and the filter it needs (batch: only batch lines' records; tag: only
    records carrying that tag)."""
    if group_by == "tag":
        expr = _tag(t, dialect, check_tag(tag))
        return expr, [expr.is_not(None)]
    if group_by == "day":
        return _day_bucket(t, dialect), []
    if group_by in ("batch", "store"):
        job = batch_of(t, dialect)
        return job, _job_only(t, job, "batch_" if group_by == "batch" else "vs_")
    return t.c[_GROUP_COLUMNS[group_by]], []


async def totals(
    db: Database,
    group_by: GroupBy,
    since: TimeBound = None,
    until: TimeBound = None,
    *,
    table: Any = None,
    tag: str | None = None,
) -> list[dict[str, Any]]:
    """One dict per group, ordered by group value (None last), requests in [since, until).

    Keys: the `group_by` name (key id, team, route, served model, ISO day or batch id),
    `requests`, `errors`, `cost_usd` (sum of priced costs; None if none was priced),
    `unpriced_requests` (cost_usd NULL), and the four token sums. `table` defaults to the
    migrated `requests` table. By batch, only batch lines' records count; by tag, only the records
    whose request carried the tag `tag` (its `metadata`), grouped by the tag's value.
    """
    if group_by not in get_args(GroupBy):
        raise ValueError(f"group_by must be one of {', '.join(get_args(GroupBy))}, not {group_by!r}")
    t = default_table() if table is None else table
    expr, only = _group(t, group_by, db.dialect, tag)
    group = expr.label("grp")
    stmt = select(group, *_sums(t)).where(*_where(t, since, until), *only).group_by(group)
    out: list[dict[str, Any]] = []
    for row in await db.fetch_all(stmt):
        label = _day_label(row["grp"]) if group_by == "day" else row["grp"]
        out.append({group_by: label, **_summed(row)})
    out.sort(key=lambda r: (r[group_by] is None, r[group_by] or ""))
    return out


def _extra(t: Any, dialect: str, name: str) -> ColumnElement[Any]:
    """A value of the record's extras (NULL when absent)."""
    if dialect == "postgresql":
        return func.json_extract_path_text(cast(t.c.extras, JSON), name)
    return func.json_extract(t.c.extras, f"$.{name}")


def _saved_usd(t: Any, dialect: str) -> ColumnElement[Any]:
    """A cache hit's saving, the `cache_saved_usd` its record's extras carry."""
    return cast(_extra(t, dialect, "cache_saved_usd"), Float)


def _saved_ms(t: Any, dialect: str) -> ColumnElement[Any]:
    """The time a hit saved the client: how long the model took to make the answer, less how long
    the hit took (never below 0; NULL when the entry did not say)."""
    saved = cast(_extra(t, dialect, "cache_original_latency_ms"), Float) - t.c.latency_ms
    return case((saved > 0, saved), (saved <= 0, 0.0))  # NULL stays NULL: no branch matches


async def savings(db: Database, group_by: GroupBy, since: TimeBound = None, until: TimeBound = None,
                  *, table: Any = None, tag: str | None = None) -> dict[Any, dict[str, Any]]:
    """Cache hits and what they saved per group, keyed like `totals`' group values: `cache_hits`
    (answered from Corral's cache, exact hits and cached fallbacks) and `saved_usd` (the exact
    hits' `cache_saved_usd`; None when none was priced). A query of its own, over hits only, so
    the totals' scan parses no JSON for the records that are not."""
    t = default_table() if table is None else table
    expr, only = _group(t, group_by, db.dialect, tag)
    group = expr.label("grp")
    semantic = case((_extra(t, db.dialect, "cache_match") == "semantic", 1), else_=0)
    stmt = (select(group, func.count().label("hits"), func.sum(_saved_usd(t, db.dialect)).label("saved"),
                   func.sum(_saved_ms(t, db.dialect)).label("saved_ms"), func.sum(semantic).label("semantic"))
            .where(t.c.cache_hit.is_(True), *_where(t, since, until), *only).group_by(group))
    return {(_day_label(row["grp"]) if group_by == "day" else row["grp"]):
            {"cache_hits": int(row["hits"]), "semantic_hits": int(row["semantic"] or 0),
             "saved_usd": _usd(row["saved"]),
             "saved_s": None if row["saved_ms"] is None else round(float(row["saved_ms"]) / 1000, 3)}
            for row in await db.fetch_all(stmt)}


async def batch_totals(
    db: Database, batch_ids: Collection[str], since: TimeBound = None, *, table: Any = None,
) -> dict[str, dict[str, Any]]:
    """`totals` by batch for these batches only, keyed by batch id (a batch with no record
    yet is absent). `since`: no record of a batch is older than the batch, so the oldest
    batch's creation bounds the scan."""
    if not batch_ids:
        return {}
    t = default_table() if table is None else table
    batch = batch_of(t, db.dialect)
    stmt = (select(batch.label("grp"), *_sums(t))
            .where(*_where(t, since, None), *_job_only(t, batch, "batch_"), batch.in_(list(batch_ids)))
            .group_by(batch))
    return {row["grp"]: _summed(row) for row in await db.fetch_all(stmt)}


async def throughput(
    db: Database,
    deployment: str,
    since: float | int | datetime,
    until: TimeBound = None,
    *,
    counts: Literal["all", "output"] = "all",
    table: Any = None,
) -> float | None:
    """Measured tokens per second of one deployment over [since, until) of wall time.

    Idle time counts: an hourly-priced box recovers its full cost only if its per-token
    price is spread over the tokens it actually served in the hours paid for. Feed the
    result to `Pricer.set_measured_throughput`. None when nothing was served.
    """
    start = _bound(since, as_datetime=False)
    end = _bound(until, as_datetime=False) if until is not None else datetime.now(UTC).timestamp()
    if start is None or end is None or end <= start:
        raise ValueError("throughput needs since < until")
    t = default_table() if table is None else table
    tokens = t.c.output_tokens if counts == "output" else t.c.input_tokens + t.c.output_tokens
    where = [t.c.deployment == deployment, *_where(t, start, end)]
    served = int(await db.fetch_val(select(func.coalesce(func.sum(tokens), 0)).where(*where)) or 0)
    return served / (float(end) - float(start)) if served else None
