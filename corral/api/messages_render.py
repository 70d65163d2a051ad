"""Canonical results -> Anthropic Messages API JSON, stream events and errors.

The inverse of corral/api/messages_wire.py, for answers from any provider: an OpenAI,
Gemini or local model's answer reads to an Anthropic-SDK client as a Claude answer would.
"""

from __future__ import annotations

from typing import Any

import orjson

from corral.core.errors import CorralError
from corral.core.types import (
    ChatChunk,
    ChatResponse,
    FinishReason,
    ReasoningDelta,
    ToolCallDelta,
    Usage,
    reasoning_block,
)

STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

# Anthropic's error type for each status it documents; other 5xx are api_error.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def stop_reason(reason: FinishReason | None) -> str:
    return STOP_REASONS.get(reason or "stop", "end_turn")


def usage_wire(usage: Usage | None) -> dict[str, Any]:
    """Anthropic counts cache reads and writes apart from `input_tokens`; Corral's input
    includes them. Writes are split by TTL under `cache_creation`, as Anthropic does."""
    usage = usage or Usage()
    writes = usage.cache_writes
    return {
        "input_tokens": max(0, usage.input_tokens - usage.cached_tokens - writes),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": writes,
        "cache_read_input_tokens": usage.cached_tokens,
        "cache_creation": {"ephemeral_5m_input_tokens": usage.cache_write_tokens,
                           "ephemeral_1h_input_tokens": usage.cache_write_1h_tokens},
    }


def tool_input(arguments: str) -> Any:
    """Tool-call arguments as the object Anthropic's `input` is; text that is not a JSON object
    (a model's broken JSON) is handed back under `_raw` rather than lost."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def message_wire(response: ChatResponse, message_id: str, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [dict(b) for b in response.reasoning or ()]
    text = response.content if response.content is not None else response.refusal
    if text:
        content.append({"type": "text", "text": text})
    for call in response.tool_calls or ():
        content.append({"type": "tool_use", "id": call.id, "name": call.name,
                        "input": tool_input(call.arguments)})
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(response.finish_reason),
        "stop_sequence": None,
        "usage": usage_wire(response.usage),
    }


def event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


class EventEncoder:
    """Canonical chunks -> Anthropic's typed stream events, one content block at a time.

    Text opens a text block; each tool call opens a tool_use block (closing the block before
    it) whose argument fragments become input_json_delta events. The stop reason and usage
    wait for the end of the stream, since canonical usage arrives after the last chunk.
    """

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self._open: int | None = None  # index of the open content block
        self._open_kind: str | None = None
        self._blocks = 0
        self._tools: dict[int, int] = {}  # canonical tool call index -> block index
        self._thinking: dict[int, int] = {}  # canonical reasoning index -> block index
        self.finish_reason: FinishReason | None = None

    def start(self) -> bytes:
        return event("message_start", {"message": {
            "id": self.message_id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage_wire(None),
        }})

    def chunk(self, chunk: ChatChunk) -> bytes:
        out = self._reasoning(chunk.reasoning) if chunk.reasoning is not None else b""
        text = chunk.content if chunk.content is not None else chunk.refusal
        if text:
            if self._open_kind != "text":
                out += self._close() + self._open_block("text", {"type": "text", "text": ""})
            out += event("content_block_delta", {"index": self._open,
                                                 "delta": {"type": "text_delta", "text": text}})
        for delta in chunk.tool_calls or ():
            out += self._tool(delta)
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
        return out

    def finish(self, usage: Usage | None) -> bytes:
        return self._close() + event("message_delta", {
            "delta": {"stop_reason": stop_reason(self.finish_reason), "stop_sequence": None},
            "usage": usage_wire(usage),
        }) + event("message_stop", {})

    def _reasoning(self, piece: ReasoningDelta) -> bytes:
        out = b""
        block = self._thinking.get(piece.index)
        if block is None:
            out += self._close()
            block = self._thinking[piece.index] = self._blocks
            out += self._open_block("thinking", reasoning_block(piece))
        if piece.text:
            out += event("content_block_delta", {
                "index": block, "delta": {"type": "thinking_delta", "thinking": piece.text}})
        if piece.signature:
            out += event("content_block_delta", {
                "index": block, "delta": {"type": "signature_delta", "signature": piece.signature}})
        return out

    def _tool(self, delta: ToolCallDelta) -> bytes:
        out = b""
        block = self._tools.get(delta.index)
        if block is None:
            out += self._close()
            ident = delta.id or f"toolu_{self.message_id.removeprefix('msg_')}_{delta.index}"
            block = self._tools[delta.index] = self._blocks
            out += self._open_block("tool_use", {"type": "tool_use", "id": ident, "name": delta.name or "",
                                                 "input": {}})
        if delta.arguments:
            out += event("content_block_delta", {
                "index": block, "delta": {"type": "input_json_delta", "partial_json": delta.arguments}})
        return out

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        self._open, self._open_kind = self._blocks, kind
        self._blocks += 1
        return event("content_block_start", {"index": self._open, "content_block": block})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open, self._open_kind = self._open, None, None
        return event("content_block_stop", {"index": index})


def error_wire(exc: CorralError, request_id: str | None) -> dict[str, Any]:
    status = exc.status_code
    kind = ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": exc.message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_event(exc: CorralError, request_id: str | None) -> bytes:
    """An in-stream error, after the 200: the Anthropic SDKs raise it as an APIError."""
    return b"event: error\ndata: " + orjson.dumps(error_wire(exc, request_id)) + b"\n\n"
