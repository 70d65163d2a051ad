"""``POST /v1/feedback`` (inference scope): a user's verdict on an answer.

Body: ``response_id`` (the chat completion's ``id``) or ``request_id`` (the echoed
``x-request-id``), plus at least one of ``rating`` (``"up"``/``"down"``), ``score`` (0..1),
``comment``, ``correction``. Stored with the caller's key id and team; answers 201 with
the stored feedback. Unknown ids are accepted (request records are written behind); an
id whose record belongs to another team is a 404, so no team can score another's answers.

A ``category`` (``harmful``, ``wrong`` or ``data_leak``) makes the feedback a report: it opens
an incident for the request, or adds to the one already open (docs/incidents.md), and the
answer carries it under ``incident``. ``severity`` (low, medium, high) may raise the category's
default (harmful and data_leak: high, which escalates; wrong: low). A report alone needs no
rating: it counts as ``"down"``. Any other field is a 400 naming it, so a misspelt option
(``coment``) is never dropped unseen.

A comment or correction is free text from the same user who wrote the prompt, so it is
stored under the same privacy policy as the request it names: redacted whenever that
route's policy is on. When the request's record is not written yet (or the id is
unknown), the strictest policy of any route applies.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate, read_body
from corral.api.params import int_param, since_param, text_param
from corral.api.responses import json_response
from corral.api.wire import parse_json_object, refuse_unknown_fields
from corral.core.context import Caller
from corral.core.errors import InvalidRequest, NotFound
from corral.incidents.report import report_fields, reported
from corral.incidents.store import Report
from corral.incidents.wiring import file_report
from corral.observe import queries
from corral.observe.quality.feedback import (
    RATINGS,
    Feedback,
    FeedbackStore,
    feedback_from_payload,
    request_id_from_response_id,
)

MAX_BODY_BYTES = 128 * 1024
_LIST_PARAMS = ("request_id", "team", "rating", "since", "limit")
#: What a ``POST /v1/feedback`` body may hold (the module docstring says what each means).
_FIELDS = ("response_id", "request_id", "rating", "score", "comment", "correction", "category", "severity")


async def list_feedback(request: Request) -> Response:
    """``GET /admin/feedback`` (records.read): what ``POST /v1/feedback`` stored, newest first;
    ``request_id`` (or a response id), ``team``, ``rating`` (up/down), ``since``, ``limit``.
    Comments and corrections are as stored: redacted where the request's route redacts."""
    await authenticate(request, "records.read")
    unknown = sorted(set(request.query_params) - set(_LIST_PARAMS))
    if unknown:
        raise InvalidRequest(f"Unknown query parameter(s): {', '.join(unknown)}; this list takes "
                             f"{', '.join(_LIST_PARAMS)}.", param=unknown[0])
    rating = text_param(request, "rating")
    if rating is not None and rating not in RATINGS:
        raise InvalidRequest("'rating' must be 'up' or 'down'.", param="rating")
    items = await FeedbackStore(request.app.state.gateway.db).list(
        request_id=text_param(request, "request_id"), team=text_param(request, "team"), rating=rating,
        since=since_param(request), limit=int_param(request, "limit", 100, 1, FeedbackStore.MAX_LIMIT))
    return json_response({"object": "list", "data": [item.to_dict() for item in items]})


async def create_feedback(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
    refuse_unknown_fields(data, _FIELDS)
    category, severity = report_fields(data)
    item = feedback_from_payload(data, key_id=caller.key_id, team=caller.team)
    gateway = request.app.state.gateway
    request_id = item.request_id or request_id_from_response_id(item.response_id or "")
    record = await queries.get(gateway.db, request_id)
    if record is not None and record["team"] != caller.team:
        param = "request_id" if item.request_id else "response_id"
        raise NotFound(f"No request '{request_id}' was made by your team; feedback names one of "
                       "your own answers (its 'id', or the 'x-request-id' header).", param=param)
    item = await _private(gateway, caller, item, record)
    stored = await FeedbackStore(request.app.state.gateway.db).add(item)
    body = {"object": "feedback", **stored.to_dict()}
    if category is not None:
        attached = await file_report(gateway, Report(
            category=category, severity=severity, request_id=request_id, response_id=item.response_id,
            reporter_key_id=caller.key_id, team=caller.team, record=record, text=item.comment))
        body["incident"] = reported(attached)
    return json_response(body, status_code=201)


async def _private(gateway: Any, caller: Caller, item: Feedback, record: dict[str, Any] | None) -> Feedback:
    """The feedback with its free text as the named request's privacy policy allows storing."""
    privacy = gateway.privacy
    texts = [t for t in (item.comment, item.correction) if t]
    if privacy is None or not texts:
        return item
    if record is not None:
        policy = privacy.policy_for(record["route"], caller)
    else:
        policy = privacy.strictest_policy(list(gateway.routes.routes), caller)
    safe = iter(await privacy.storable(policy, texts))
    comment = next(safe) if item.comment else item.comment
    correction = next(safe) if item.correction else item.correction
    return dataclasses.replace(item, comment=comment, correction=correction)
