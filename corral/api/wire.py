"""OpenAI chat-completions request parsing: wire JSON -> canonical `ChatRequest`.

Validation runs through msgspec structs (compiled, microseconds per request), and
every failure becomes a 400 that names the offending field. Parameters Corral has
no canonical meaning for are kept in `ChatRequest.extra`, never dropped: OpenAI-
compatible deployments receive them, others answer with a 400 naming them.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import orjson

from corral.api.cache_marks import cache_mark
from corral.core.errors import InvalidRequest
from corral.core.json_limits import MAX_JSON_DEPTH, JsonTooDeep, check_depth, could_exceed, text_depth
from corral.core.types import CacheMark, ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall
from corral.core.unread import refuse_unread

UNSET: Any = msgspec.UNSET
# The most answers one chat completion may ask for (`n`): each is a request through the lifecycle,
# so n multiplies the prompt's detection, limits and upstream calls (OpenAI allows 128).
MAX_CHOICES = 16


class _TextPart(msgspec.Struct, tag_field="type", tag="text"):
    text: str
    cache_control: Any = None  # Anthropic's prompt-cache mark (corral.api.cache_marks)


class _ImageURL(msgspec.Struct):
    url: str
    detail: str | None = None


class _ImagePart(msgspec.Struct, tag_field="type", tag="image_url"):
    image_url: _ImageURL
    cache_control: Any = None


class _RefusalPart(msgspec.Struct, tag_field="type", tag="refusal"):
    refusal: str


_Content = str | list[_TextPart | _ImagePart | _RefusalPart] | None


class _Function(msgspec.Struct):
    name: str
    arguments: str = ""


class _ToolCall(msgspec.Struct):
    id: str
    function: _Function
    type: Literal["function"] = "function"


class _System(msgspec.Struct, tag_field="role", tag="system"):
    content: _Content
    name: str | None = None
    cache_control: Any = None  # on the message: its last block (as gateways for Anthropic read it)


class _Developer(msgspec.Struct, tag_field="role", tag="developer"):
    content: _Content
    name: str | None = None
    cache_control: Any = None  # on the message: its last block (as gateways for Anthropic read it)


class _User(msgspec.Struct, tag_field="role", tag="user"):
    content: _Content
    name: str | None = None
    cache_control: Any = None  # on the message: its last block (as gateways for Anthropic read it)


class _Assistant(msgspec.Struct, tag_field="role", tag="assistant"):
    content: _Content = None
    name: str | None = None
    tool_calls: list[_ToolCall] | None = None
    refusal: str | None = None
    cache_control: Any = None


class _ToolMessage(msgspec.Struct, tag_field="role", tag="tool"):
    content: _Content
    tool_call_id: str
    cache_control: Any = None


class _FunctionDef(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _ToolDef(msgspec.Struct):
    function: _FunctionDef
    type: Literal["function"] = "function"
    cache_control: Any = None


class _StreamOptions(msgspec.Struct):
    include_usage: bool = False
    include_obfuscation: bool | None = None


class _ResponseFormat(msgspec.Struct, omit_defaults=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class _ChatWire(msgspec.Struct):
    model: str
    messages: list[_System | _Developer | _User | _Assistant | _ToolMessage]
    stream: bool = False
    stream_options: _StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    response_format: _ResponseFormat | None = None
    tools: list[_ToolDef] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    n: int | None = None


_CANONICAL = frozenset(_ChatWire.__struct_fields__)
# What a message may carry. Anything else with a value is refused (a 400 naming it), never
# dropped; empty ones (null, [], {}: an SDK's replayed assistant message) carry nothing.
_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "refusal",
                             "cache_control"})
_PART_FIELDS = frozenset({"type", "text", "image_url", "refusal", "cache_control"})
# Canonical fields that hold free-form JSON (typed Any): the depth walk must visit them.
_TYPED = _CANONICAL - {"tools", "response_format", "tool_choice"}


def parse_json_object(body: bytes, typed: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every JSON body Corral accepts comes through here: an object, nested at most
    `MAX_JSON_DEPTH` levels (deeper values break serializers and recursive walks later).

    `typed` names top-level fields the caller converts to fixed msgspec types: a deep
    value there fails that conversion at its first level, so the walk skips them (for
    chat, `messages`: most of a long conversation's nodes).
    """
    if not body:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if could_exceed(body) and "depth" in str(exc):  # orjson's own ceiling, 1024 levels
            raise InvalidRequest(str(JsonTooDeep("", MAX_JSON_DEPTH))) from None
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if could_exceed(body):
        try:
            for key, value in data.items():
                if key not in typed and type(value) in (dict, list):
                    check_depth(value, level=2, path=(key,))
        except JsonTooDeep as exc:
            raise InvalidRequest(str(exc), param=exc.path) from None
    return data


