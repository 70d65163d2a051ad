"""The queries behind the dashboard's charts and request list (api/dashboard.py formats them).

Why the time series is computed in Python: per-bucket percentiles in portable SQL need a
window function per bucket; one pass over the window's few columns is simple and, capped
at ``MAX_SERIES_ROWS`` rows, cheap enough for an operator's page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import desc, or_, select

from corral.observe import queries
from corral.store.db import Database
from corral.store.schema import requests

MAX_SERIES_ROWS = 200_000
MAX_BUCKETS = 1440
_LIST_COLUMNS = [c for c in requests.c if c.name not in ("prompt", "response")]
# What the request list's free-text search looks in (the client's own id included, so a
# client's x-client-request-id finds its requests).
_SEARCHED = ("request_id", "client_request_id", "route", "served_model", "deployment", "key_id", "team",
             "error_type")


def nearest_rank(values: list[float], p: int) -> float | None:
    """Same definition as queries.summary, so chart and summary agree."""
    if not values:
        return None
    values.sort()
    return round(values[max(1, math.ceil(p / 100 * len(values))) - 1], 3)


async def errors_by_type(db: Database, since: datetime) -> dict[str, int]:
    """Error records since `since`, counted by error type (at most MAX_SERIES_ROWS read)."""
    c = requests.c
    rows = await db.fetch_all(
        select(c.error_type).where(c.created_at >= since, c.status == "error").limit(MAX_SERIES_ROWS))
    out: dict[str, int] = {}
    for r in rows:
        key = r["error_type"] or "unknown"
        out[key] = out.get(key, 0) + 1
    return out


async def timeseries(db: Database, since: datetime, bucket: int) -> dict[str, Any]:
    """Per-bucket count, rate, errors and latency/TTFT percentiles from `since` until now."""
    now = datetime.now(UTC)
    start = math.floor(since.timestamp() / bucket) * bucket
    n = min(MAX_BUCKETS, math.floor((now.timestamp() - start) / bucket) + 1)
    c = requests.c
    rows = await db.fetch_all(
        select(c.created_at, c.latency_ms, c.ttft_client_ms, c.ttft_upstream_ms, c.status)
        .where(c.created_at >= since).order_by(desc(c.created_at)).limit(MAX_SERIES_ROWS))
    lat: list[list[float]] = [[] for _ in range(n)]
    ttft: list[list[float]] = [[] for _ in range(n)]
    errors = [0] * n
    for r in rows:
        i = int((r["created_at"].timestamp() - start) // bucket)
        if not 0 <= i < n:
            continue
        lat[i].append(float(r["latency_ms"]))
        first = r["ttft_client_ms"] if r["ttft_client_ms"] is not None else r["ttft_upstream_ms"]
        if first is not None:
            ttft[i].append(float(first))
        errors[i] += r["status"] == "error"
    points = [{
        "t": datetime.fromtimestamp(start + i * bucket, UTC).isoformat(), "count": len(lat[i]),
        "rps": len(lat[i]) / bucket, "errors": errors[i],
        "latency_p50": nearest_rank(lat[i], 50), "latency_p99": nearest_rank(lat[i], 99),
        "ttft_p50": nearest_rank(ttft[i], 50), "ttft_p99": nearest_rank(ttft[i], 99),
    } for i in range(n)]
    return {"since": since.isoformat(), "bucket_s": bucket, "points": points,
            "truncated": len(rows) >= MAX_SERIES_ROWS}


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """The request list's filters: exact route/status/team, a start time, free text."""

    route: str | None = None
    status: str | None = None
    team: str | None = None
    since: datetime | None = None
    text: str | None = None


async def search(db: Database, where: RequestFilter, limit: int) -> list[dict[str, Any]]:
    """Records matching `where`, newest first, without their content columns."""
    c = requests.c
    query = select(*_LIST_COLUMNS)
    for column, value in ((c.route, where.route), (c.status, where.status), (c.team, where.team)):
        if value:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(c.created_at >= where.since)
    if where.text:
        like = "%" + where.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(*(c[name].ilike(like, escape="\\") for name in _SEARCHED)))
    rows = await db.fetch_all(query.order_by(desc(c.created_at), desc(c.id)).limit(limit))
    return [queries.to_dict(r) for r in rows]
