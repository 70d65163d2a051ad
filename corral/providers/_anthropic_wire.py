"""Pure translation between Corral's canonical types and Anthropic's Messages API.

No I/O here, so every mapping is unit-testable with plain dicts; the provider class in
`corral.providers.anthropic` only sends what these functions build and parses replies
with them.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from corral.core.errors import InvalidRequest, UnsupportedParameter, UpstreamBadResponse
from corral.core.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    FinishReason,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)
from corral.providers._anthropic_cache import check_cache_marks, marked
from corral.providers._translate import tool_arguments_object, unsupported_image_url

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Messages API parameters with no canonical meaning, sent as they came when a request carries
# them (an Anthropic-SDK client's, through POST /v1/messages; an OpenAI client's extra_body).
NATIVE_PARAMS = frozenset({"top_k", "thinking", "service_tier"})

# Anthropic only accepts tool ids matching ^[a-zA-Z0-9_-]+$; ids minted by other
# providers (after a fallback) are rewritten the same way on tool_use and tool_result.
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")


# HTTP status Anthropic documents for each error type; used for mid-stream error events,
# which arrive after a 200 and so carry no status of their own.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def check_request(
    request: ChatRequest, *, structured_outputs: bool = False, where: str = "Anthropic"
) -> None:
    """Raise UnsupportedParameter for what the Messages API cannot honour faithfully."""
    if request.seed is not None:
        raise UnsupportedParameter(
            f"'seed' is not supported by {where}: the Messages API has no deterministic "
            "sampling option. Remove 'seed' or route to a provider that supports it.",
            param="seed",
        )
    rf_type = (request.response_format or {}).get("type", "text")
    if rf_type != "text" and not (structured_outputs and rf_type == "json_schema"):
        hint = (
            "enable the provider option 'structured_outputs' (models with Anthropic "
            "structured outputs only) and send a json_schema, or "
            if rf_type == "json_schema" else ""
        )
        raise UnsupportedParameter(
            f"response_format '{rf_type}' is not supported by {where}; {hint}describe the "
            "JSON you want in the prompt or use a tool.",
            param="response_format",
        )
    if rf_type == "json_schema":
        schema = ((request.response_format or {}).get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequest(
                "response_format json_schema needs a 'json_schema.schema' object.",
                param="response_format",
            )
    if request.temperature is not None and request.temperature > 1:
        raise UnsupportedParameter(
            f"temperature {request.temperature} is out of range for {where}, which accepts "
            "0 to 1; lower it.",
            param="temperature",
        )
    check_cache_marks(request)


def request_body(
    request: ChatRequest,
    *,
    stream: bool,
    default_max_tokens: int = 4096,
    structured_outputs: bool = False,
) -> dict[str, Any]:
    """Canonical request -> Messages API JSON. Raises 400s for what cannot be translated."""
    check_request(request, structured_outputs=structured_outputs)
    system, messages = messages_wire(request.messages)
    max_tokens = request.max_tokens if request.max_tokens is not None else default_max_tokens
    body: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens, "messages": messages}
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.tools:
        body["tools"] = [_tool_wire(t, strict=structured_outputs) for t in request.tools]
        choice = tool_choice_wire(request.tool_choice, request.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
    rf = request.response_format or {}
    if rf.get("type") == "json_schema":
        body["output_config"] = {
            "format": {"type": "json_schema", "schema": rf["json_schema"]["schema"]}
        }
    for name in NATIVE_PARAMS & request.extra.keys():
        body[name] = request.extra[name]
    if stream:
        body["stream"] = True
    return body


def messages_wire(messages: list[Message]) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    """Split out the system prompt and merge same-role turns, as Anthropic requires. The system
    prompt is one string, or its text blocks when one carries a prompt-cache mark."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role in ("system", "developer"):
            if isinstance(m.content, list) and any(isinstance(p, ImagePart) for p in m.content):
                raise UnsupportedParameter(
                    "Anthropic system prompts are text only; move images to a user message.",
                    param="messages",
                )
            system += _system_blocks(m)
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m)
        if not blocks:
            continue  # Anthropic rejects empty turns; an empty message carries nothing
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if any("cache_control" in b for b in system):
        return system, out
    return "\n\n".join(b["text"] for b in system), out


def _system_blocks(m: Message) -> list[dict[str, Any]]:
    """A system message's text blocks: one per part when a part is marked (whitespace-only parts,
    such as the blank line joining a client's blocks, are left out: Anthropic refuses them)."""
    if isinstance(m.content, list) and any(p.cache is not None for p in m.content):
        return [marked({"type": "text", "text": p.text}, p.cache)
                for p in m.content if isinstance(p, TextPart) and p.text.strip()]
    text = m.text()
    return [{"type": "text", "text": text}] if text else []


