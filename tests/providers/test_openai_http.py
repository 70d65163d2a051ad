"""OpenAIProvider end to end over real HTTP, against a canned chat-completions API on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from corral.core.errors import (
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
    Message,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from corral.providers.base import ProviderConfig
from corral.providers.openai import OpenAIProvider, request_body
from tests.providers.test_http import Upstream, json_reply, raw_stream, upstream


def provider(url: str, **kw: Any) -> OpenAIProvider:
    kw.setdefault("api_key", "sk-test")
    return OpenAIProvider(ProviderConfig(name="oa", type="openai", base_url=url + "/v1/", **kw))


REQUEST = ChatRequest(model="gpt-4o-mini", messages=[
    Message("system", "Be brief."), Message("user", "Weather in Paris?")],
    tools=[Tool(name="get_weather", parameters={"type": "object",
                                                "properties": {"city": {"type": "string"}}})],
    temperature=0.2, max_tokens=50, extra={"presence_penalty": 0.1})

COMPLETION = {
    "id": "chatcmpl-9", "object": "chat.completion", "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None, "message": {
        "role": "assistant", "content": "Checking.", "refusal": None,
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}],
    }}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
              "prompt_tokens_details": {"cached_tokens": 10},
              "completion_tokens_details": {"reasoning_tokens": 0}},
}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
          usage: dict[str, Any] | None = None) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]
    return {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1741569952,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_1",
            "choices": choices, "usage": usage}


CHUNKS = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Check"}),
    chunk({"content": "ing."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                           "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Pa"}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "ris\"}"}}]}),
    chunk({}, "tool_calls"),
    chunk(None, usage={"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
                       "prompt_tokens_details": {"cached_tokens": 10},
                       "completion_tokens_details": {"reasoning_tokens": 3}}),
]


def sse(events: list[Any], done: bool = True, tail: bytes = b"") -> bytes:
    out = b"".join(b"data: " + (e if isinstance(e, bytes) else orjson.dumps(e)) + b"\n\n"
                   for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"") + tail


async def run_stream(up: Upstream, request: ChatRequest = REQUEST,
                     **kw: Any) -> tuple[list[ChatChunk], BaseException | None]:
    """Collect chunks until the stream ends or raises; return both."""
    p = provider(up.url, **kw)
    got: list[ChatChunk] = []
    try:
        async for c in p.stream(request):
            got.append(c)
    except UpstreamError as exc:
        return got, exc
    finally:
        await p.aclose()
    return got, None


async def complete(up: Upstream, **kw: Any) -> Any:
    p = provider(up.url, **kw)
    try:
        return await p.complete(REQUEST)
    finally:
        await p.aclose()


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --- complete --------------------------------------------------------------------------

async def test_complete_posts_openai_request_and_parses_reply() -> None:
    async with upstream(json_reply(COMPLETION)) as up:
        resp = await complete(up)
    (call,) = up.seen
    assert call["method"] == "POST" and call["path"] == "/v1/chat/completions"
    assert call["headers"]["Content-Type"] == "application/json"
    assert call["body"] == request_body(REQUEST, stream=False, max_tokens_field="max_completion_tokens")
    assert call["body"]["presence_penalty"] == 0.1 and "stream" not in call["body"]
    assert resp.id == "chatcmpl-9" and resp.content == "Checking."
    assert resp.tool_calls == [ToolCall("call_1", "get_weather", '{"city":"Paris"}')]
    assert resp.finish_reason == "tool_calls"
    assert resp.usage == Usage(input_tokens=30, output_tokens=12, cached_tokens=10)


async def test_authorization_and_configured_headers_are_sent() -> None:
    async with upstream(json_reply(COMPLETION)) as up:
        await complete(up, headers={"OpenAI-Organization": "org-1"})
        await complete(up, api_key=None)
    with_key, without_key = (s["headers"] for s in up.seen)
    assert with_key["Authorization"] == "Bearer sk-test"
    assert with_key["OpenAI-Organization"] == "org-1"
    assert "Authorization" not in without_key  # keyless local servers get no bogus header


async def test_requests_share_one_pooled_connection_until_aclose() -> None:
    async with upstream(json_reply(COMPLETION)) as up:
        p = provider(up.url)
        try:
            await p.complete(REQUEST)
            await p.complete(REQUEST)
            assert up.connections == 1
            session = p.http.session()
        finally:
            await p.aclose()
        assert session.closed


# --- stream ----------------------------------------------------------------------------

async def test_stream_yields_chunks_in_order_and_asks_for_usage() -> None:
    async with upstream(raw_stream(sse(CHUNKS))) as up:
        got, err = await run_stream(up)
    assert err is None
    body = up.seen[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert up.seen[0]["headers"]["Authorization"] == "Bearer sk-test"
    # Every chunk with a choice carries the backend's fingerprint, which reaches the client.
    assert got == [
        ChatChunk(system_fingerprint="fp_1", content="", role="assistant"),
        ChatChunk(system_fingerprint="fp_1", content="Check"),
        ChatChunk(system_fingerprint="fp_1", content="ing."),
        ChatChunk(system_fingerprint="fp_1",
                  tool_calls=[ToolCallDelta(0, id="call_1", name="get_weather", arguments="")]),
        ChatChunk(system_fingerprint="fp_1", tool_calls=[ToolCallDelta(0, arguments='{"city":"Pa')]),
        ChatChunk(system_fingerprint="fp_1", tool_calls=[ToolCallDelta(0, arguments='ris"}')]),
        ChatChunk(system_fingerprint="fp_1", finish_reason="tool_calls"),
        ChatChunk(usage=Usage(30, 12, cached_tokens=10, reasoning_tokens=3)),
    ]


async def test_done_ends_the_stream_and_later_bytes_are_ignored() -> None:
    payload = sse(CHUNKS[:3], tail=b"data: {not json\n\ndata: " + orjson.dumps(CHUNKS[1]) + b"\n\n")
    async with upstream(raw_stream(payload)) as up:
        got, err = await run_stream(up)
    assert err is None and [c.content for c in got] == ["", "Check", "ing."]


async def test_stream_ending_without_done_or_finish_reason_is_bad_response() -> None:
    async with upstream(raw_stream(sse(CHUNKS[:3], done=False))) as up:
        got, err = await run_stream(up)
    assert [c.content for c in got] == ["", "Check", "ing."]  # what arrived is still passed on
    assert isinstance(err, UpstreamBadResponse) and err.retryable and err.provider == "oa"
    assert "[DONE]" in err.message


async def test_stream_with_finish_reason_but_no_done_is_accepted() -> None:
    """Some compatible servers close after the last chunk without sending [DONE]."""
    async with upstream(raw_stream(sse(CHUNKS, done=False))) as up:
        got, err = await run_stream(up)
    assert err is None and len(got) == len(CHUNKS) and got[-1].usage is not None


async def test_empty_200_stream_is_bad_response() -> None:
    async with upstream(raw_stream(b": keep-alive\n\n")) as up:
        got, err = await run_stream(up)
    assert got == [] and isinstance(err, UpstreamBadResponse)


async def test_json_body_instead_of_stream_is_bad_response() -> None:
    """A server that ignores stream=true answers with one JSON object and no SSE framing."""
    async with upstream(json_reply(COMPLETION)) as up:
        got, err = await run_stream(up)
    assert got == [] and isinstance(err, UpstreamBadResponse)


@pytest.mark.parametrize("line", [b"{\"choices\": [", b"[1, 2]", b"42"])
async def test_malformed_sse_data_is_bad_response(line: bytes) -> None:
    async with upstream(raw_stream(sse([CHUNKS[1], line]))) as up:
        got, err = await run_stream(up)
    assert [c.content for c in got] == ["Check"]
    assert isinstance(err, UpstreamBadResponse) and err.provider == "oa"


async def test_in_stream_error_event_raises_after_earlier_chunks() -> None:
    event = error_body("The server had an error while processing your request.", "server_error")
    async with upstream(raw_stream(sse([CHUNKS[1], event]))) as up:
        got, err = await run_stream(up)
    assert [c.content for c in got] == ["Check"]
    assert isinstance(err, UpstreamUnavailable) and err.retryable
    assert "The server had an error while processing your request." in err.message


async def test_in_stream_context_length_error_keeps_its_meaning() -> None:
    event = error_body("This model's maximum context length is 8192 tokens.", code=None)
    async with upstream(raw_stream(sse([event]))) as up:
        _, err = await run_stream(up)
    assert isinstance(err, UpstreamContextLength) and not err.retryable


async def test_stream_http_error_raises_before_any_chunk() -> None:
    reply = json_reply(error_body("Rate limit reached", "requests", "rate_limit_exceeded"), 429,
                       {"retry-after": "3"})
    async with upstream(reply) as up:
        got, err = await run_stream(up)
    assert got == [] and isinstance(err, UpstreamRateLimited) and err.retry_after == 3.0


# --- embeddings ------------------------------------------------------------------------

async def test_embeddings_sorted_by_index_with_usage() -> None:
    reply = {"object": "list", "model": "text-embedding-3-small",
             "data": [{"object": "embedding", "index": 2, "embedding": [0.3]},
                      {"object": "embedding", "index": 0, "embedding": [0.1]},
                      {"object": "embedding", "index": 1, "embedding": [0.2]}],
             "usage": {"prompt_tokens": 8, "total_tokens": 8}}
    async with upstream(json_reply(reply)) as up:
        p = provider(up.url)
        try:
            resp = await p.embed(EmbeddingRequest(model="text-embedding-3-small",
                                                  inputs=["a", "b", "c"], dimensions=1, user="u"))
        finally:
            await p.aclose()
    (call,) = up.seen
    assert call["path"] == "/v1/embeddings"
    assert call["headers"]["Authorization"] == "Bearer sk-test"
    assert call["body"] == {"model": "text-embedding-3-small", "input": ["a", "b", "c"],
                            "dimensions": 1, "user": "u"}
    assert resp.vectors == [[0.1], [0.2], [0.3]]
    assert resp.usage == Usage(input_tokens=8) and resp.model == "text-embedding-3-small"


@pytest.mark.parametrize("reply", [
    {"object": "list", "data": [{"index": 0, "embedding": [0.1]}]},  # one vector for two inputs
    {"object": "list", "data": [{"index": 0}, {"index": 1}]},
    {"object": "list"},
    [1, 2],
])
async def test_malformed_embeddings_reply_is_bad_response(reply: Any) -> None:
    async with upstream(json_reply(reply)) as up:
        p = provider(up.url)
        try:
            with pytest.raises(UpstreamBadResponse):
                await p.embed(EmbeddingRequest(model="e", inputs=["a", "b"]))
        finally:
            await p.aclose()


async def test_embeddings_error_is_mapped() -> None:
    async with upstream(json_reply(error_body("bad input"), 400)) as up:
        p = provider(up.url)
        try:
            with pytest.raises(UpstreamRejected) as exc:
                await p.embed(EmbeddingRequest(model="e", inputs=["a"]))
        finally:
            await p.aclose()
    assert "bad input" in exc.value.message


async def test_canned_stream_agrees_with_the_official_sdk() -> None:
    """The same bytes, read by openai's own SDK, give the same text, tool call and usage."""
    openai = pytest.importorskip("openai")
    async with upstream(raw_stream(sse(CHUNKS))) as up:
        sdk = openai.AsyncOpenAI(base_url=up.url + "/v1", api_key="k", max_retries=0)
        try:
            stream = await sdk.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True,
                stream_options={"include_usage": True})
            events = [e async for e in stream]
        finally:
            await sdk.close()
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    args = "".join(tc.function.arguments or "" for e in events if e.choices
                   for tc in e.choices[0].delta.tool_calls or [])
    assert text == "Checking." and orjson.loads(args) == {"city": "Paris"}
    assert events[-1].usage.completion_tokens_details.reasoning_tokens == 3
