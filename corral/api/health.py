"""Liveness and readiness probes (no key: load balancers call them)."""

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
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await gateway.kv.get("readyz")
        checks["kv"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["kv"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return json_response({"status": "ready" if ready else "not_ready", "checks": checks},
                         status_code=200 if ready else 503)
