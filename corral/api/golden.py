"""Golden examples admin API (admin scope).

``GET /admin/golden[?route=]`` lists, ``POST /admin/golden`` with ``{"route", "question",
"answer"}`` adds (201), ``DELETE /admin/golden/{golden_id}`` removes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate, read_body
from corral.api.params import text_param
from corral.api.responses import json_response
from corral.api.wire import parse_json_object, refuse_unknown_fields
from corral.core.errors import InvalidRequest, NotFound
from corral.observe.quality.golden import GoldenStore, validate_golden

MAX_BODY_BYTES = 128 * 1024


async def list_golden(request: Request) -> Response:
    await authenticate(request, "golden.manage")
    route = text_param(request, "route")
    examples = await GoldenStore(request.app.state.gateway.db).list(route)
    return json_response({"object": "list", "data": [e.to_dict() for e in examples]})


async def create_golden(request: Request) -> Response:
    await authenticate(request, "golden.manage")
    data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
    refuse_unknown_fields(data, ("route", "question", "answer"))
    try:
        example = validate_golden(data.get("route"), data.get("question"), data.get("answer"))
    except ValueError as exc:
        param, _, message = str(exc).partition(": ")
        raise InvalidRequest(message, param=param) from None
    stored = await GoldenStore(request.app.state.gateway.db).add(example)
    return json_response(stored.to_dict(), status_code=201)


async def delete_golden(request: Request) -> Response:
    await authenticate(request, "golden.manage")
    raw = request.path_params["golden_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise InvalidRequest(f"'golden_id' must be a whole number; got {raw[:40]!r}.", param="golden_id")
    if not await GoldenStore(request.app.state.gateway.db).remove(int(raw)):
        raise NotFound(f"No golden example with id {raw}. List them with GET /admin/golden.")
    return json_response({"id": int(raw), "object": "golden_example", "deleted": True})
