"""Administration APIs (admin-scoped key): key management."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate, read_body
from corral.api.params import path_text
from corral.api.responses import json_response
from corral.api.wire import parse_json_object
from corral.auth.keys import KeyFieldError
from corral.auth.service import AmbiguousKeyError, KeyNotFoundError
from corral.core.errors import InvalidRequest, NotFound


async def list_keys(request: Request) -> Response:
    await authenticate(request, "admin")
    include_revoked = request.query_params.get("include_revoked") in ("1", "true")
    keys = await request.app.state.gateway.keys.list(include_revoked=include_revoked)
    return json_response({"object": "list", "data": [k.to_dict() for k in keys]})


async def create_key(request: Request) -> Response:
    caller = await authenticate(request, "admin")
    data = parse_json_object(await read_body(request, 64 * 1024))
    if data.get("name") is None:
        raise InvalidRequest("'name' is required: a label for the key.", param="name")
    scopes = data.get("scopes", ["inference"])
    if not isinstance(scopes, list):
        raise InvalidRequest("'scopes' must be a list of strings.", param="scopes")
    try:
        raw, info = await request.app.state.gateway.keys.create(
            data["name"], data.get("team", "default"), scopes, created_by=caller.key_id
        )
    except KeyFieldError as exc:  # name, team and scopes are validated where keys are made
        raise InvalidRequest(str(exc), param=exc.field) from None
    return json_response({**info.to_dict(), "key": raw}, status_code=201)


async def revoke_key(request: Request) -> Response:
    await authenticate(request, "admin")
    ref = path_text(request, "key_id")
    try:
        info = await request.app.state.gateway.keys.revoke(ref)
    except KeyNotFoundError:
        raise NotFound(f"No key with id or prefix '{ref}'. List keys with GET /admin/keys.") from None
    except AmbiguousKeyError as exc:
        raise InvalidRequest(str(exc), param="key_id") from None
    return json_response(info.to_dict())
