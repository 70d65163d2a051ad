"""Gemini translation, tested as pure functions on dicts shaped like the Gemini API docs."""

from __future__ import annotations

from itertools import count
from typing import Any

import orjson
import pytest

from corral.core.errors import (
    ContentPolicyViolation,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamBadResponse,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from corral.core.types import (
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from corral.providers.base import ProviderConfig
from corral.providers.gemini import (
    GeminiProvider,
    StreamState,
    embed_body,
    map_error,
    parse_embeddings,
    parse_response,
    register_providers,
    request_body,
)

WEATHER = Tool(name="get_weather", description="Weather for a city",
               parameters={"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]})


def req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="gemini-2.5-flash", messages=list(messages), **kw)


def ids() -> Any:
    n = count(1)
    return lambda: f"call_{next(n)}"


def test_system_roles_merging_and_generation_config() -> None:
    body = request_body(req(
        Message("system", "Be brief."),
        Message("developer", [TextPart("Answer in French.")]),
        Message("user", "Hi"),
        Message("user", "there"),
        Message("assistant", "Bonjour"),
        max_tokens=64, temperature=0.3, top_p=0.8, stop=["END"], seed=7, user="u-1",
    ))
    assert body == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
            {"role": "model", "parts": [{"text": "Bonjour"}]},
        ],
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.3, "topP": 0.8,
                             "stopSequences": ["END"], "seed": 7},
    }


def test_tool_round_trip_to_function_call_and_response() -> None:
    body = request_body(req(
        Message("user", "Weather in Paris and Rome?"),
        Message("assistant", None, tool_calls=[
            ToolCall("call_a~ts~c2lnLWE=", "get_weather", '{"city": "Paris"}'),
            ToolCall("call_b", "get_weather", '{"city": "Rome"}'),
        ]),
        Message("tool", '{"temp_c": 18}', tool_call_id="call_a~ts~c2lnLWE="),
        Message("tool", "sunny, 21C", tool_call_id="call_b"),
    ))
    assert body["contents"][1:] == [
        {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
             "thoughtSignature": "c2lnLWE="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "sunny, 21C"}}},
        ]},
    ]


def test_tool_result_for_unknown_call_is_400_unless_named() -> None:
    with pytest.raises(InvalidRequest) as exc:
        request_body(req(Message("tool", "x", tool_call_id="call_zz")))
    assert exc.value.param == "messages"
    body = request_body(req(Message("tool", "[1, 2]", tool_call_id="c", name="lookup")))
    assert body["contents"][0]["parts"][0] == {
        "functionResponse": {"name": "lookup", "response": {"result": "[1, 2]"}}}
    with pytest.raises(UnsupportedParameter):
        request_body(req(Message("tool", [ImagePart("https://x/y.png")], tool_call_id="c", name="f")))


def test_tool_arguments_must_be_a_json_object() -> None:
    with pytest.raises(InvalidRequest):
        request_body(req(Message("assistant", None, tool_calls=[ToolCall("c", "f", "[]")])))


def test_images_become_inline_and_file_data() -> None:
    body = request_body(req(Message("user", [
        TextPart("What is this?"),
        ImagePart("data:image/jpeg;base64,/9j/4AAQ"),
        ImagePart("https://example.com/cat.png?size=large"),
        ImagePart("https://generativelanguage.googleapis.com/v1beta/files/abc123"),
    ])))
    assert body["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        {"fileData": {"fileUri": "https://example.com/cat.png?size=large", "mimeType": "image/png"}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
    ]
    with pytest.raises(InvalidRequest):
        request_body(req(Message("user", [ImagePart("file:///etc/passwd")])))
    with pytest.raises(UnsupportedParameter):
        request_body(req(Message("system", [ImagePart("https://x/y.png")])))


SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def test_response_format_json_object_and_json_schema() -> None:
    body = request_body(req(Message("user", "x"), response_format={"type": "json_object"}))
    assert body["generationConfig"] == {"responseMimeType": "application/json"}
    rf = {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}}
    body = request_body(req(Message("user", "x"), response_format=rf))
    assert body["generationConfig"] == {"responseMimeType": "application/json",
                                        "responseSchema": SCHEMA}
    body = request_body(req(Message("user", "x"), response_format=rf, tools=[WEATHER]),
                        json_schema_fields=True)
    assert body["generationConfig"]["responseJsonSchema"] == SCHEMA
    assert body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == WEATHER.parameters
    assert request_body(req(Message("user", "x"), response_format={"type": "text"})).keys() == {
        "contents"}


