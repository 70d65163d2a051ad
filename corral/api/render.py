"""Canonical results -> OpenAI wire JSON and server-sent events."""

from __future__ import annotations

from typing import Any

import orjson

from corral.core.context import GroundingNote
from corral.core.errors import CorralError
from corral.core.types import ChatChunk, ChatResponse, ToolCallDelta, Usage

DONE = b"data: [DONE]\n\n"


def usage_wire(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def completion_wire(response: ChatResponse, response_id: str, model: str, created: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.content, "refusal": response.refusal}
    if response.annotations:
        message["annotations"] = response.annotations
    if response.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in response.tool_calls
        ]
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": response.logprobs,
            "finish_reason": response.finish_reason or "stop",
        }],
    }
    if response.system_fingerprint is not None:
        body["system_fingerprint"] = response.system_fingerprint
    if response.service_tier is not None:
        body["service_tier"] = response.service_tier
    if response.usage is not None:
        body["usage"] = usage_wire(response.usage)
    return body


def grounding_wire(note: GroundingNote | None) -> dict[str, Any] | None:
    """The `corral` extension of a grounded chat completion (a route's `knowledge` option): the
    sources the prompt numbered and the ones the answer cites; None when it was not grounded."""
    if note is None:
        return None
    sources = [{"index": s.index, "file_id": s.file_id, "filename": s.filename, "score": s.score}
               for s in note.listed]
    cited = [sources[n - 1] for n in note.cited or () if 0 < n <= len(sources)]
    return {"sources": sources,
            "citations": [{"index": c["index"], "file_id": c["file_id"], "filename": c["filename"]}
                          for c in cited]}


def _tool_delta(d: ToolCallDelta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": d.index}
    if d.id is not None:
        out["id"] = d.id
        out["type"] = "function"
    fn: dict[str, Any] = {}
    if d.name is not None:
        fn["name"] = d.name
    if d.arguments is not None:
        fn["arguments"] = d.arguments
    out["function"] = fn
    return out


class ChunkEncoder:
    """Encodes one response's chunks as OpenAI `chat.completion.chunk` SSE events."""

    def __init__(self, response_id: str, model: str, created: int):
        # The constant head of every event, serialized once per stream.
        self._head = orjson.dumps(
            {"id": response_id, "object": "chat.completion.chunk", "created": created, "model": model}
        )[:-1]
        self._started: set[int] = set()  # choices whose first chunk (with the role) went out

    def chunk(self, chunk: ChatChunk, corral: dict[str, Any] | None = None) -> bytes:
        """One chunk; `corral`: the extension field (a grounded answer's sources, on the chunk
        that finishes the answer)."""
        delta: dict[str, Any] = {}
        if chunk.choice not in self._started:
            delta["role"] = "assistant"
            self._started.add(chunk.choice)
        if chunk.content is not None:
            delta["content"] = chunk.content
        if chunk.tool_calls:
            delta["tool_calls"] = [_tool_delta(d) for d in chunk.tool_calls]
        if chunk.refusal is not None:
            delta["refusal"] = chunk.refusal
        choice = {"index": chunk.choice, "delta": delta, "logprobs": chunk.logprobs,
                  "finish_reason": chunk.finish_reason}
        extension = b',"corral":' + orjson.dumps(corral) if corral is not None else b""
        backend = b""
        if chunk.system_fingerprint is not None:
            backend += b',"system_fingerprint":' + orjson.dumps(chunk.system_fingerprint)
        if chunk.service_tier is not None:
            backend += b',"service_tier":' + orjson.dumps(chunk.service_tier)
        return self._event(backend + b',"choices":' + orjson.dumps([choice]) + extension + b"}")

    def usage(self, usage: Usage) -> bytes:
        return self._event(b',"choices":[],"usage":' + orjson.dumps(usage_wire(usage)) + b"}")

    def _event(self, tail: bytes) -> bytes:
        return b"data: " + self._head + tail + b"\n\n"


def error_body(exc: CorralError) -> dict[str, Any]:
    return {"error": {
        "message": exc.message,
        "type": exc.openai_type,
        "param": exc.param,
        "code": exc.code,
    }}


def error_event(exc: CorralError) -> bytes:
    """An in-stream error: the OpenAI SDKs raise an APIError when they see one."""
    return b"data: " + orjson.dumps(error_body(exc)) + b"\n\n"
