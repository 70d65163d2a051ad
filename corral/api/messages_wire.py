"""Anthropic Messages API request parsing: wire JSON -> canonical `ChatRequest`.

An Anthropic-SDK client reaches any route this way (OpenAI, Gemini, the local model), and
what it sends runs through the same lifecycle as a chat completion: privacy, cache, limits,
records. Every field is either mapped to its canonical meaning, kept in `ChatRequest.extra`
for the provider that understands it (`top_k`, `thinking`: forwarded to Anthropic and
OpenAI-compatible deployments, refused with a 400 naming them elsewhere), or refused with a
400 that says why. Nothing is dropped silently. `cache_control` marks (prompt-cache breakpoints)
ride on the canonical parts, tools and tool calls they were on (`CacheMark`): written back on the
same blocks for Anthropic deployments, left out by providers that cache on their own
(docs/anthropic.md).
"""

from __future__ import annotations

from typing import Any, TypeGuard

import orjson

from corral.api.cache_marks import cache_mark
from corral.api.wire import parse_json_object, refuse_unknown_fields
from corral.core.errors import InvalidRequest, UnsupportedParameter
from corral.core.types import (
    CacheMark,
    ChatRequest,
    ContentPart,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
)
from corral.providers._anthropic_cache import check_cache_marks

# Fields of `POST /v1/messages`, as Anthropic documents them, that Corral serves.
FIELDS = ("model", "messages", "max_tokens", "system", "stream", "temperature", "top_p", "top_k",
          "stop_sequences", "metadata", "tools", "tool_choice", "thinking", "output_config",
          "service_tier")
COUNT_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "output_config")
# Anthropic features Corral cannot run through its lifecycle (server-side tools and state).
_REFUSED = {
    "container": "code-execution containers",
    "mcp_servers": "MCP servers called by the provider",
    "context_management": "server-side context management",
}
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_STOP_SEQUENCES = 16


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def parse_messages_request(body: bytes, *, counting: bool = False) -> ChatRequest:
    """The canonical request for a Messages API body; `counting`: the count_tokens subset."""
    data = parse_json_object(body)  # bounds the nesting of everything, tool inputs included
    for name, what in _REFUSED.items():
        if name in data:
            raise UnsupportedParameter(f"'{name}' ({what}) is not supported by Corral; remove it.",
                                       param=name)
    refuse_unknown_fields(data, COUNT_FIELDS if counting else FIELDS)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required: the name of a model this gateway serves (GET /v1/models).",
                   "model")
    messages = _system(data.get("system")) + _turns(data.get("messages"))
    request = ChatRequest(model=model, messages=messages)
    if not counting:
        _sampling(data, request)
    tools = data.get("tools")
    if tools is not None:
        request.tools = _tools(tools)
    if data.get("tool_choice") is not None:
        request.tool_choice, request.parallel_tool_calls = _tool_choice(data["tool_choice"], bool(tools))
    if data.get("thinking") is not None:
        request.extra["thinking"] = _thinking(data["thinking"])
    if data.get("output_config") is not None:
        request.response_format = _output_format(data["output_config"])
    check_cache_marks(request)  # at most 4, longer TTLs first: Anthropic's rules, said here as a 400
    return request


def _sampling(data: dict[str, Any], request: ChatRequest) -> None:
    max_tokens = data.get("max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise _bad("'max_tokens' is required: the most tokens the answer may have (at least 1).",
                   "max_tokens")
    request.max_tokens = max_tokens
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("'stream' must be true or false.", "stream")
    request.stream = request.include_usage = stream  # the final message_delta carries usage
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= high:
            raise _bad(f"'{name}' must be a number between 0 and {high:g}.", name)
        setattr(request, name, float(value))
    top_k = data.get("top_k")
    if top_k is not None:
        if not _is_int(top_k) or top_k < 0:
            raise _bad("'top_k' must be a non-negative integer.", "top_k")
        request.extra["top_k"] = top_k
    stops = data.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise _bad("'stop_sequences' must be a list of non-empty strings.", "stop_sequences")
        if len(stops) > MAX_STOP_SEQUENCES:
            raise _bad(f"'stop_sequences' accepts at most {MAX_STOP_SEQUENCES} entries.", "stop_sequences")
        request.stop = stops or None
    metadata = data.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _bad("'metadata' must be an object.", "metadata")
        refuse_unknown_fields(metadata, ("user_id",))
        user = metadata.get("user_id")
        if user is not None and (not isinstance(user, str) or len(user) > 256):
            raise _bad("'metadata.user_id' must be a string of at most 256 characters.", "metadata.user_id")
        request.user = user
    tier = data.get("service_tier")
    if tier is not None:
        if tier not in ("auto", "standard_only"):
            raise _bad("'service_tier' must be 'auto' or 'standard_only'.", "service_tier")
        request.extra["service_tier"] = tier


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _system(value: Any) -> list[Message]:
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("system", value)] if value else []
    if not isinstance(value, list):
        raise _bad("'system' must be a string or a list of text blocks.", "system")
    parts: list[ContentPart] = []
    for i, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(
                block.get("text"), str):
            raise _bad("'system' blocks must be text blocks: {\"type\": \"text\", \"text\": \"...\"}.",
                       f"system[{i}]")
        parts.append(TextPart(block["text"], cache=_mark(block, f"system[{i}]")))
    if not parts:
        return []
    if all(p.cache is None for p in parts):
        return [Message("system", "\n\n".join(p.text for p in parts if isinstance(p, TextPart)))]
    # Marked blocks stay blocks (Anthropic caches up to the marked one); the blank line that
    # joins them is a part of its own, so every other provider reads the same text as before
    # (the Anthropic adapter leaves whitespace-only system parts out: Anthropic refuses them).
    joined: list[ContentPart] = []
    for p in parts:
        joined += [TextPart("\n\n"), p] if joined else [p]
    return [Message("system", joined)]


