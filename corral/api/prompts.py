"""The prompt registry's admin API (docs/prompts.md); each handler states its permission.

    GET  /admin/prompts                           prompts.read    list, with labels
    POST /admin/prompts                           prompts.write   create (the caller becomes an owner)
    GET  /admin/prompts/{name}                    prompts.read    one prompt, its versions and changes
    GET  /admin/prompts/{name}/versions/{version} prompts.read    one version, with its text
    POST /admin/prompts/{name}/versions           prompts.write   add a version (owners)
    POST /admin/prompts/{name}/labels/{label}     prompts.write   move (200), or propose (202)
    GET  /admin/prompt-changes                    prompts.read    ?state=pending|applied|rejected&name=
    GET  /admin/prompt-changes/{change_id}        prompts.read    one change, with its unified diff
    POST /admin/prompt-changes/{change_id}/approve  prompts.approve  a different owner's approval
    POST /admin/prompt-changes/{change_id}/reject   prompts.approve  any owner (the proposer: a withdrawal)

Ownership and the two-person rule are the registry's (corral.prompts.registry): the
permission lets a key try; being an owner of that prompt lets it act.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.api.auth import authenticate, read_body
from corral.api.params import int_param
from corral.api.responses import json_response
from corral.api.wire import parse_json_object, refuse_unknown_fields
from corral.core.context import Caller
from corral.core.errors import InvalidRequest
from corral.prompts.models import Actor
from corral.prompts.names import (
    DEFAULT_PROTECTED,
    MAX_DESCRIPTION_CHARS,
    MAX_PROTECTED,
    MAX_TEXT_BYTES,
    check_label,
    check_name,
    check_note,
    check_str_list,
    check_text,
    check_version,
)
from corral.prompts.owners import check_owners
from corral.prompts.registry import PromptRegistry

MAX_BODY_BYTES = MAX_TEXT_BYTES * 6 + 16 * 1024  # the text JSON-escaped (\uXXXX) at worst, and the rest
_STATES = ("pending", "applied", "rejected")


def _actor(caller: Caller) -> Actor:
    return Actor(caller.key_id, caller.key_name)


def _registry(request: Request) -> PromptRegistry:
    return PromptRegistry(request.app.state.gateway.db)


def _forget(request: Request, name: str) -> None:
    """A label moved here: this process's cache forgets the prompt (others within 5 s)."""
    resolver = getattr(request.app.state.gateway, "prompts", None)
    if resolver is not None:
        resolver.forget(name)


async def _body(request: Request, allowed: tuple[str, ...], *, empty_ok: bool = False) -> dict[str, Any]:
    raw = await read_body(request, MAX_BODY_BYTES)
    if not raw.strip() and empty_ok:
        return {}
    data = parse_json_object(raw)
    if not allowed and data:
        first = sorted(data)[0]
        raise InvalidRequest(f"Unknown field {first[:60]!r}: this endpoint takes an empty body (or {{}}).",
                             param=first[:200])
    refuse_unknown_fields(data, allowed)
    return data


