"""Anthropic wire format: POST /v1/messages (stream and not).

Streams use the documented event sequence: message_start, content_block_start,
ping, content_block_delta (text_delta or input_json_delta), content_block_stop,
message_delta (stop_reason + cumulative usage), message_stop; mid-stream
failures are ``event: error`` frames. Errors use
``{"type": "error", "error": {"type", "message"}, "request_id"}``.

Prompt caching is simulated by a fixed rule, not a cache: every request that carries
``cache_control`` marks writes the prompt up to its last mark (``cache_creation_input_tokens``,
split by TTL under ``cache_creation``), as a cold cache would; reads come only from
``x-sim-cached-tokens``. More than 4 marks is Anthropic's 400.
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from .engine import BadRequest, Call, Dialect, ErrorContext, StreamScript, make_handler, new_id, sse
from .generate import Generation, ToolSpec, count_chars, estimate_tokens

DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}
MAX_CACHE_BREAKPOINTS = 4
_STATUS = {
    "auth": (401, "authentication_error"),
    "bad_request": (400, "invalid_request_error"),
    "not_found": (404, "not_found_error"),
    "rate_limit": (429, "rate_limit_error"),
    "server_error": (500, "api_error"),
    "unavailable": (503, "api_error"),
    "overloaded": (529, "overloaded_error"),
    "content_policy": (400, "invalid_request_error"),
    "context_length": (400, "invalid_request_error"),
}


def error_payload(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": new_id("req_")}


class AnthropicDialect(Dialect):
    name = "anthropic"

    def check_key(self, request: web.Request, key: str) -> str | None:
        given = request.headers.get("x-api-key")
        if not given:
            return "x-api-key header is required"
        return None if given == key else "invalid x-api-key"

    def error_body(self, kind: str, ctx: ErrorContext) -> tuple[int, Any, dict[str, str]]:
        status, type_ = _STATUS[kind]
        headers = {"request-id": new_id("req_")}
        message = ctx.message
        if kind == "rate_limit":
            wait = ctx.retry_after_s
            reset = datetime.fromtimestamp(time.time() + wait, tz=UTC)
            headers.update(
                {
                    "retry-after": str(max(1, math.ceil(wait))),
                    "anthropic-ratelimit-requests-limit": "60",
                    "anthropic-ratelimit-requests-remaining": "0",
                    "anthropic-ratelimit-requests-reset": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
            message = (
                "This request would exceed your organization's rate limit. "
                "Please try again later. (simulated)"
            )
        elif kind == "server_error":
            message = "Internal server error"
        elif kind == "unavailable":
            message = "Service unavailable"
        elif kind == "overloaded":
            message = "Overloaded"
        elif kind == "content_policy":
            message = "Output blocked by content filtering policy"
        elif kind == "context_length":
            used = max(ctx.prompt_tokens, ctx.context_window + 1)
            message = f"prompt is too long: {used} tokens > {ctx.context_window} maximum"
        return status, error_payload(type_, message), headers


DIALECT = AnthropicDialect()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _tools(body: dict[str, Any]) -> tuple[list[ToolSpec], ToolSpec | None]:
    tools = [
        ToolSpec(t["name"], t.get("input_schema") or {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("name") and t.get("type", "custom") == "custom"
    ]
    choice = body.get("tool_choice")
    if not tools or not isinstance(choice, dict) or choice.get("type") not in ("any", "tool"):
        return tools, None
    wanted = choice.get("name") if choice.get("type") == "tool" else None
    return tools, next((t for t in tools if t.name == wanted), tools[0])


def _output_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("output_format") or (body.get("output_config") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt.get("schema") or {"type": "object"}
    return None


def signature(thinking: str) -> str:
    """The simulated signature of a thinking block (Anthropic's is opaque; this one is checkable)."""
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:24]


def _check_thinking(messages: list[Any]) -> None:
    """Refuse altered thinking blocks in the history, as Anthropic does (their signature)."""
    for msg in messages:
        content = msg.get("content") if isinstance(msg, dict) else None
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == "thinking" and (
                    block.get("signature") != signature(str(block.get("thinking")))):
                raise BadRequest("messages: Invalid `signature` in `thinking` block")


def _blocks(body: dict[str, Any]) -> list[Any]:
    """The prompt's blocks in the order Anthropic caches them: tools, system, then messages (a
    tool result's inner blocks before the result itself)."""
    out: list[Any] = list(body.get("tools") or [])
    system = body.get("system")
    out += system if isinstance(system, list) else [system or ""]
    for msg in body.get("messages") or []:
        content = msg.get("content") if isinstance(msg, dict) else None
        for block in content if isinstance(content, list) else [content or ""]:
            if isinstance(block, dict) and block.get("type") == "tool_result" and isinstance(
                    block.get("content"), list):
                out += block["content"]
            out.append(block)
    return out