def _turns(value: Any) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise _bad("'messages' must be a non-empty list of user and assistant turns.", "messages")
    out: list[Message] = []
    for i, turn in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(turn, dict):
            raise _bad(f"{where} must be an object with 'role' and 'content'.", where)
        refuse_unknown_fields(turn, ("role", "content"))
        role = turn.get("role")
        if role not in ("user", "assistant"):
            raise _bad(f"{where}.role must be 'user' or 'assistant' (the system prompt goes in 'system').",
                       f"{where}.role")
        content = turn.get("content")
        if isinstance(content, str):
            out.append(Message(role, content))
        elif isinstance(content, list):
            out.extend(_assistant(content, where) if role == "assistant" else _user(content, where))
        else:
            raise _bad(f"{where}.content must be a string or a list of content blocks.", f"{where}.content")
    return out


def _user(blocks: list[Any], where: str) -> list[Message]:
    """A user turn: tool results become `tool` messages, in order; the rest one user message."""
    out: list[Message] = []
    parts: list[ContentPart] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = _kind(block, at)
        if kind == "tool_result":
            if parts:
                out.append(Message("user", parts))
                parts = []
            out.append(_tool_result(block, at))
        else:
            parts.append(_part(block, kind, at))
    if parts:
        out.append(Message("user", parts))
    return out


def _assistant(blocks: list[Any], where: str) -> list[Message]:
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    reasoning: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = _kind(block, at)
        if kind == "tool_use":
            calls.append(_tool_use(block, at))
        elif kind in ("thinking", "redacted_thinking"):
            reasoning.append(_reasoning(block, kind, at))
        elif kind == "text":
            parts.append(_part(block, kind, at))
        else:
            raise _bad(f"{at}: an assistant turn holds text, tool_use and thinking blocks, not '{kind}'.", at)
    content: str | list[ContentPart] | None = "".join(p.text for p in parts if isinstance(p, TextPart))
    if any(p.cache is not None for p in parts):
        content = parts  # a marked block stays a block
    return [Message("assistant", content or None, tool_calls=calls or None, reasoning=reasoning or None)]


def _reasoning(block: dict[str, Any], kind: str, at: str) -> dict[str, Any]:
    """Earlier thinking, kept as written: Anthropic checks its signature when it comes back."""
    if block.get("cache_control") is not None:
        raise _bad(f"{at}: thinking blocks cannot carry 'cache_control' (Anthropic caches them with "
                   "the turn); mark a later block instead.", f"{at}.cache_control")
    if kind == "redacted_thinking":
        if not isinstance(block.get("data"), str):
            raise _bad(f"{at}: a redacted_thinking block needs 'data'.", f"{at}.data")
        return {"type": kind, "data": block["data"]}
    if not isinstance(block.get("thinking"), str) or not isinstance(block.get("signature"), str):
        raise _bad(f"{at}: a thinking block needs 'thinking' and 'signature'.", at)
    return {"type": kind, "thinking": block["thinking"], "signature": block["signature"]}


def _mark(block: dict[str, Any], at: str) -> CacheMark | None:
    """A block's `cache_control` (corral.api.cache_marks)."""
    return cache_mark(block.get("cache_control"), f"{at}.cache_control")


def _kind(block: Any, at: str) -> str:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise _bad(f"{at} must be a content block object with a 'type'.", at)
    return str(block["type"])


def _part(block: dict[str, Any], kind: str, at: str) -> ContentPart:
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise _bad(f"{at}.text must be a string.", f"{at}.text")
        return TextPart(block["text"], cache=_mark(block, at))
    if kind == "image":
        image = _image(block.get("source"), at)
        image.cache = _mark(block, at)
        return image
    if kind in ("document", "search_result", "container_upload"):
        raise UnsupportedParameter(f"{at}: '{kind}' blocks are not supported by Corral yet; send the "
                                   "text (or images) instead.", param=at)
    raise _bad(f"{at}: unknown content block type '{kind[:40]}'; Corral reads text, image, tool_use, "
               "tool_result and thinking blocks.", at)