def refuse_unknown_fields(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """400 naming every field the endpoint does not know: a misspelt or unsupported option must
    not be silently ignored (`{"max_budget": 5}` on a key would otherwise look accepted)."""
    unknown = sorted(name for name in data if name not in allowed)
    if unknown:
        raise InvalidRequest(
            f"Unknown field(s): {', '.join(repr(n[:60]) for n in unknown[:10])}"
            f"{' and more' if len(unknown) > 10 else ''}. This endpoint accepts: {', '.join(allowed)}.",
            param=unknown[0][:200])


def _validation_error(exc: msgspec.ValidationError) -> InvalidRequest:
    text = str(exc)
    message, _, where = text.partition(" - at `$")
    param = where.rstrip("`").lstrip(".") or None
    if message.startswith("Object missing required field `"):
        missing = message.split("`")[1]
        param = f"{param}.{missing}" if param else missing
    field_name = f" at '{param}'" if param else ""
    return InvalidRequest(f"Invalid request{field_name}: {message}.", param=param)


def parse_chat_request(body: bytes) -> ChatRequest:
    data = parse_json_object(body, _TYPED)
    known = {k: v for k, v in data.items() if k in _CANONICAL}
    extra = {k: v for k, v in data.items() if k not in _CANONICAL}
    try:
        wire = msgspec.convert(known, _ChatWire)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc) from None
    _check_ranges(wire)
    _check_arguments(wire)
    _check_message_fields(known["messages"])
    return ChatRequest(
        model=wire.model,
        messages=[_message(m, f"messages[{i}]") for i, m in enumerate(wire.messages)],
        stream=wire.stream,
        include_usage=bool(wire.stream_options and wire.stream_options.include_usage),
        max_tokens=wire.max_completion_tokens if wire.max_completion_tokens is not None else wire.max_tokens,
        temperature=wire.temperature,
        top_p=wire.top_p,
        stop=[wire.stop] if isinstance(wire.stop, str) else wire.stop,
        seed=wire.seed,
        user=wire.user,
        response_format=msgspec.to_builtins(wire.response_format) if wire.response_format else None,
        tools=[
            Tool(t.function.name, t.function.description, t.function.parameters, t.function.strict,
                 cache=cache_mark(t.cache_control, f"tools[{i}].cache_control"))
            for i, t in enumerate(wire.tools)
        ] if wire.tools else None,
        tool_choice=wire.tool_choice,
        parallel_tool_calls=wire.parallel_tool_calls,
        extra=extra,
        n=wire.n or 1,
    )


def _check_ranges(wire: _ChatWire) -> None:
    if not wire.messages:
        raise InvalidRequest("'messages' must contain at least one message.", param="messages")
    if wire.temperature is not None and not 0 <= wire.temperature <= 2:
        raise InvalidRequest("'temperature' must be between 0 and 2.", param="temperature")
    if wire.top_p is not None and not 0 <= wire.top_p <= 1:
        raise InvalidRequest("'top_p' must be between 0 and 1.", param="top_p")
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(wire, name)
        if value is not None and value < 1:
            raise InvalidRequest(f"'{name}' must be at least 1.", param=name)
    if wire.n is not None and not 1 <= wire.n <= MAX_CHOICES:
        raise InvalidRequest(
            f"'n' must be between 1 and {MAX_CHOICES}: Corral serves each answer as a request of its "
            "own; send several requests for more.", param="n")
    if isinstance(wire.stop, list) and len(wire.stop) > 4:
        raise InvalidRequest("'stop' accepts at most 4 sequences.", param="stop")
    if isinstance(wire.tool_choice, str) and wire.tool_choice not in ("none", "auto", "required"):
        raise InvalidRequest(
            "'tool_choice' must be 'none', 'auto', 'required' or a function object.",
            param="tool_choice",
        )
    if wire.tool_choice not in (None, "none", "auto") and not wire.tools:
        raise InvalidRequest("'tool_choice' requires 'tools'.", param="tool_choice")