def _change_id(request: Request) -> int:
    raw = request.path_params["change_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        raise InvalidRequest(f"'change_id' must be a whole number; got {raw[:40]!r}.", param="change_id")
    return int(raw)


async def list_prompts(request: Request) -> Response:
    await authenticate(request, "prompts.read")
    found = await _registry(request).all()
    return json_response({"object": "list", "data": [p.to_dict() for p in found]})


async def create_prompt(request: Request) -> Response:
    caller = await authenticate(request, "prompts.write")
    data = await _body(request, ("name", "owners", "protected_labels", "description", "text", "note"))
    name = check_name(data.get("name"))
    owners = await check_owners(request.app.state.gateway.keys,
                                check_str_list(data.get("owners", []), "owners", 20))
    protected = check_str_list(data.get("protected_labels", list(DEFAULT_PROTECTED)), "protected_labels",
                               MAX_PROTECTED)
    description = check_note(data.get("description"), "description", MAX_DESCRIPTION_CHARS)
    text = None if data.get("text") is None else check_text(data["text"])
    prompt = await _registry(request).create(_actor(caller), name, owners, protected, description, text,
                                             check_note(data.get("note")))
    return json_response(prompt.to_dict(), status_code=201)


async def get_prompt(request: Request) -> Response:
    caller = await authenticate(request, "prompts.read")
    registry = _registry(request)
    name = check_name(request.path_params["name"])
    prompt = await registry.get(name)
    versions = await registry.versions(name)
    changes = await registry.changes(name=name, limit=50)
    actor = _actor(caller)
    return json_response({
        **prompt.to_dict(), "versions": [v.to_dict(text=False) for v in versions],
        "changes": [{**c.to_dict(), "you_may_approve": registry.may_approve(prompt, c, actor)}
                    for c in changes]})


async def get_version(request: Request) -> Response:
    await authenticate(request, "prompts.read")
    name = check_name(request.path_params["name"])
    raw = request.path_params["version"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise InvalidRequest(f"'version' must be a whole number; got {raw[:40]!r}.", param="version")
    found = await _registry(request).version(name, check_version(int(raw)))
    return json_response(found.to_dict())


async def add_version(request: Request) -> Response:
    caller = await authenticate(request, "prompts.write")
    name = check_name(request.path_params["name"])
    data = await _body(request, ("text", "note"))
    version = await _registry(request).add_version(_actor(caller), name, check_text(data.get("text")),
                                                   check_note(data.get("note")))
    return json_response(version.to_dict(text=False), status_code=201)


async def move_label(request: Request) -> Response:
    """200 when the label moved; 202 with a pending change when it is protected."""
    caller = await authenticate(request, "prompts.write")
    name = check_name(request.path_params["name"])
    label = check_label(request.path_params["label"])
    data = await _body(request, ("version", "note"))
    version = check_version(data.get("version"))
    moved = await _registry(request).move_label(_actor(caller), name, label, version,
                                                check_note(data.get("note")))
    if moved.applied:
        _forget(request, name)
    return json_response(moved.to_dict(), status_code=200 if moved.applied else 202)


async def list_changes(request: Request) -> Response:
    caller = await authenticate(request, "prompts.read")
    state = request.query_params.get("state") or None
    if state is not None and state not in _STATES:
        raise InvalidRequest(f"'state' must be one of {', '.join(_STATES)}.", param="state")
    name = request.query_params.get("name") or None
    registry = _registry(request)
    changes = await registry.changes(state, None if name is None else check_name(name),
                                     int_param(request, "limit", 100, 1, 1000))
    prompts = {p.name: p for p in await registry.all()}
    actor = _actor(caller)
    data = [{**c.to_dict(),
             "you_may_approve": c.name in prompts and registry.may_approve(prompts[c.name], c, actor)}
            for c in changes]
    return json_response({"object": "list", "data": data})


async def get_change(request: Request) -> Response:
    caller = await authenticate(request, "prompts.read")
    registry = _registry(request)
    change = await registry.change(_change_id(request))
    prompt = await registry.get(change.name)
    return json_response({**change.to_dict(), "diff": await registry.diff(change),
                          "you_may_approve": registry.may_approve(prompt, change, _actor(caller))})


async def approve_change(request: Request) -> Response:
    caller = await authenticate(request, "prompts.approve")
    await _body(request, (), empty_ok=True)
    change = await _registry(request).approve(_actor(caller), _change_id(request))
    _forget(request, change.name)
    return json_response(change.to_dict())


async def reject_change(request: Request) -> Response:
    caller = await authenticate(request, "prompts.approve")
    data = await _body(request, ("reason",), empty_ok=True)
    change = await _registry(request).reject(_actor(caller), _change_id(request),
                                             check_note(data.get("reason"), "reason"))
    return json_response(change.to_dict())


ROUTES = [
    Route("/admin/prompts", list_prompts, methods=["GET"]),
    Route("/admin/prompts", create_prompt, methods=["POST"]),
    Route("/admin/prompts/{name}", get_prompt, methods=["GET"]),
    Route("/admin/prompts/{name}/versions", add_version, methods=["POST"]),
    Route("/admin/prompts/{name}/versions/{version}", get_version, methods=["GET"]),
    Route("/admin/prompts/{name}/labels/{label}", move_label, methods=["POST"]),
    Route("/admin/prompt-changes", list_changes, methods=["GET"]),
    Route("/admin/prompt-changes/{change_id}", get_change, methods=["GET"]),
    Route("/admin/prompt-changes/{change_id}/approve", approve_change, methods=["POST"]),
    Route("/admin/prompt-changes/{change_id}/reject", reject_change, methods=["POST"]),
]
