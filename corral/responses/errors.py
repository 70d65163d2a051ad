"""The Responses API's errors, as branches of Corral's tree (core/errors.py), so the edge
renders them as OpenAI error bodies with no mapping of its own."""

from __future__ import annotations

from corral.core.errors import InvalidRequest, NotFound


class ResponseNotFound(NotFound):
    """Missing, deleted, never stored (`store: false`) or another team's: one answer, so
    nothing tells a caller that another team's response exists."""

    openai_type = "invalid_request_error"

    def __init__(self, response_id: str, *, param: str | None = None) -> None:
        super().__init__(f"Response with id '{response_id[:80]}' not found.", param=param)


class BackgroundUnavailable(InvalidRequest):
    code = "unsupported_parameter"

    def __init__(self) -> None:
        super().__init__("Background mode is not available yet on this gateway; send the request "
                         "without 'background' (it runs in the foreground).", param="background")
