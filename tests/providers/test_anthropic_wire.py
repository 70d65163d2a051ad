"""Anthropic translation, tested as pure functions on dicts shaped like the Messages API docs."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from corral.core.errors import (
    ContentPolicyViolation,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from corral.core.stream import Tally
from corral.core.types import (
    ChatChunk,
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from corral.providers.anthropic import (
    AnthropicProvider,
    StreamState,
    map_error,
    parse_response,
    register_providers,
    request_body,
)
from corral.providers.base import ProviderConfig

WEATHER = Tool(name="get_weather", description="Weather for a city",
               parameters={"type": "object", "properties": {"city": {"type": "string"}}})


def req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="claude-sonnet-4-5", messages=list(messages), **kw)


def test_system_developer_and_sampling_parameters() -> None:
    body = request_body(req(
        Message("system", "Be brief."),
        Message("developer", "Answer in French."),
        Message("user", "Hi"),
        Message("user", [TextPart("there")]),
        temperature=0.2, top_p=0.9, stop=["END"], user="u-42",
    ), stream=False, default_max_tokens=1000)
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1000,
        "system": "Be brief.\n\nAnswer in French.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                  {"type": "text", "text": "there"}]}],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-42"},
    }


def test_client_max_tokens_wins_and_stream_flag() -> None:
    body = request_body(req(Message("user", "Hi"), max_tokens=50), stream=True)
    assert body["max_tokens"] == 50 and body["stream"] is True


def test_tool_round_trip_becomes_tool_use_and_tool_result() -> None:
    body = request_body(req(
        Message("user", "Weather in Paris and Rome?"),
        Message("assistant", "Checking.", tool_calls=[
            ToolCall("toolu_01", "get_weather", '{"city": "Paris"}'),
            ToolCall("call:abc/2", "get_weather", '{"city": "Rome"}'),
        ]),
        Message("tool", "18C", tool_call_id="toolu_01"),
        Message("tool", [TextPart("21C")], tool_call_id="call:abc/2"),
        Message("user", "Thanks"),
    ), stream=False)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_abc_2", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_abc_2",
             "content": [{"type": "text", "text": "21C"}]},
            {"type": "text", "text": "Thanks"},
        ]},
    ]


def test_assistant_with_only_tool_calls_and_empty_arguments() -> None:
    body = request_body(req(
        Message("user", "time?"),
        Message("assistant", None, tool_calls=[ToolCall("toolu_9", "now", "")]),
        Message("tool", "12:00", tool_call_id="toolu_9"),
    ), stream=False)
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_9", "name": "now", "input": {}}]}


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_arguments_must_be_a_json_object(arguments: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        request_body(req(Message("assistant", None, tool_calls=[ToolCall("t", "f", arguments)])),
                     stream=False)
    assert exc.value.status_code == 400


def test_tool_message_needs_its_call_id() -> None:
    with pytest.raises(InvalidRequest):
        request_body(req(Message("tool", "x")), stream=False)


def test_images_data_url_and_https() -> None:
    body = request_body(req(Message("user", [
        TextPart("What is this?"),
        ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ImagePart("https://example.com/cat.jpg", detail="high"),
    ])), stream=False)
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize("url", ["ftp://x/y.png", "data:image/png,raw", "data:;base64,AAA"])
def test_bad_image_urls_are_400(url: str) -> None:
    with pytest.raises(InvalidRequest):
        request_body(req(Message("user", [ImagePart(url)])), stream=False)


def test_image_in_system_prompt_is_rejected() -> None:
    with pytest.raises(UnsupportedParameter):
        request_body(req(Message("system", [ImagePart("https://x/y.png")])), stream=False)


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    (None, None, None),
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, None,
     {"type": "tool", "name": "get_weather"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    (None, True, None),
])
def test_tools_and_tool_choice(choice: Any, parallel: bool | None, expected: Any) -> None:
    body = request_body(req(Message("user", "x"), tools=[WEATHER, Tool(name="ping")],
                            tool_choice=choice, parallel_tool_calls=parallel), stream=False)
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather for a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body.get("tool_choice") == expected


def test_tool_choice_without_tools_is_not_sent() -> None:
    assert "tool_choice" not in request_body(req(Message("user", "x"), tool_choice="auto"),
                                             stream=False)


def test_unknown_tool_choice_is_400() -> None:
    with pytest.raises(UnsupportedParameter) as exc:
        request_body(req(Message("user", "x"), tools=[WEATHER],
                         tool_choice={"type": "allowed_tools"}), stream=False)
    assert exc.value.param == "tool_choice"


@pytest.mark.parametrize(("kw", "param"), [
    ({"seed": 7}, "seed"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
     "response_format"),
    ({"temperature": 1.5}, "temperature"),
])
def test_unsupported_parameters_are_400(kw: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameter) as exc:
        request_body(req(Message("user", "x"), **kw), stream=False)
    assert exc.value.status_code == 400 and exc.value.param == param
    provider = AnthropicProvider(ProviderConfig(name="claude", type="anthropic"))
    with pytest.raises(UnsupportedParameter) as exc:
        provider.check_supported(req(Message("user", "x"), **kw))
    assert exc.value.param == param and "claude" in exc.value.message


def test_check_supported_keeps_base_checks() -> None:
    provider = AnthropicProvider(ProviderConfig(name="claude", type="anthropic"))
    with pytest.raises(UnsupportedParameter) as exc:
        provider.check_supported(req(Message("user", "x"), extra={"logit_bias": {}}))
    assert exc.value.param == "logit_bias"
    provider.check_supported(req(Message("user", [ImagePart("https://x/y.png")]),
                                 response_format={"type": "text"}))


def test_structured_outputs_opt_in_sends_output_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    strict_tool = Tool(name="f", parameters=schema, strict=True)
    body = request_body(req(Message("user", "x"), response_format=rf, tools=[strict_tool]),
                        stream=False, structured_outputs=True)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert body["tools"][0]["strict"] is True
    provider = AnthropicProvider(ProviderConfig(name="c", type="anthropic",
                                                options={"structured_outputs": True}))
    provider.check_supported(req(Message("user", "x"), response_format=rf))
    with pytest.raises(UnsupportedParameter):
        provider.check_supported(req(Message("user", "x"), response_format={"type": "json_object"}))


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


def test_register_providers() -> None:
    found: dict[str, Any] = {}
    register_providers(lambda name, factory: found.__setitem__(name, factory))
    assert found == {"anthropic": AnthropicProvider}
