"""Anthropic's typed stream events -> canonical chunks (the Messages API, streamed)."""

from __future__ import annotations

from typing import Any

from corral.core.types import ChatChunk, ReasoningDelta, ToolCallDelta, Usage
from corral.providers._anthropic_wire import finish_reason, parse_usage


class StreamState:
    """Turns Anthropic's typed stream events into canonical chunks.

    Tool calls are numbered in order of appearance (OpenAI's `index`), not by content
    block index, since text blocks share Anthropic's numbering.
    """

    def __init__(self) -> None:
        self.finished = False
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._thinking: dict[int, int] = {}  # content block index -> reasoning block index
        self._has_args: dict[int, bool] = {}

    @property
    def usage(self) -> Usage:
        return parse_usage(self._usage)

    def _merge_usage(self, raw: dict[str, Any] | None) -> None:
        # message_delta usage is cumulative, so later values replace earlier ones
        for key, value in (raw or {}).items():
            if value is not None:
                self._usage[key] = value

    def feed(self, event: dict[str, Any]) -> list[ChatChunk]:
        """One parsed event -> chunks. `error` events are the caller's to raise."""
        kind = event.get("type")
        index = event.get("index", 0)
        if kind == "message_start":
            self._merge_usage((event.get("message") or {}).get("usage"))
            return [ChatChunk(role="assistant")]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "text" and block.get("text"):
                return [ChatChunk(content=block["text"])]
            if block.get("type") in ("thinking", "redacted_thinking"):
                n = self._thinking[index] = len(self._thinking)
                if block["type"] == "redacted_thinking":
                    return [ChatChunk(reasoning=ReasoningDelta(n, redacted=str(block.get("data", ""))))]
                return [ChatChunk(reasoning=ReasoningDelta(n, text=block.get("thinking") or ""))]
            if block.get("type") == "tool_use":
                n = self._tools[index] = len(self._tools)
                self._has_args[n] = False
                started = ToolCallDelta(index=n, id=block.get("id"), name=block.get("name"),
                                        arguments="")
                return [ChatChunk(tool_calls=[started])]
            return []
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [ChatChunk(content=delta["text"])]
            if delta.get("type") == "input_json_delta" and index in self._tools:
                partial = delta.get("partial_json") or ""
                if not partial:
                    return []
                n = self._tools[index]
                self._has_args[n] = True
                return [ChatChunk(tool_calls=[ToolCallDelta(index=n, arguments=partial)])]
            if index in self._thinking:
                n = self._thinking[index]
                if delta.get("type") == "thinking_delta" and delta.get("thinking"):
                    return [ChatChunk(reasoning=ReasoningDelta(n, text=delta["thinking"]))]
                if delta.get("type") == "signature_delta" and delta.get("signature"):
                    return [ChatChunk(reasoning=ReasoningDelta(n, signature=delta["signature"]))]
            return []  # citations
        if kind == "content_block_stop" and index in self._tools:
            n = self._tools[index]
            if not self._has_args[n]:  # a call without arguments must still be valid JSON
                return [ChatChunk(tool_calls=[ToolCallDelta(index=n, arguments="{}")])]
            return []
        if kind == "message_delta":
            self._merge_usage(event.get("usage"))
            reason = (event.get("delta") or {}).get("stop_reason")
            return [ChatChunk(finish_reason=finish_reason(reason))] if reason else []
        if kind == "message_stop":
            self.finished = True
        return []  # ping and event types added later are ignored, as Anthropic advises