def _blocks(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        if not m.tool_call_id:
            raise InvalidRequest("A 'tool' message needs 'tool_call_id'.", param="messages")
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_id(m.tool_call_id)}
        if isinstance(m.content, str) and m.content:
            block["content"] = m.content
        elif isinstance(m.content, list) and m.content:
            block["content"] = _parts_wire(m.content)
        return [marked(block, m.cache)]
    blocks: list[dict[str, Any]] = [dict(b) for b in m.reasoning or ()]  # thinking comes first
    if isinstance(m.content, str):
        if m.content:
            blocks.append({"type": "text", "text": m.content})
    elif m.content:
        blocks.extend(_parts_wire(m.content))
    for call in m.tool_calls or []:
        blocks.append(marked({
            "type": "tool_use",
            "id": safe_id(call.id),
            "name": call.name,
            "input": tool_arguments_object(call, "Anthropic"),
        }, call.cache))
    return blocks


def _parts_wire(parts: list[ContentPart]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            if p.text:
                out.append(marked({"type": "text", "text": p.text}, p.cache))
        else:
            out.append(marked(image_block(p.url), p.cache))
    return out


def image_block(url: str) -> dict[str, Any]:
    """data: URLs become base64 sources, http(s) URLs url sources; nothing else exists."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        params = header.split(";")
        if not sep or params[-1] != "base64" or "/" not in params[0]:
            raise InvalidRequest(
                "Image data URLs must look like 'data:image/png;base64,...'.", param="messages"
            )
        return {"type": "image", "source": {"type": "base64", "media_type": params[0], "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise unsupported_image_url(url)




def safe_id(tool_id: str) -> str:
    return _UNSAFE_ID.sub("_", tool_id) or "tool"


def _tool_wire(tool: Tool, *, strict: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": tool.name,
        "input_schema": tool.parameters or {"type": "object", "properties": {}},
    }
    if tool.description:
        out["description"] = tool.description
    if strict and tool.strict:
        out["strict"] = True
    return marked(out, tool.cache)


def tool_choice_wire(
    choice: str | dict[str, Any] | None, parallel: bool | None
) -> dict[str, Any] | None:
    """OpenAI tool_choice -> Anthropic's; parallel_tool_calls=False rides inside it."""
    if choice is None or choice == "auto":
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}  # no disable_parallel_tool_use on this variant
    elif isinstance(choice, dict) and choice.get("type") == "function" and (
        (choice.get("function") or {}).get("name")
    ):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise UnsupportedParameter(
            f"tool_choice {choice!r} cannot be expressed for Anthropic; use 'auto', "
            "'required', 'none' or {'type': 'function', 'function': {'name': ...}}.",
            param="tool_choice",
        )
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    elif choice is None:
        return None  # nothing to say: Anthropic's default is auto
    return out


def parse_usage(raw: dict[str, Any] | None) -> Usage:
    """Anthropic counts cache reads and writes apart from input_tokens; Corral's input includes
    both. Writes are split by TTL (`cache_creation`) when Anthropic says; else all are 5-minute
    writes, the default TTL."""
    raw = raw or {}
    cache_read = raw.get("cache_read_input_tokens") or 0
    split = raw.get("cache_creation")
    split = split if isinstance(split, dict) else {}
    one_hour = split.get("ephemeral_1h_input_tokens") or 0
    writes = raw.get("cache_creation_input_tokens") or (
        (split.get("ephemeral_5m_input_tokens") or 0) + one_hour)
    one_hour = min(one_hour, writes)
    details = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=(raw.get("input_tokens") or 0) + cache_read + writes,
        output_tokens=raw.get("output_tokens") or 0,
        cached_tokens=cache_read,
        reasoning_tokens=details.get("thinking_tokens") or 0,
        cache_write_tokens=writes - one_hour,
        cache_write_1h_tokens=one_hour,
    )


def finish_reason(stop_reason: str | None) -> FinishReason:
    return STOP_REASONS.get(stop_reason or "", "stop")


def parse_response(payload: dict[str, Any], provider: str) -> ChatResponse:
    content = payload.get("content")
    if not isinstance(content, list):
        raise UpstreamBadResponse(
            f"Provider '{provider}' answered without content blocks: {str(payload)[:200]}",
            provider=provider,
        )
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append(ToolCall(
                id=block.get("id", ""),
                name=block.get("name", ""),
                arguments=orjson.dumps(block.get("input") or {}).decode(),
            ))
        elif kind in ("thinking", "redacted_thinking"):
            reasoning.append(block)  # as it came: Anthropic checks the signature when it is sent back
    return ChatResponse(
        id=payload.get("id", ""),
        model=payload.get("model", ""),
        content="".join(texts) if texts else None,
        tool_calls=calls or None,
        finish_reason=finish_reason(payload.get("stop_reason")),
        usage=parse_usage(payload.get("usage")),
        created=int(time.time()),
        reasoning=reasoning or None,
    )