def cache_breakpoints(body: dict[str, Any]) -> list[tuple[int, str]]:
    """(prompt tokens up to and including the block, ttl) for each block carrying cache_control,
    in order; the tokens count as the simulator counts a prompt (chars / 4)."""
    marks: list[tuple[int, str]] = []
    chars = 0
    for block in _blocks(body):
        if not isinstance(block, dict):
            chars += count_chars(block)
            continue
        control = block.get("cache_control")
        nested = block.get("type") == "tool_result" and isinstance(block.get("content"), list)
        chars += count_chars({k: v for k, v in block.items()  # inner blocks are counted already
                              if k != "cache_control" and not (nested and k == "content")})
        if isinstance(control, dict):
            marks.append((-(-chars // 4), str(control.get("ttl") or "5m")))
    if len(marks) > MAX_CACHE_BREAKPOINTS:
        raise BadRequest(f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
                         f"Found {len(marks)}.")
    return marks


def cache_writes(body: dict[str, Any]) -> tuple[int, int]:
    """Simulated (5-minute, 1-hour) cache writes: the prefix up to the last mark, its part up to
    the last 1-hour mark written at that TTL (a cold cache: every marked request writes)."""
    marks = cache_breakpoints(body)
    if not marks:
        return 0, 0
    total = marks[-1][0]
    one_hour = max((tokens for tokens, ttl in marks if ttl == "1h"), default=0)
    return total - one_hour, one_hour


def parse_messages(request: web.Request, body: dict[str, Any]) -> Call:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise BadRequest("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("max_tokens: Input should be greater than or equal to 1")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: at least one message is required")
    prompt_text = ""
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            prompt_text = _text_of(msg.get("content"))
            break
    tools, forced = _tools(body)
    _check_thinking(messages)
    thinking = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") == "enabled"
    extra: dict[str, Any] = {"thinking": f"The user asks: {prompt_text[:40]}"} if thinking else {}
    writes = cache_writes(body)
    if any(writes):
        extra["cache_writes"] = writes
    return Call(
        endpoint="chat",
        model=model,
        stream=body.get("stream") is True,
        prompt_tokens=estimate_tokens(body.get("system") or "", messages, body.get("tools") or []),
        render=render_message,
        script=message_script,
        prompt_text=prompt_text,
        max_tokens=max_tokens,
        tool=forced,
        tools=tools,
        json_schema=_output_schema(body),
        headers={"request-id": new_id("req_")},
        extra=extra,
    )


def usage(gen: Generation, call: Call | None = None) -> dict[str, Any]:
    """input_tokens excludes cache reads and writes; output_tokens includes thinking. Writes
    (`cache_writes`, when the request has marks) fit in what the reads leave of the prompt."""
    five, hour = call.extra.get("cache_writes", (0, 0)) if call is not None else (0, 0)
    room = gen.prompt_tokens - gen.cached_tokens
    hour = min(hour, room)
    five = min(five, room - hour)
    out: dict[str, Any] = {
        "input_tokens": room - five - hour,
        "cache_creation_input_tokens": five + hour,
        "cache_read_input_tokens": gen.cached_tokens,
        "output_tokens": gen.completion_tokens + gen.reasoning_tokens,
    }
    if five or hour:
        out["cache_creation"] = {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour}
    return out


def _block(gen: Generation, tool_id: str) -> dict[str, Any]:
    if gen.tool is not None:
        return {"type": "tool_use", "id": tool_id, "name": gen.tool.name, "input": gen.tool_args}
    return {"type": "text", "text": gen.text}


def _thinking_blocks(call: Call) -> list[dict[str, Any]]:
    text = call.extra.get("thinking")
    return [{"type": "thinking", "thinking": text, "signature": signature(text)}] if text else []


def render_message(call: Call, gen: Generation | None) -> dict[str, Any]:
    assert gen is not None
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [*_thinking_blocks(call), _block(gen, new_id("toolu_"))],
        "stop_reason": STOP_REASON[gen.finish],
        "stop_sequence": None,
        "usage": {**usage(gen, call), "service_tier": "standard"},
    }


def _delta_event(delta: dict[str, Any]) -> bytes:
    return sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")


def message_script(call: Call, gen: Generation) -> StreamScript:
    start_usage = {**usage(gen, call), "output_tokens": 1, "service_tier": "standard"}
    message: dict[str, Any] = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    if gen.tool is not None:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": new_id("toolu_"),
            "name": gen.tool.name,
            "input": {},
        }
        head = b'{"type":"input_json_delta","partial_json":'
    else:
        block = {"type": "text", "text": ""}
        head = b'{"type":"text_delta","text":'
    preamble = sse({"type": "message_start", "message": message}, "message_start")
    index = 0
    for thought in _thinking_blocks(call):  # streamed whole: text, then signature
        start = {"type": "thinking", "thinking": "", "signature": ""}
        preamble += (
            sse({"type": "content_block_start", "index": 0, "content_block": start}, "content_block_start")
            + _delta_event({"type": "thinking_delta", "thinking": thought["thinking"]})
            + _delta_event({"type": "signature_delta", "signature": thought["signature"]})
            + sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        index = 1
    preamble += (
        sse({"type": "content_block_start", "index": index, "content_block": block}, "content_block_start")
        + sse({"type": "ping"}, "ping")
    )
    head = (DELTA_HEAD if index == 0 else DELTA_HEAD.replace(b'"index":0', b'"index":1')) + head
    frames = [head + orjson.dumps(p) + b"}}\n\n" for p in gen.chunks]
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": STOP_REASON[gen.finish], "stop_sequence": None},
        "usage": usage(gen, call),
    }
    epilogue = (
        sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        + sse(delta, "message_delta")
        + sse({"type": "message_stop"}, "message_stop")
    )
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    return StreamScript(
        content_type="text/event-stream; charset=utf-8",
        frames=frames,
        preamble=preamble,
        epilogue=epilogue,
        malformed=DELTA_HEAD + b'{"type":"text_del\n\n',
        error=sse(error, "error"),
    )


def routes() -> list[web.RouteDef]:
    """aiohttp routes for this dialect."""
    return [web.post("/v1/messages", make_handler(DIALECT, parse_messages))]
