"""The dashboard's JSON endpoints (admin scope) and the page itself (no key).

Auth model: ``GET /dashboard`` serves static HTML/JS that holds no data, so it needs no
key; every number comes from the ``/admin/...`` endpoints below, which require an admin
key in the Authorization header. The page asks for the key once and keeps it in
sessionStorage (gone when the tab closes); a link ``/dashboard#key=...`` seeds it from
the fragment, which browsers never send, and the page strips it from the address bar at
once. A key in the query string (``?key=``) is not used: URLs end up in access logs (the
access log redacts it, corral.api.access_log). The data endpoints never read a key from
the URL either.

Why the time series is computed in Python: per-bucket percentiles in portable SQL need a
window function per bucket; one pass over the window's few columns is simple and, capped
at ``MAX_SERIES_ROWS`` rows, cheap enough for an operator's page.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import desc, or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.api.auth import authenticate
from corral.api.params import int_param, path_text, since_param, text_param
from corral.api.responses import json_response
from corral.core.errors import NotFound
from corral.cost.totals import totals
from corral.dashboard import page_response
from corral.observe import queries
from corral.store.schema import requests

MAX_SERIES_ROWS = 200_000
MAX_BUCKETS = 1440
_LIST_COLUMNS = [c for c in requests.c if c.name not in ("prompt", "response")]


def _since(request: Request, default: str = "1h") -> datetime:
    since = since_param(request, default)
    assert since is not None
    return since


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    return int_param(request, name, default, low, high)


def _nearest_rank(values: list[float], p: int) -> float | None:
    """Same definition as queries.summary, so chart and summary agree."""
    if not values:
        return None
    values.sort()
    return round(values[max(1, math.ceil(p / 100 * len(values))) - 1], 3)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """Plain-str keys: SQLAlchemy's quoted_name keys are a str subclass orjson refuses."""
    return {f"{k}": v for k, v in record.items()}


async def dashboard_page(request: Request) -> Response:
    return page_response(request.path_params.get("asset"))


async def summary(request: Request) -> Response:
    await authenticate(request, "admin")
    since = _since(request)
    data = await queries.summary(request.app.state.gateway.db, since)
    data["throughput_rps"] = data["count"] / max(1.0, (datetime.now(UTC) - since).total_seconds())
    data["errors_by_type"] = await _errors_by_type(request, since)
    return json_response(data)


async def _errors_by_type(request: Request, since: datetime) -> dict[str, int]:
    c = requests.c
    rows = await request.app.state.gateway.db.fetch_all(
        select(c.error_type).where(c.created_at >= since, c.status == "error").limit(MAX_SERIES_ROWS))
    out: dict[str, int] = {}
    for r in rows:
        key = r["error_type"] or "unknown"
        out[key] = out.get(key, 0) + 1
    return out


async def timeseries(request: Request) -> Response:
    await authenticate(request, "admin")
    since = _since(request)
    bucket = _int(request, "bucket", 60, 1, 86400)
    now = datetime.now(UTC)
    start = math.floor(since.timestamp() / bucket) * bucket
    n = min(MAX_BUCKETS, math.floor((now.timestamp() - start) / bucket) + 1)
    c = requests.c
    rows = await request.app.state.gateway.db.fetch_all(
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
        "latency_p50": _nearest_rank(lat[i], 50), "latency_p99": _nearest_rank(lat[i], 99),
        "ttft_p50": _nearest_rank(ttft[i], 50), "ttft_p99": _nearest_rank(ttft[i], 99),
    } for i in range(n)]
    return json_response({"since": since.isoformat(), "bucket_s": bucket, "points": points,
                          "truncated": len(rows) >= MAX_SERIES_ROWS})


async def cost(request: Request) -> Response:
    await authenticate(request, "admin")
    days = _int(request, "days", 7, 1, 366)
    db = request.app.state.gateway.db
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=days - 1)
    by_day = await totals(db, "day", since)
    # Per day and model/team: one totals() query per day keeps cost/totals.py the only
    # place that knows how days are bucketed on each backend.
    series: list[dict[str, Any]] = []
    for row in by_day:
        start = datetime.fromisoformat(row["day"]).replace(tzinfo=UTC)
        end = start + timedelta(days=1)
        series.append({
            "day": row["day"], "cost_usd": row["cost_usd"], "requests": row["requests"],
            "unpriced_requests": row["unpriced_requests"],
            "by_model": {m["model"] or "unknown": m["cost_usd"]
                         for m in await totals(db, "model", start, end)},
            "by_team": {t["team"] or "none": t["cost_usd"] for t in await totals(db, "team", start, end)},
        })
    return json_response({"days": days, "since": since.date().isoformat(), "data": series})


async def list_requests(request: Request) -> Response:
    await authenticate(request, "admin")
    params = request.query_params
    limit = _int(request, "limit", 100, 1, queries.MAX_LIMIT)
    c = requests.c
    query = select(*_LIST_COLUMNS)
    for column, name in ((c.route, "route"), (c.status, "status"), (c.team, "team")):
        if value := text_param(request, name):
            query = query.where(column == value)
    if params.get("since"):
        query = query.where(c.created_at >= _since(request))
    if q := (text_param(request, "q") or "").strip():
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(*(col.ilike(like, escape="\\") for col in (
            c.request_id, c.route, c.served_model, c.deployment, c.key_id, c.team, c.error_type))))
    rows = await request.app.state.gateway.db.fetch_all(
        query.order_by(desc(c.created_at), desc(c.id)).limit(limit))
    return json_response({"object": "list", "data": [_plain(queries.to_dict(r)) for r in rows]})


async def get_request(request: Request) -> Response:
    await authenticate(request, "admin")
    record = await queries.get(request.app.state.gateway.db, path_text(request, "request_id"))
    if record is None:
        raise NotFound(f"No stored request with id {request.path_params['request_id']!r} "
                       "(records are written a moment after the request ends).")
    return json_response(_plain(record))


async def alerts(request: Request) -> Response:
    await authenticate(request, "admin")
    engine = getattr(request.app.state.gateway, "alerts", None)
    if engine is None:
        return json_response({"rules": [], "history": [], "configured": False})
    return json_response({**engine.snapshot(), "configured": True})


#: For corral.api.app.ROUTES (``*dashboard.ROUTES``). The page routes need no key; the
#: data routes check the admin scope themselves.
ROUTES = [
    Route("/dashboard", dashboard_page, methods=["GET"]),
    Route("/dashboard/{asset}", dashboard_page, methods=["GET"]),
    Route("/admin/dashboard/summary", summary, methods=["GET"]),
    Route("/admin/dashboard/timeseries", timeseries, methods=["GET"]),
    Route("/admin/dashboard/cost", cost, methods=["GET"]),
    Route("/admin/requests", list_requests, methods=["GET"]),
    Route("/admin/requests/{request_id}", get_request, methods=["GET"]),
    Route("/admin/alerts", alerts, methods=["GET"]),
]
