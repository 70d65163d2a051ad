"""Small translation helpers shared by adapters whose wire formats differ from OpenAI's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from corral.core.errors import InvalidRequest
from corral.core.json_limits import JsonTooDeep, check_depth, could_exceed
from corral.core.types import ContentPart, TextPart, ToolCall


def tool_arguments_object(call: ToolCall, vendor: str) -> dict[str, Any]:
    """OpenAI carries tool-call arguments as JSON text; Anthropic and Gemini need an object."""
    if not call.arguments.strip():
        return {}
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"Arguments of tool call '{call.id}' are not a JSON object; {vendor} needs one.",
            param="messages",
        )
    if could_exceed(call.arguments):  # the object is re-serialized inside the vendor's body
        try:
            check_depth(value)
        except JsonTooDeep as exc:
            raise InvalidRequest(
                f"Arguments of tool call '{call.id}' nest deeper than {exc.limit} levels.",
                param="messages",
            ) from None
    return value


def unsupported_image_url(url: str) -> InvalidRequest:
    return InvalidRequest(
        f"Unsupported image URL scheme in {url[:40]!r}; use https:// or a base64 data: URL.",
        param="messages",
    )


def text_and_image_parts(content: str | list[ContentPart] | None,
                         image: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Content as `{"text": ...}` parts (empty ones left out) and `image(url)` parts: the
    shape Gemini and Bedrock's Converse share, each with its own image part."""
    if isinstance(content, str):
        return [{"text": content}] if content else []
    out: list[dict[str, Any]] = []
    for p in content or []:
        if isinstance(p, TextPart):
            if p.text:
                out.append({"text": p.text})
        else:
            out.append(image(p.url))
    return out
