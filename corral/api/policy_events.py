"""``GET /admin/policy-events`` (admin scope): recent content-policy refusals for review.

Query parameters: ``limit`` (1-1000, default 100), ``since`` (ISO 8601 time or a span
such as ``24h``), ``route`` (public model name), ``key_id``. Newest first. The events
carry prompt excerpts, which is why only admin keys may read them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate
from corral.api.params import int_param, since_param, text_param
from corral.api.responses import json_response
from corral.governance.policy_events import PolicyEventStore

DEFAULT_LIMIT = 100


async def list_policy_events(request: Request) -> Response:
    await authenticate(request, "policy.read")
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, PolicyEventStore.MAX_LIMIT)
    since = since_param(request)
    route, key_id = text_param(request, "route"), text_param(request, "key_id")
    events = await PolicyEventStore(request.app.state.gateway.db).list(limit, since, route, key_id)
    return json_response({"object": "list", "data": [e.to_dict() for e in events]})
