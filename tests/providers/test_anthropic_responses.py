"""Anthropic response translation (Messages API answer, stream events, errors -> Corral types),
tested as pure functions on dicts shaped like the Messages API docs."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from corral.core.errors import (
    ContentPolicyViolation,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from corral.core.stream import Tally
from corral.core.types import ChatChunk, ChatRequest, Message, ToolCall, ToolCallDelta
from corral.providers.anthropic import StreamState, map_error, parse_response, request_body

RESPONSE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Let me check "},
        {"type": "text", "text": "the weather."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
         "input": {"city": "Paris", "unit": "c"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 100, "cache_creation_input_tokens": 20,
              "cache_read_input_tokens": 300, "output_tokens": 42},
}


def test_parse_response_text_tool_calls_and_usage() -> None:
    resp = parse_response(RESPONSE, "claude")
    assert resp.id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert resp.model == "claude-sonnet-4-5-20250929"
    assert resp.content == "Let me check the weather."
    assert resp.tool_calls == [ToolCall("toolu_01A09q90qw90lq917835lq9", "get_weather",
                                        '{"city":"Paris","unit":"c"}')]
    assert orjson.loads(resp.tool_calls[0].arguments) == {"city": "Paris", "unit": "c"}
    assert resp.finish_reason == "tool_calls"
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.cached_tokens, resp.usage.output_tokens) == (420, 300, 42)


@pytest.mark.parametrize(("stop_reason", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("tool_use", "tool_calls"), ("refusal", "content_filter"),
    ("model_context_window_exceeded", "length"), (None, "stop"),
])
def test_finish_reasons(stop_reason: str | None, finish: str) -> None:
    payload = {**RESPONSE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    resp = parse_response(payload, "claude")
    assert resp.finish_reason == finish and resp.tool_calls is None


def test_tool_only_response_has_no_content() -> None:
    resp = parse_response({**RESPONSE, "content": RESPONSE["content"][3:]}, "claude")
    assert resp.content is None and resp.tool_calls


STREAM_EVENTS: list[dict[str, Any]] = [
    {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude",
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 472, "cache_read_input_tokens": 28, "output_tokens": 2}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Okay"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ", let's"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_01T1", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 1,
     "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}},
    {"type": "content_block_delta", "index": 1,
     "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": {
        "type": "tool_use", "id": "toolu_02", "name": "now", "input": {}}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
     "usage": {"output_tokens": 89}},
    {"type": "message_stop"},
]


def test_stream_events_become_chunks_with_running_tool_index() -> None:
    state = StreamState()
    chunks = [c for e in STREAM_EVENTS for c in state.feed(e)]
    assert chunks == [
        ChatChunk(role="assistant"),
        ChatChunk(content="Okay"),
        ChatChunk(content=", let's"),
        ChatChunk(tool_calls=[ToolCallDelta(0, id="toolu_01T1", name="get_weather", arguments="")]),
        ChatChunk(tool_calls=[ToolCallDelta(0, arguments="{\"city\": ")]),
        ChatChunk(tool_calls=[ToolCallDelta(0, arguments="\"Paris\"}")]),
        ChatChunk(tool_calls=[ToolCallDelta(1, id="toolu_02", name="now", arguments="")]),
        ChatChunk(tool_calls=[ToolCallDelta(1, arguments="{}")]),
        ChatChunk(finish_reason="tool_calls"),
    ]
    assert state.finished
    usage = state.usage
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (500, 28, 89)


def test_stream_reads_thinking_and_ignores_unknown_events() -> None:
    """Thinking blocks become reasoning fragments (text, then signature) that add up to the block
    Anthropic wrote, so it can be sent back with its signature; unknown events are skipped."""
    state = StreamState()
    [start] = state.feed({"type": "content_block_start", "index": 0,
                          "content_block": {"type": "thinking", "thinking": ""}})
    [text] = state.feed({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "thinking_delta", "thinking": "hmm"}})
    [sig] = state.feed({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "signature_delta", "signature": "c2ln"}})
    assert state.feed({"type": "content_block_stop", "index": 0}) == []
    [redacted] = state.feed({"type": "content_block_start", "index": 1,
                             "content_block": {"type": "redacted_thinking", "data": "ZW5j"}})
    assert state.feed({"type": "some_future_event"}) == []
    tally = Tally()
    for chunk in (start, text, sig, redacted):
        tally.add(chunk)
    assert tally.response("id", "m").reasoning == [
        {"type": "thinking", "thinking": "hmm", "signature": "c2ln"},
        {"type": "redacted_thinking", "data": "ZW5j"},
    ]


def test_thinking_blocks_round_trip() -> None:
    """A non-streamed answer keeps its thinking blocks; sent back in the history, they lead
    the assistant turn unchanged (Anthropic refuses tool use with thinking otherwise)."""
    block = {"type": "thinking", "thinking": "Let me see.", "signature": "c2ln"}
    response = parse_response({"content": [block, {"type": "text", "text": "Hi"}],
                               "stop_reason": "end_turn"}, "an")
    assert response.reasoning == [block] and response.content == "Hi"
    history = [Message("user", "Hello"), Message("assistant", "Hi", reasoning=response.reasoning),
               Message("user", "Again")]
    body = request_body(ChatRequest(model="claude", messages=history), stream=False)
    assert body["messages"][1]["content"] == [block, {"type": "text", "text": "Hi"}]


def err(etype: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": etype, "message": message}})


@pytest.mark.parametrize(("status", "body", "headers", "cls", "client_status"), [
    (429, err("rate_limit_error", "Number of request tokens has exceeded your rate limit"),
     {"retry-after": "12"}, UpstreamRateLimited, 429),
    (529, err("overloaded_error", "Overloaded"), {}, UpstreamUnavailable, 503),
    (500, err("api_error", "Internal server error"), {}, UpstreamUnavailable, 503),
    (400, err("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), {},
     UpstreamContextLength, 400),
    (400, err("invalid_request_error",
              "input length and `max_tokens` exceed context limit: 197626 + 8192 > 200000"), {},
     UpstreamContextLength, 400),
    (400, err("invalid_request_error", "Output blocked by content filtering policy"), {},
     ContentPolicyViolation, 400),
    (400, err("invalid_request_error", "messages: roles must alternate"), {}, UpstreamRejected, 400),
    (404, err("not_found_error", "model: claude-x"), {}, UpstreamRejected, 404),
    (401, err("authentication_error", "invalid x-api-key"), {}, UpstreamError, 502),
    (502, b"<html>bad gateway</html>", {}, UpstreamUnavailable, 503),
])
def test_http_error_mapping(status: int, body: bytes, headers: dict[str, str],
                            cls: type[UpstreamError], client_status: int) -> None:
    exc = map_error("claude", status, headers, body)
    assert type(exc) is cls
    assert exc.status_code == client_status and exc.upstream_status == status
    assert exc.provider == "claude"
    if isinstance(exc, UpstreamRateLimited):
        assert exc.retry_after == 12
    if isinstance(exc, ContentPolicyViolation):
        assert exc.category == "invalid_request_error"


@pytest.mark.parametrize(("etype", "cls", "upstream_status"), [
    ("overloaded_error", UpstreamUnavailable, 529),
    ("rate_limit_error", UpstreamRateLimited, 429),
    ("api_error", UpstreamUnavailable, 500),
    ("invalid_request_error", UpstreamRejected, 400),
    ("mystery_error", UpstreamUnavailable, 500),
])
def test_stream_error_events_map_by_type(etype: str, cls: type[UpstreamError],
                                         upstream_status: int) -> None:
    event = {"type": "error", "error": {"type": etype, "message": "boom"}}
    exc = map_error("claude", None, {}, event)
    assert type(exc) is cls and exc.upstream_status == upstream_status
