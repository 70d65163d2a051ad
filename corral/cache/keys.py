"""Exact-cache keys: a SHA-256 of what a request asks the model, and nothing else.

Two requests share a key only when a model would see the same thing: the public model
(aliases resolved by the caller), the messages and every sampling or output parameter,
and when they come from the same scope (team and end user, given by the caller: an
answer never crosses teams). How the answer travels (``stream``, ``include_usage``) is
left out, so a streamed and a non-streamed request can share an answer. Numbers are
normalised (``temperature=1`` equals ``1.0``) and dict keys sorted, so the key is stable
across processes and releases; bump :data:`KEY_VERSION` when the recipe changes.

Prompt-cache marks (Anthropic's ``cache_control``, ``CacheMark``) are left out: they change what
the provider stores and bills, never the answer, so a marked request shares the unmarked one's
key. A marked system or assistant message arrives as parts where the unmarked one is a string
(corral/api/messages_wire.py); it is keyed as that string, so marks never split a key.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from corral.core.types import ChatRequest, ImagePart, Message, TextPart, Tool

KEY_VERSION = "exact-v2"  # v2: scoped by team and end user


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _content(content: str | list[TextPart | ImagePart] | None) -> Any:
    if content is None or isinstance(content, str):
        return content
    return [
        {"type": "text", "text": p.text} if isinstance(p, TextPart)
        else {"type": "image", "url": p.url, "detail": p.detail}
        for p in content
    ]


def _message(m: Message) -> dict[str, Any]:
    content = m.content
    if isinstance(content, list) and m.role in ("system", "assistant") and any(
            p.cache is not None for p in content):
        content = m.text()  # as the request without marks would have it (see the module docstring)
    out = {
        "role": m.role,
        "content": _content(content),
        "name": m.name,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls]
        if m.tool_calls is not None else None,
        "tool_call_id": m.tool_call_id,
    }
    if m.reasoning:  # only when present, so the keys of every other request stay as they were
        out["reasoning"] = m.reasoning
    return out


def _tool(t: Tool) -> dict[str, Any]:
    return {"name": t.name, "description": t.description, "parameters": t.parameters, "strict": t.strict}


def canonical_request(request: ChatRequest, public_model: str | None = None,
                      scope: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's semantic content as plain JSON data (``public_model`` replaces ``model``)."""
    return {
        "v": KEY_VERSION,
        "scope": list(scope),
        "model": public_model or request.model,
        "messages": [_message(m) for m in request.messages],
        "temperature": _float(request.temperature),
        "top_p": _float(request.top_p),
        "max_tokens": request.max_tokens,
        "stop": request.stop,
        "seed": request.seed,
        "tools": [_tool(t) for t in request.tools] if request.tools is not None else None,
        "tool_choice": request.tool_choice,
        # Not in the original list, but it changes which answers are valid with tools.
        "parallel_tool_calls": request.parallel_tool_calls,
        "response_format": request.response_format,
        "extra": request.extra,
    }


def cache_key(request: ChatRequest, public_model: str | None = None, *,
              scope: tuple[str, ...] = ()) -> str:
    """Hex SHA-256 of :func:`canonical_request` serialised with sorted keys."""
    payload = orjson.dumps(
        canonical_request(request, public_model, scope),
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=repr,  # an exotic value in `extra` must not make hashing fail
    )
    return hashlib.sha256(payload).hexdigest()
