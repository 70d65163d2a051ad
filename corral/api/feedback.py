"""``POST /v1/feedback`` (inference scope): a user's verdict on an answer.

Body: ``response_id`` (the chat completion's ``id``) or ``request_id`` (the echoed
``x-request-id``), plus at least one of ``rating`` (``"up"``/``"down"``), ``score`` (0..1),
``comment``, ``correction``. Stored with the caller's key id and team; answers 201 with
the stored feedback. Unknown ids are accepted (request records are written behind).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate, read_body
from corral.api.responses import json_response
from corral.api.wire import parse_json_object
from corral.observe.quality.feedback import FeedbackStore, feedback_from_payload

MAX_BODY_BYTES = 128 * 1024


async def create_feedback(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
    item = feedback_from_payload(data, key_id=caller.key_id, team=caller.team)
    stored = await FeedbackStore(request.app.state.gateway.db).add(item)
    return json_response({"object": "feedback", **stored.to_dict()}, status_code=201)
