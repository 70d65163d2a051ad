"""``GET /admin/policy-events`` (admin scope): recent content-policy refusals for review.

Query parameters: ``limit`` (1-1000, default 100), ``since`` (ISO 8601 time or a span
such as ``24h``), ``route`` (public model name), ``key_id``. Newest first. The events
carry prompt excerpts, which is why only admin keys may read them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate
from corral.api.responses import json_response
from corral.core.errors import InvalidRequest
from corral.governance.policy_events import PolicyEventStore, parse_since

DEFAULT_LIMIT = 100


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= PolicyEventStore.MAX_LIMIT:
        raise InvalidRequest(
            f"'limit' must be a whole number from 1 to {PolicyEventStore.MAX_LIMIT}; got {raw!r}.",
            param="limit",
        )
    return int(raw)


async def list_policy_events(request: Request) -> Response:
    await authenticate(request, "admin")
    params = request.query_params
    limit = _limit(params.get("limit"))
    try:
        since = parse_since(params.get("since"))
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None
    store = PolicyEventStore(request.app.state.gateway.db)
    events = await store.list(limit, since, params.get("route") or None, params.get("key_id") or None)
    return json_response({"object": "list", "data": [e.to_dict() for e in events]})
