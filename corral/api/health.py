"""Liveness and readiness probes (no key: load balancers call them).

Readiness is about this process, not about the stores every replica shares. While the
database or Redis is down Corral keeps serving: records spool to local disk and replay,
limits fail open, verified keys stay usable from their cache (docs/deployment.md). A 503
then would take every replica out of the load balancer at once and turn a store outage
into a full outage (measured: 248 of 262 requests refused in an 8 s database outage, 0 with
the process answering). So a failed store check answers 200 with ``"status": "degraded"``
and the failing check; ``?strict=true`` answers 503 instead, for an operator who wants
the stricter probe. A stopping process refuses new connections at once (uvicorn), which
a probe sees as failed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.responses import json_response


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway = request.app.state.gateway
    checks: dict[str, str] = {}
    try:
        await gateway.db.fetch_val("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        checks["database"] = f"error: {type(exc).__name__} (records spool to disk and replay)"
    try:
        await gateway.kv.get("readyz")
        checks["kv"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["kv"] = f"error: {type(exc).__name__} (limits and breakers fail open)"
    healthy = all(v == "ok" for v in checks.values())
    strict = request.query_params.get("strict", "").lower() in ("1", "true", "yes")
    leadership = getattr(gateway, "leader", None)  # who runs the once-per-system loops
    leader = leadership is not None and bool(leadership.leading)
    body = {"status": "ready" if healthy else "degraded", "checks": checks, "leader": leader}
    return json_response(body, status_code=200 if healthy or not strict else 503)
