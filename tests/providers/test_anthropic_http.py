"""AnthropicProvider end to end over real HTTP, against a canned Messages API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web

from corral.core.errors import (
    CorralError,
    UpstreamBadResponse,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from corral.core.types import ChatChunk, ChatRequest, Message, Tool, ToolCallDelta
from corral.providers.anthropic import AnthropicProvider
from corral.providers.base import ProviderConfig

Respond = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def upstream(respond: Respond) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Serve `respond` on a free loopback port; record each request's path, headers, body."""
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read()) if request.can_read_body else None
        seen.append({"path": request.path, "headers": dict(request.headers), "body": body})
        return await respond(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def sse_events(events: list[dict[str, Any]]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


def sse(payload: bytes, status: int = 200) -> Respond:
    async def respond(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=status, headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(payload), 37):  # odd-sized writes exercise the SSE line buffering
            await resp.write(payload[i:i + 37])
        await resp.write_eof()
        return resp
    return respond


def json_reply(payload: dict[str, Any], status: int = 200,
               headers: dict[str, str] | None = None) -> Respond:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status, headers=headers)
    return respond


def provider(url: str, **options: Any) -> AnthropicProvider:
    return AnthropicProvider(ProviderConfig(name="claude", type="anthropic", base_url=url,
                                            api_key="sk-ant-test", options=options))


REQUEST = ChatRequest(model="claude-sonnet-4-5", messages=[
    Message("system", "Be brief."), Message("user", "Weather in Paris?")],
    tools=[Tool(name="get_weather", parameters={"type": "object",
                                                "properties": {"city": {"type": "string"}}})])

MESSAGE = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                 "input": {"city": "Paris"}}],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 30, "cache_read_input_tokens": 10, "output_tokens": 12},
}

EVENTS: list[dict[str, Any]] = [
    {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None,
                                          "usage": {"input_tokens": 30, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Check"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ing."}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 1,
     "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}},
    {"type": "content_block_delta", "index": 1,
     "delta": {"type": "input_json_delta", "partial_json": "ris\"}"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
     "usage": {"output_tokens": 12}},
    {"type": "message_stop"},
]


@pytest.mark.asyncio
async def test_complete_sends_messages_request_and_parses_reply() -> None:
    async with upstream(json_reply(MESSAGE)) as (url, seen):
        p = provider(url, default_max_tokens=777)
        try:
            resp = await p.complete(REQUEST)
        finally:
            await p.aclose()
    (call,) = seen
    assert call["path"] == "/v1/messages"
    assert call["headers"]["x-api-key"] == "sk-ant-test"
    assert call["headers"]["anthropic-version"] == "2023-06-01"
    assert call["body"]["system"] == "Be brief." and call["body"]["max_tokens"] == 777
    assert "stream" not in call["body"]
    assert resp.content == "Checking." and resp.finish_reason == "tool_calls"
    assert resp.tool_calls and resp.tool_calls[0].arguments == '{"city":"Paris"}'
    assert resp.usage and resp.usage.input_tokens == 40 and resp.usage.cached_tokens == 10


@pytest.mark.asyncio
async def test_stream_yields_deltas_then_final_usage() -> None:
    async with upstream(sse(sse_events(EVENTS))) as (url, seen):
        p = provider(url)
        try:
            chunks = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()
    assert seen[0]["body"]["stream"] is True
    assert "".join(c.content or "" for c in chunks) == "Checking."
    args = "".join(d.arguments or "" for c in chunks for d in c.tool_calls or [])
    assert orjson.loads(args) == {"city": "Paris"}
    assert chunks[3].tool_calls == [ToolCallDelta(0, id="toolu_01", name="get_weather", arguments="")]
    assert chunks[-2] == ChatChunk(finish_reason="tool_calls")
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.input_tokens, chunks[-1].usage.output_tokens) == (30, 12)


@pytest.mark.asyncio
async def test_overloaded_error_event_mid_stream_raises_unavailable() -> None:
    events = [*EVENTS[:4], {"type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"}}]
    async with upstream(sse(sse_events(events))) as (url, _):
        p = provider(url)
        got: list[ChatChunk] = []
        try:
            with pytest.raises(UpstreamUnavailable) as exc:
                async for chunk in p.stream(REQUEST):
                    got.append(chunk)
        finally:
            await p.aclose()
    assert [c.content for c in got] == [None, "Check"]
    assert exc.value.upstream_status == 529 and exc.value.retryable


@pytest.mark.asyncio
async def test_stream_cut_before_message_stop_is_an_error() -> None:
    async with upstream(sse(sse_events(EVENTS[:5]))) as (url, _):
        p = provider(url)
        try:
            with pytest.raises(UpstreamBadResponse):
                _ = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()


@pytest.mark.asyncio
async def test_http_429_maps_with_retry_after() -> None:
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    async with upstream(json_reply(body, 429, {"retry-after": "7"})) as (url, _):
        p = provider(url)
        try:
            with pytest.raises(UpstreamRateLimited) as exc:
                await p.complete(REQUEST)
            with pytest.raises(UpstreamRateLimited):
                _ = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()
    assert exc.value.retry_after == 7 and "slow down" in exc.value.message


@pytest.mark.asyncio
async def test_unsupported_parameter_is_rejected_before_any_request() -> None:
    async with upstream(json_reply(MESSAGE)) as (url, seen):
        p = provider(url)
        try:
            with pytest.raises(CorralError) as exc:
                await p.complete(ChatRequest(model="m", messages=[Message("user", "x")], seed=1))
        finally:
            await p.aclose()
    assert exc.value.status_code == 400 and exc.value.param == "seed" and seen == []


@pytest.mark.asyncio
async def test_canned_stream_agrees_with_the_official_sdk() -> None:
    """The same bytes, read by anthropic's own SDK, give the same text and tool input."""
    anthropic = pytest.importorskip("anthropic")
    async with upstream(sse(sse_events(EVENTS))) as (url, _):
        client = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0)
        try:
            async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=10,
                                              messages=[{"role": "user", "content": "x"}]) as s:
                final = await s.get_final_message()
        finally:
            await client.close()
    assert final.content[0].text == "Checking."
    assert final.content[1].input == {"city": "Paris"}
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == 12
