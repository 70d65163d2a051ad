"""The dashboard's JSON endpoints (admin scope) and the page itself (no key).

Auth model: ``GET /dashboard`` serves static HTML/JS that holds no data, so it needs no
key; every number comes from the ``/admin/...`` endpoints below, which require an admin
key in the Authorization header. The page asks for the key once and keeps it in
sessionStorage (gone when the tab closes); a link ``/dashboard#key=...`` seeds it from
the fragment, which browsers never send, and the page strips it from the address bar at
once. A key in the query string (``?key=``) is not used: URLs end up in access logs (the
access log redacts it, corral.api.access_log). The data endpoints never read a key from
the URL either.

The queries live in corral/observe/browse.py; this module only authenticates, reads
parameters and formats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.api.auth import authenticate
from corral.api.params import int_param, path_text, since_param, text_param
from corral.api.responses import json_response
from corral.batches.overview import MAX_LIMIT as MAX_BATCHES
from corral.batches.overview import BatchFilter, overview
from corral.core.errors import NotFound
from corral.cost.catalog import PriceCatalog
from corral.cost.plan_report import records_report
from corral.cost.totals import savings, totals
from corral.dashboard import page_response
from corral.limits.spend import budget_status, report
from corral.observe import browse, queries


def _since(request: Request, default: str = "1h") -> datetime:
    since = since_param(request, default)
    assert since is not None
    return since


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    return int_param(request, name, default, low, high)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """Plain-str keys: SQLAlchemy's quoted_name keys are a str subclass orjson refuses."""
    return {f"{k}": v for k, v in record.items()}


async def dashboard_page(request: Request) -> Response:
    return page_response(request.path_params.get("asset"))


async def summary(request: Request) -> Response:
    await authenticate(request, "records.read")
    since = _since(request)
    db = request.app.state.gateway.db
    data = await queries.summary(db, since)
    data["throughput_rps"] = data["count"] / max(1.0, (datetime.now(UTC) - since).total_seconds())
    data["errors_by_type"] = await browse.errors_by_type(db, since)
    return json_response(data)


async def timeseries(request: Request) -> Response:
    await authenticate(request, "records.read")
    since = _since(request)
    bucket = _int(request, "bucket", 60, 1, 86400)
    return json_response(await browse.timeseries(request.app.state.gateway.db, since, bucket))


async def cost(request: Request) -> Response:
    await authenticate(request, "records.read")
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
    saved = await savings(db, "route", since)  # what the caches saved, per route (docs/failures.md)
    by_route = [{"route": route, **value} for route, value in sorted(saved.items())]
    return json_response({"days": days, "since": since.date().isoformat(), "data": series,
                          "cache_savings": by_route})


async def list_requests(request: Request) -> Response:
    await authenticate(request, "records.read")
    limit = _int(request, "limit", 100, 1, queries.MAX_LIMIT)
    where = browse.RequestFilter(
        route=text_param(request, "route"), status=text_param(request, "status"),
        team=text_param(request, "team"),
        since=_since(request) if request.query_params.get("since") else None,
        text=(text_param(request, "q") or "").strip() or None,
    )
    rows = await browse.search(request.app.state.gateway.db, where, limit)
    return json_response({"object": "list", "data": [_plain(r) for r in rows]})


async def get_request(request: Request) -> Response:
    await authenticate(request, "records.read")
    record = await queries.get(request.app.state.gateway.db, path_text(request, "request_id"))
    if record is None:
        raise NotFound(f"No stored request with id {request.path_params['request_id']!r} "
                       "(records are written a moment after the request ends).")
    return json_response(_plain(record))


async def alerts(request: Request) -> Response:
    await authenticate(request, "records.read")
    engine = getattr(request.app.state.gateway, "alerts", None)
    if engine is None:
        return json_response({"rules": [], "history": [], "configured": False})
    return json_response({**engine.snapshot(), "configured": True})


async def list_batches(request: Request) -> Response:
    """Every team's batches with progress, errors and cost (the page's Batches view)."""
    await authenticate(request, "records.read")
    limit = _int(request, "limit", 50, 1, MAX_BATCHES)
    where = BatchFilter(status=text_param(request, "status"), team=text_param(request, "team"))
    data = await overview(request.app.state.gateway.db, where, limit)
    return json_response({"object": "list", "data": data})


async def cost_plan(request: Request) -> Response:
    """The plan the records since ``since`` (default 30d) imply, with its charts (docs/cost.md)."""
    await authenticate(request, "records.read")
    gateway = request.app.state.gateway
    catalog = PriceCatalog.load(gateway.settings.pricing)
    return json_response(await records_report(gateway.db, catalog, _since(request, "30d"),
                                              route=text_param(request, "route")))


async def budgets(request: Request) -> Response:
    """Every configured limit against the records now (`corral budgets --json`; docs/limits.md)."""
    await authenticate(request, "records.read")
    gateway = request.app.state.gateway
    limits, now = gateway.settings.limits, datetime.now(UTC)
    lines = await budget_status(gateway.db, limits, now) if limits.configured() else []
    return json_response(report(lines, now, limits.configured()))


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
    Route("/admin/dashboard/batches", list_batches, methods=["GET"]),
    Route("/admin/dashboard/cost-plan", cost_plan, methods=["GET"]),
    Route("/admin/dashboard/budgets", budgets, methods=["GET"]),
]