def _image(source: Any, at: str) -> ImagePart:
    if not isinstance(source, dict):
        raise _bad(f"{at}.source must be an object (type base64 or url).", f"{at}.source")
    if source.get("type") == "base64":
        media, data = source.get("media_type"), source.get("data")
        if media not in _IMAGE_TYPES or not isinstance(data, str) or not data:
            raise _bad(f"{at}.source: a base64 image needs 'media_type' (one of {', '.join(_IMAGE_TYPES)}) "
                       "and 'data'.", f"{at}.source")
        return ImagePart(f"data:{media};base64,{data}")
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        if not source["url"].startswith(("https://", "http://")):
            raise _bad(f"{at}.source.url must be an http(s) URL.", f"{at}.source.url")
        return ImagePart(source["url"])
    raise UnsupportedParameter(f"{at}.source: images are read from base64 data or a URL; file ids are not "
                               "supported by Corral.", param=f"{at}.source")


def _tool_use(block: dict[str, Any], at: str) -> ToolCall:
    ident, name, args = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(ident, str) or not ident or not isinstance(name, str) or not name:
        raise _bad(f"{at}: a tool_use block needs 'id' and 'name'.", at)
    if not isinstance(args, dict):
        raise _bad(f"{at}.input must be an object.", f"{at}.input")
    return ToolCall(ident, name, orjson.dumps(args).decode(), cache=_mark(block, at))


def _tool_result(block: dict[str, Any], at: str) -> Message:
    ident = block.get("tool_use_id")
    if not isinstance(ident, str) or not ident:
        raise _bad(f"{at}: a tool_result block needs 'tool_use_id'.", f"{at}.tool_use_id")
    content = block.get("content")
    parts: str | list[ContentPart]
    if content is None or isinstance(content, str):
        parts = content or ""
    elif isinstance(content, list):
        parts = []
        for k, b in enumerate(content):
            parts.append(_part(b, _kind(b, f"{at}.content[{k}]"), f"{at}.content[{k}]"))
    else:
        raise _bad(f"{at}.content must be a string or a list of text and image blocks.", f"{at}.content")
    if block.get("is_error") is True:  # no canonical flag: the tool's failure is said in its text
        prefix = TextPart("Error: ")
        parts = f"Error: {parts}" if isinstance(parts, str) else [prefix, *parts]
    return Message("tool", parts, tool_call_id=ident, cache=_mark(block, at))


def _tools(value: Any) -> list[Tool]:
    if not isinstance(value, list):
        raise _bad("'tools' must be a list of tool definitions.", "tools")
    tools = []
    for i, tool in enumerate(value):
        at = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _bad(f"{at} must be an object.", at)
        kind = tool.get("type", "custom")
        if kind != "custom":
            raise UnsupportedParameter(f"{at}: server tool '{str(kind)[:60]}' runs at Anthropic and is not "
                                       "supported by Corral; define a custom tool instead.", param=at)
        name, schema = tool.get("name"), tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise _bad(f"{at}.name is required.", f"{at}.name")
        if not isinstance(schema, dict):
            raise _bad(f"{at}.input_schema must be a JSON Schema object.", f"{at}.input_schema")
        description = tool.get("description")
        strict = tool.get("strict")
        tools.append(Tool(name, description if isinstance(description, str) else None, schema,
                          strict if isinstance(strict, bool) else None, cache=_mark(tool, at)))
    return tools


def _tool_choice(value: Any, has_tools: bool) -> tuple[str | dict[str, Any], bool | None]:
    if not isinstance(value, dict):
        raise _bad("'tool_choice' must be an object such as {\"type\": \"auto\"}.", "tool_choice")
    kind = value.get("type")
    parallel = False if value.get("disable_parallel_tool_use") is True else None
    if kind == "auto":
        return "auto", parallel
    if kind == "none":
        return "none", None
    if not has_tools:
        raise _bad("'tool_choice' requires 'tools'.", "tool_choice")
    if kind == "any":
        return "required", parallel
    if kind == "tool" and isinstance(value.get("name"), str):
        return {"type": "function", "function": {"name": value["name"]}}, parallel
    raise _bad("'tool_choice.type' must be auto, any, tool (with 'name') or none.", "tool_choice")


def _thinking(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in ("enabled", "disabled", "adaptive"):
        raise _bad("'thinking' must be {\"type\": \"enabled\", \"budget_tokens\": N}, "
                   "{\"type\": \"adaptive\"} or {\"type\": \"disabled\"}.", "thinking")
    if value["type"] == "enabled":
        budget = value.get("budget_tokens")
        if not _is_int(budget) or budget < 1024:
            raise _bad("'thinking.budget_tokens' must be an integer of at least 1024.",
                       "thinking.budget_tokens")
    return value


def _output_format(value: Any) -> dict[str, Any] | None:
    """`output_config.format` (structured outputs) -> OpenAI's json_schema response format."""
    if not isinstance(value, dict):
        raise _bad("'output_config' must be an object.", "output_config")
    refuse_unknown_fields(value, ("format",))
    fmt = value.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(
            fmt.get("schema"), dict):
        raise _bad("'output_config.format' must be {\"type\": \"json_schema\", \"schema\": {...}}.",
                   "output_config.format")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"]}}