@pytest.mark.parametrize(("kw", "param"), [
    ({"response_format": {"type": "xml"}}, "response_format"),
    ({"tools": [WEATHER], "parallel_tool_calls": False}, "parallel_tool_calls"),
    ({"tools": [WEATHER], "tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
])
def test_unsupported_parameters_are_400(kw: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameter) as exc:
        request_body(req(Message("user", "x"), **kw))
    assert exc.value.status_code == 400 and exc.value.param == param


def test_check_supported_adds_gemini_rules_to_base_rules() -> None:
    p = GeminiProvider(ProviderConfig(name="gem", type="gemini"))
    with pytest.raises(UnsupportedParameter) as exc:
        p.check_supported(req(Message("user", "x"), tools=[WEATHER], parallel_tool_calls=False))
    assert "gem" in exc.value.message
    with pytest.raises(UnsupportedParameter):
        p.check_supported(req(Message("user", "x"), extra={"logit_bias": {}}))
    p.check_supported(req(Message("user", "x"), parallel_tool_calls=False, seed=1))


@pytest.mark.parametrize(("choice", "config"), [
    (None, None),
    ("auto", {"mode": "AUTO"}),
    ("required", {"mode": "ANY"}),
    ("none", {"mode": "NONE"}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
])
def test_tools_and_tool_choice(choice: Any, config: Any) -> None:
    no_args = Tool(name="now", parameters={"type": "object", "properties": {}})
    body = request_body(req(Message("user", "x"), tools=[WEATHER, no_args], tool_choice=choice))
    assert body["tools"] == [{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather for a city", "parameters": WEATHER.parameters},
        {"name": "now"},
    ]}]
    assert (body.get("toolConfig") or {}).get("functionCallingConfig") == config


RESPONSE: dict[str, Any] = {
    "candidates": [{
        "content": {"role": "model", "parts": [
            {"text": "thinking about it", "thought": True},
            {"text": "Let me check "},
            {"text": "both."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
             "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
        ]},
        "finishReason": "STOP",
        "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}],
    }],
    "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30,
                      "thoughtsTokenCount": 50, "cachedContentTokenCount": 100,
                      "totalTokenCount": 200},
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp-123",
}


def test_parse_response_text_calls_usage() -> None:
    resp = parse_response(RESPONSE, "gem", ids())
    assert (resp.id, resp.model) == ("resp-123", "gemini-2.5-flash")
    assert resp.content == "Let me check both."
    assert resp.tool_calls == [
        ToolCall("call_1~ts~c2ln", "get_weather", '{"city":"Paris"}'),
        ToolCall("call_2", "get_weather", '{"city":"Rome"}'),
    ]
    assert resp.finish_reason == "tool_calls"
    assert resp.usage is not None
    u = resp.usage
    assert (u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens) == (120, 80, 100, 50)


def test_generated_call_ids_are_unique_and_round_trip() -> None:
    resp = parse_response(RESPONSE, "gem")
    assert resp.tool_calls is not None
    first, second = resp.tool_calls
    assert first.id.startswith("call_") and first.id != second.id
    body = request_body(req(Message("assistant", None, tool_calls=resp.tool_calls),
                            Message("tool", "ok", tool_call_id=first.id)))
    assert body["contents"][0]["parts"][0]["thoughtSignature"] == "c2ln"
    assert body["contents"][1]["parts"][0]["functionResponse"]["name"] == "get_weather"


@pytest.mark.parametrize(("reason", "finish"), [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("BLOCKLIST", "content_filter"),
    ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"), ("OTHER", "stop"),
])
def test_finish_reasons(reason: str, finish: str) -> None:
    payload = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert parse_response(payload, "gem").finish_reason == finish


def test_blocked_prompt_raises_content_policy_violation() -> None:
    payload = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
               "usageMetadata": {"promptTokenCount": 9}}
    with pytest.raises(ContentPolicyViolation) as exc:
        parse_response(payload, "gem")
    assert exc.value.category == "SAFETY" and exc.value.status_code == 400
    with pytest.raises(UpstreamBadResponse):
        parse_response({"usageMetadata": {}}, "gem")


def test_safety_stop_without_content() -> None:
    resp = parse_response({"candidates": [{"finishReason": "SAFETY"}]}, "gem")
    assert resp.content is None and resp.finish_reason == "content_filter" and resp.usage is None


STREAM: list[dict[str, Any]] = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "The weather"}]}}],
     "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 2}},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": " is"}]}}],
     "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 3}},
    {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_time", "args": {}}}]}}]},
    {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
        "finishReason": "STOP"}],
     "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "thoughtsTokenCount": 4}},
]


