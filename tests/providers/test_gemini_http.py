"""GeminiProvider end to end over real HTTP, against a canned Gemini API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web

from corral.core.errors import (
    ContentPolicyViolation,
    UpstreamBadResponse,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from corral.core.types import ChatChunk, ChatRequest, EmbeddingRequest, Message, Tool
from corral.providers.base import ProviderConfig
from corral.providers.gemini import GeminiProvider

Respond = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def upstream(respond: Respond) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Serve `respond` on a free loopback port; record each request's path, query, headers, body."""
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read()) if request.can_read_body else None
        seen.append({"path": request.path, "query": dict(request.query),
                     "headers": dict(request.headers), "body": body})
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


def sse(payloads: list[dict[str, Any]]) -> Respond:
    """Gemini's alt=sse framing: `data: <GenerateContentResponse>` and a blank line (CRLF)."""
    async def respond(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for p in payloads:
            await resp.write(b"data: " + orjson.dumps(p) + b"\r\n\r\n")
        await resp.write_eof()
        return resp
    return respond


def json_reply(payload: dict[str, Any], status: int = 200) -> Respond:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status)
    return respond


def provider(url: str) -> GeminiProvider:
    return GeminiProvider(ProviderConfig(name="gem", type="gemini", base_url=url,
                                         api_key="AIza-test"))


REQUEST = ChatRequest(model="gemini-2.5-flash", messages=[
    Message("system", "Be brief."), Message("user", "Weather in Paris?")],
    tools=[Tool(name="get_weather", parameters={"type": "object",
                                                "properties": {"city": {"type": "string"}}})],
    tool_choice="auto", max_tokens=100)

REPLY = {
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 25, "candidatesTokenCount": 8, "totalTokenCount": 33},
    "modelVersion": "gemini-2.5-flash",
    "responseId": "r-1",
}

CHUNKS: list[dict[str, Any]] = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Check"}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 25}, "modelVersion": "gemini-2.5-flash"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "ing."}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 25, "candidatesTokenCount": 3}},
    {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        "finishReason": "STOP", "index": 0}],
     "usageMetadata": {"promptTokenCount": 25, "candidatesTokenCount": 8, "totalTokenCount": 33}},
]


@pytest.mark.asyncio
async def test_complete_posts_generate_content_with_key_header() -> None:
    async with upstream(json_reply(REPLY)) as (url, seen):
        p = provider(url)
        try:
            resp = await p.complete(REQUEST)
        finally:
            await p.aclose()
    (call,) = seen
    assert call["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert call["headers"]["x-goog-api-key"] == "AIza-test"
    assert call["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert call["body"]["generationConfig"] == {"maxOutputTokens": 100}
    assert call["body"]["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert resp.content == "Checking." and resp.finish_reason == "tool_calls"
    assert resp.tool_calls and resp.tool_calls[0].id.startswith("call_")
    assert orjson.loads(resp.tool_calls[0].arguments) == {"city": "Paris"}
    assert resp.usage and (resp.usage.input_tokens, resp.usage.output_tokens) == (25, 8)


@pytest.mark.asyncio
async def test_stream_uses_sse_endpoint_and_ends_with_usage() -> None:
    async with upstream(sse(CHUNKS)) as (url, seen):
        p = provider(url)
        try:
            chunks = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()
    assert seen[0]["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert seen[0]["query"] == {"alt": "sse"}
    assert "".join(c.content or "" for c in chunks) == "Checking."
    (call,) = [d for c in chunks for d in c.tool_calls or []]
    assert (call.index, call.name, call.arguments) == (0, "get_weather", '{"city":"Paris"}')
    assert chunks[-2] == ChatChunk(finish_reason="tool_calls")
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.input_tokens, chunks[-1].usage.output_tokens) == (25, 8)


@pytest.mark.asyncio
async def test_error_inside_stream_raises_mapped_error() -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    async with upstream(sse([CHUNKS[0], error])) as (url, _):
        p = provider(url)
        got: list[ChatChunk] = []
        try:
            with pytest.raises(UpstreamUnavailable):
                async for chunk in p.stream(REQUEST):
                    got.append(chunk)
        finally:
            await p.aclose()
    assert got == [ChatChunk(content="Check", role="assistant")]


@pytest.mark.asyncio
async def test_blocked_prompt_in_stream_is_content_policy_violation() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}
    async with upstream(sse([blocked])) as (url, _):
        p = provider(url)
        try:
            with pytest.raises(ContentPolicyViolation) as exc:
                _ = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()
    assert exc.value.category == "SAFETY"


@pytest.mark.asyncio
async def test_stream_without_finish_reason_is_incomplete() -> None:
    async with upstream(sse(CHUNKS[:2])) as (url, _):
        p = provider(url)
        try:
            with pytest.raises(UpstreamBadResponse):
                _ = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()


@pytest.mark.asyncio
async def test_429_resource_exhausted_maps_with_retry_delay() -> None:
    body = {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                   "retryDelay": "21s"}]}}
    async with upstream(json_reply(body, 429)) as (url, _):
        p = provider(url)
        try:
            with pytest.raises(UpstreamRateLimited) as exc:
                await p.complete(REQUEST)
            with pytest.raises(UpstreamRateLimited):
                _ = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()
    assert exc.value.retry_after == 21 and exc.value.headers() == {"retry-after": "21"}


@pytest.mark.asyncio
async def test_embed_uses_batch_embed_contents() -> None:
    reply = {"embeddings": [{"values": [0.1, 0.2, 0.3]}, {"values": [0.4, 0.5, 0.6]}]}
    async with upstream(json_reply(reply)) as (url, seen):
        p = provider(url)
        try:
            resp = await p.embed(EmbeddingRequest(model="gemini-embedding-001", inputs=["a", "b"]))
        finally:
            await p.aclose()
    assert seen[0]["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert [r["content"]["parts"][0]["text"] for r in seen[0]["body"]["requests"]] == ["a", "b"]
    assert resp.vectors == [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
