"""Administration APIs, each asking for its permission (corral.auth.roles): who a key is, key
management (each change audited), the audit log and erasure (docs/erasure.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate, read_body
from corral.api.params import int_param, path_text, since_param, text_param
from corral.api.responses import json_response
from corral.api.wire import parse_json_object, refuse_unknown_fields
from corral.auth.keys import KeyFieldError
from corral.auth.roles import permissions_of
from corral.auth.service import AmbiguousKeyError, KeyNotFoundError
from corral.core.errors import InvalidRequest, NotFound
from corral.governance.audit import MAX_LIMIT, AuditLog, key_audit
from corral.governance.erasure import erase


async def whoami(request: Request) -> Response:
    """``GET /admin/whoami`` (any valid key): the key's roles and what they permit, so the
    dashboard shows only the views the caller may open and a person can check a key."""
    caller = await authenticate(request, None)
    return json_response({"object": "whoami", "key_id": caller.key_id, "name": caller.key_name,
                          "team": caller.team, "roles": sorted(caller.scopes),
                          "permissions": sorted(permissions_of(caller.scopes))})


_KEY_FIELDS = ("name", "team", "roles", "scopes")


async def list_keys(request: Request) -> Response:
    await authenticate(request, "keys.manage")
    include_revoked = request.query_params.get("include_revoked") in ("1", "true")
    keys = await request.app.state.gateway.keys.list(include_revoked=include_revoked)
    return json_response({"object": "list", "data": [k.to_dict() for k in keys]})


async def create_key(request: Request) -> Response:
    caller = await authenticate(request, "keys.manage")
    data = parse_json_object(await read_body(request, 64 * 1024))
    refuse_unknown_fields(data, _KEY_FIELDS)
    if data.get("name") is None:
        raise InvalidRequest("'name' is required: a label for the key.", param="name")
    if "roles" in data and "scopes" in data:
        raise InvalidRequest("Send 'roles' or its older name 'scopes', not both.", param="scopes")
    field = "scopes" if "scopes" in data else "roles"
    scopes = data.get(field, ["inference"])
    if not isinstance(scopes, list):
        raise InvalidRequest(f"'{field}' must be a list of strings: role names (docs/roles.md).",
                             param=field)
    gateway = request.app.state.gateway
    try:
        raw, info = await gateway.keys.create(
            data["name"], data.get("team", "default"), scopes, created_by=caller.key_id,
            audit=key_audit(AuditLog(gateway.db), caller.key_id, "key.create", caller.key_name))
    except KeyFieldError as exc:  # name, team and scopes are validated where keys are made
        if exc.field == "roles":  # name the field the caller sent, roles or scopes
            raise InvalidRequest(str(exc).replace("'roles'", f"'{field}'"), param=field) from None
        raise InvalidRequest(str(exc), param=exc.field) from None
    return json_response({**info.to_dict(), "key": raw}, status_code=201)


async def revoke_key(request: Request) -> Response:
    caller = await authenticate(request, "keys.manage")
    ref = path_text(request, "key_id")
    gateway = request.app.state.gateway
    try:
        info = await gateway.keys.revoke(
            ref, audit=key_audit(AuditLog(gateway.db), caller.key_id, "key.revoke", caller.key_name))
    except KeyNotFoundError:
        raise NotFound(f"No key with id or prefix '{ref}'. List keys with GET /admin/keys.") from None
    except AmbiguousKeyError as exc:
        raise InvalidRequest(str(exc), param="key_id") from None
    return json_response(info.to_dict())


async def list_audit(request: Request) -> Response:
    """``GET /admin/audit``: newest first; ``since`` (ISO time or span), ``action``, ``limit``."""
    await authenticate(request, "audit.read")
    limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
    since, action = since_param(request), text_param(request, "action")
    entries = await AuditLog(request.app.state.gateway.db).entries(since, action, limit)
    return json_response({"object": "list", "data": [e.to_dict() for e in entries]})


_ERASURE_FIELDS = ("user", "key", "request")


async def create_erasure(request: Request) -> Response:
    """``POST /admin/erasure`` with exactly one of ``{"user"|"key"|"request": "<id>"}``: the receipt."""
    caller = await authenticate(request, "erasure.run")
    data = parse_json_object(await read_body(request, 16 * 1024))
    refuse_unknown_fields(data, _ERASURE_FIELDS)
    for name, value in data.items():
        if not isinstance(value, str) or not value.strip() or len(value) > 1000 or "\x00" in value:
            raise InvalidRequest(f"'{name}' must be a non-empty string (at most 1,000 characters).",
                                 param=name)
    if len(data) != 1:
        raise InvalidRequest("Send exactly one of 'user', 'key' or 'request' to erase.")
    gateway = request.app.state.gateway
    receipt = await erase(gateway.db, user=data.get("user"), key=data.get("key"), request=data.get("request"),
                          actor=caller.key_id, actor_name=caller.key_name, home=gateway.settings.home,
                          cache=gateway.cache, live_spool=gateway.recorder.sink)  # this process's too
    return json_response(receipt.to_dict())