def test_stream_chunks_tool_indices_finish_and_usage() -> None:
    state = StreamState("gem", ids())
    chunks = [c for p in STREAM for c in state.feed(p)]
    assert chunks == [
        ChatChunk(content="The weather", role="assistant"),
        ChatChunk(content=" is"),
        ChatChunk(tool_calls=[ToolCallDelta(0, "call_1", "get_weather", '{"city":"Paris"}'),
                              ToolCallDelta(1, "call_2", "get_time", "{}")]),
        ChatChunk(tool_calls=[ToolCallDelta(2, "call_3", "get_weather", '{"city":"Rome"}')]),
        ChatChunk(finish_reason="tool_calls"),
    ]
    assert state.finished
    assert state.usage is not None
    assert (state.usage.input_tokens, state.usage.output_tokens, state.usage.reasoning_tokens) == (20, 13, 4)


def test_stream_blocked_prompt_raises() -> None:
    with pytest.raises(ContentPolicyViolation) as exc:
        StreamState("gem").feed({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    assert exc.value.category == "PROHIBITED_CONTENT"


def gerr(code: int, status: str, message: str, details: list[Any] | None = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return orjson.dumps({"error": err})


RETRY_INFO = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
              {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}]
KEY_INVALID = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com"}]


@pytest.mark.parametrize(("status", "body", "cls", "client_status"), [
    (400, gerr(400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum "
               "number of tokens allowed (1048576)."), UpstreamContextLength, 400),
    (429, gerr(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota", RETRY_INFO),
     UpstreamRateLimited, 429),
    (400, gerr(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
               KEY_INVALID), UpstreamError, 502),
    (400, gerr(400, "INVALID_ARGUMENT", "Invalid JSON payload received."), UpstreamRejected, 400),
    (400, gerr(400, "FAILED_PRECONDITION", "User location is not supported"), UpstreamRejected, 400),
    (404, gerr(404, "NOT_FOUND", "models/gemini-9 is not found"), UpstreamRejected, 404),
    (500, gerr(500, "INTERNAL", "An internal error has occurred."), UpstreamUnavailable, 503),
    (503, gerr(503, "UNAVAILABLE", "The model is overloaded."), UpstreamUnavailable, 503),
    (503, b"upstream connect error", UpstreamUnavailable, 503),
])
def test_http_error_mapping(status: int, body: bytes, cls: type[UpstreamError],
                            client_status: int) -> None:
    exc = map_error("gem", status, {}, body)
    assert type(exc) is cls and exc.status_code == client_status
    assert exc.provider == "gem" and exc.upstream_status == status
    if isinstance(exc, UpstreamRateLimited):
        assert exc.retry_after == 38


def test_in_stream_and_array_wrapped_errors_use_the_body_code() -> None:
    exc = map_error("gem", None, {}, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "x"}})
    assert type(exc) is UpstreamUnavailable and exc.upstream_status == 503
    exc = map_error("gem", None, {}, [{"error": {"status": "RESOURCE_EXHAUSTED", "message": "q"}}])
    assert type(exc) is UpstreamRateLimited and exc.upstream_status == 429


def test_embeddings_body_and_parse() -> None:
    er = EmbeddingRequest(model="text-embedding-004", inputs=["a", "bbbbbbbb"], dimensions=256)
    assert embed_body(er) == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]},
         "outputDimensionality": 256},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "bbbbbbbb"}]},
         "outputDimensionality": 256},
    ]}
    resp = parse_embeddings({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]}, er, "gem")
    assert resp.vectors == [[0.1, 0.2], [0.3, 0.4]] and resp.model == "text-embedding-004"
    assert resp.usage.estimated and resp.usage.input_tokens == 3
    with pytest.raises(UpstreamBadResponse):
        parse_embeddings({"embeddings": [{"values": [0.1]}]}, er, "gem")


def test_register_providers_and_capabilities() -> None:
    found: dict[str, Any] = {}
    register_providers(lambda name, factory: found.__setitem__(name, factory))
    assert found == {"gemini": GeminiProvider}
    assert GeminiProvider.capabilities.embeddings and GeminiProvider.capabilities.images
