"""Administration API for personal-data detection: ``POST /admin/pii/scan``.

Lets operators try the detector on sample text before enabling a policy. Values are
left out of the answer unless the caller asks with ``"show_values": true``: responses
of admin tools get logged and pasted like anything else.
"""

from __future__ import annotations

from collections import Counter

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate, read_body
from corral.api.responses import json_response
from corral.api.wire import parse_json_object, refuse_unknown_fields
from corral.core.errors import InvalidRequest
from corral.privacy.offload import off_loop
from corral.privacy.redact import ShowValues, span_report
from corral.privacy.stage import load_default_detector
from corral.privacy.types import Detector, Span

MAX_SCAN_BYTES = 1024 * 1024

_default: Detector | None = None


def _detector(request: Request) -> Detector:
    """The gateway's detector (shared with the privacy stage), else one loaded once here."""
    global _default
    shared: Detector | None = getattr(request.app.state.gateway, "pii_detector", None)
    if shared is not None:
        return shared
    if _default is None:
        _default = load_default_detector()
    return _default


async def scan_text(request: Request) -> Response:
    """``{"text": ..., "show_values": false}`` -> the spans found, sorted by offset."""
    await authenticate(request, "config.read")
    data = parse_json_object(await read_body(request, MAX_SCAN_BYTES))
    refuse_unknown_fields(data, ("text", "show_values"))
    text = data.get("text")
    if not isinstance(text, str):
        raise InvalidRequest("'text' is required: the string to scan.", param="text")
    show_values = data.get("show_values", False)
    if not isinstance(show_values, bool):
        raise InvalidRequest("'show_values' must be true or false.", param="show_values")
    detector = _detector(request)
    found: list[Span] = await off_loop(detector.detect, text)  # like the stage: never on the loop
    spans = sorted(found, key=lambda s: (s.start, s.end))
    values: ShowValues = "raw" if show_values else "none"
    return json_response({
        "object": "list",
        "data": [span_report(s, text, values) for s in spans],
        "entities": dict(Counter(s.entity for s in spans)),
    })