def _check_message_fields(messages: list[Any]) -> None:
    for i, m in enumerate(messages):
        refuse_unread(m, _MESSAGE_FIELDS, f"messages[{i}]", "a message")
        content = m.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                at = f"messages[{i}].content[{j}]"
                refuse_unread(part, _PART_FIELDS, at, "a content part")
                if isinstance(part.get("image_url"), dict):
                    refuse_unread(part["image_url"], frozenset({"url", "detail"}), f"{at}.image_url",
                                   "an image_url")


def _check_arguments(wire: _ChatWire) -> None:
    """Tool-call arguments are JSON inside a string: the same depth bound applies to them."""
    for i, m in enumerate(wire.messages):
        if not isinstance(m, _Assistant):
            continue
        for j, call in enumerate(m.tool_calls or ()):
            args = call.function.arguments
            if could_exceed(args) and text_depth(args) > MAX_JSON_DEPTH:
                param = f"messages[{i}].tool_calls[{j}].function.arguments"
                raise InvalidRequest(str(JsonTooDeep(param, MAX_JSON_DEPTH)), param=param)


def _content(content: Any, at: str) -> str | list[TextPart | ImagePart] | None:
    if content is None or isinstance(content, str):
        return content
    parts: list[TextPart | ImagePart] = []
    for i, p in enumerate(content):
        if isinstance(p, _TextPart):
            parts.append(TextPart(p.text, cache=cache_mark(p.cache_control, f"{at}[{i}].cache_control")))
        elif isinstance(p, _ImagePart):
            parts.append(ImagePart(p.image_url.url, p.image_url.detail,
                                   cache=cache_mark(p.cache_control, f"{at}[{i}].cache_control")))
        else:
            parts.append(TextPart(p.refusal))
    return parts


def _message(m: Any, at: str) -> Message:
    content = _content(m.content, f"{at}.content")
    mark = cache_mark(m.cache_control, f"{at}.cache_control")
    if isinstance(m, _Assistant):
        calls = [ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or []]
        if mark is not None and calls:  # the last block of an assistant turn that calls tools
            calls[-1].cache = mark
            mark = None
        if content is None and m.refusal:  # a replayed refusal: what the assistant said
            content = m.refusal
        return Message("assistant", _marked(content, mark, at), m.name, calls or None)
    if isinstance(m, _ToolMessage):
        return Message("tool", content, tool_call_id=m.tool_call_id, cache=mark)  # its tool_result block
    role = type(m).__struct_config__.tag
    return Message(role, _marked(content, mark, at), m.name)


def _marked(content: str | list[TextPart | ImagePart] | None, mark: CacheMark | None,
            at: str) -> str | list[TextPart | ImagePart] | None:
    """A message's own `cache_control` on its last block (text content becomes one block)."""
    if mark is None:
        return content
    if isinstance(content, str):
        return [TextPart(content, cache=mark)]
    if not content:
        raise InvalidRequest(f"{at}.cache_control: the message has no content to mark.",
                             param=f"{at}.cache_control")
    content[-1].cache = mark
    return content


MAX_TAGS = 16  # OpenAI's `metadata` limits: 16 pairs, keys of 64 and values of 512 characters


def tags_of(metadata: Any) -> dict[str, str] | None:
    """A chat request's `metadata` as cost-attribution tags, when it is the string map OpenAI
    documents (anything else is the upstream's to judge, and tags nothing)."""
    if not isinstance(metadata, dict) or not metadata or len(metadata) > MAX_TAGS:
        return None
    if all(isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
           for k, v in metadata.items()):
        return dict(metadata)
    return None
