"""The Responses event stream built from canonical chunks: order, numbering, final state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from corral.core.errors import UpstreamConnectionError
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ToolCallDelta, Usage
from corral.responses.events import response_events
from corral.responses.params import parse_create


def _stream(chunks: list[ChatChunk], fail: Exception | None = None) -> ChatStream:
    async def gen() -> AsyncIterator[ChatChunk]:
        for chunk in chunks:
            yield chunk
        if fail is not None:
            raise fail

    return ChatStream(gen())


async def _events(stream: ChatStream) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    kept: list[dict[str, Any]] = []

    async def on_final(body: dict[str, Any]) -> None:
        kept.append(orjson.loads(orjson.dumps(body)))

    body = parse_create({"model": "m", "input": "hi"}, "resp_1", 0).body
    events = []
    async for raw in response_events(stream, body, "m", on_final):
        head, data = raw.decode().rstrip("\n").split("\n")
        event = orjson.loads(data.removeprefix("data: "))
        assert head == f"event: {event['type']}"
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events, kept


@pytest.mark.asyncio
async def test_text_then_tool_calls_in_the_documented_order() -> None:
    events, [final] = await _events(_stream([
        ChatChunk(content="Hel"), ChatChunk(content="lo"),
        ChatChunk(tool_calls=[ToolCallDelta(0, "call_a", "f", '{"x"')]),
        ChatChunk(tool_calls=[ToolCallDelta(0, arguments=": 1}")]),
        ChatChunk(tool_calls=[ToolCallDelta(1, "call_b", "g", "{}")]),
        ChatChunk(finish_reason="tool_calls"), ChatChunk(usage=Usage(5, 7, cached_tokens=1)),
    ]))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert events[2]["item"]["status"] == "in_progress" and events[2]["item"]["content"] == []
    assert events[6]["text"] == "Hello" and events[12]["arguments"] == '{"x": 1}'
    assert [e["output_index"] for e in events[2:18] if "output_index" in e] == [0] * 7 + [1] * 5 + [2] * 4
    done = events[-1]["response"]
    assert done == final and done["status"] == "completed" and done["completed_at"] is not None
    message, first, second = done["output"]
    assert message["content"] == [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]
    assert (first["call_id"], first["name"], first["arguments"], first["status"]) == (
        "call_a", "f", '{"x": 1}', "completed")
    assert second["call_id"] == "call_b" and message["id"] == events[2]["item"]["id"]
    assert done["usage"] == {
        "input_tokens": 5, "input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 0},
        "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 12}


@pytest.mark.asyncio
async def test_a_length_stop_is_incomplete() -> None:
    events, [final] = await _events(_stream([ChatChunk(content="cut"), ChatChunk(finish_reason="length")]))
    assert events[-1]["type"] == "response.incomplete"
    assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete" and final["completed_at"] is None


@pytest.mark.asyncio
async def test_an_upstream_failure_mid_stream_is_an_error_event_then_failed() -> None:
    broken = UpstreamConnectionError("connection reset", provider="p")
    events, [final] = await _events(_stream([ChatChunk(content="part")], fail=broken))
    assert [e["type"] for e in events[-3:]] == ["response.output_text.delta", "error", "response.failed"]
    error = events[-2]
    assert error["code"] == "server_error" and "connection reset" in error["message"] and "param" in error
    assert final["status"] == "failed" and final["error"]["code"] == "server_error"
    assert final["output"][0]["status"] == "incomplete", "what was produced is kept, marked cut short"


@pytest.mark.asyncio
async def test_a_store_failure_is_reported_not_hidden() -> None:
    async def on_final(body: dict[str, Any]) -> None:
        raise OSError("disk full")

    body = parse_create({"model": "m", "input": "hi"}, "resp_1", 0).body
    raw = [e async for e in response_events(_stream([ChatChunk(content="x")]), body, "m", on_final)]
    kinds = [orjson.loads(e.split(b"data: ")[1])["type"] for e in raw]
    assert kinds[-2:] == ["error", "response.failed"]
