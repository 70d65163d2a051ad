"""OpenAIProvider error mapping and transport failures, over real HTTP to a canned server."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from aiohttp import web

from corral.core.errors import (
    ContentPolicyViolation,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.providers.test_http import Respond, json_reply, upstream
from tests.providers.test_openai_http import (
    CHUNKS,
    COMPLETION,
    REQUEST,
    complete,
    error_body,
    provider,
    run_stream,
    sse,
)

# --- HTTP error mapping ----------------------------------------------------------------

async def test_400_context_length_exceeded() -> None:
    body = error_body("This model's maximum context length is 128000 tokens. However, your "
                      "messages resulted in 130000 tokens.", code="context_length_exceeded",
                      param="messages")
    async with upstream(json_reply(body, 400)) as up:
        with pytest.raises(UpstreamContextLength) as exc:
            await complete(up)
    err = exc.value
    assert err.status_code == 400 and err.upstream_status == 400 and err.provider == "oa"
    assert "128000 tokens" in err.message and err.code == "context_length_exceeded"


async def test_400_context_length_recognised_by_message_alone() -> None:
    """vLLM and other compatible servers send the phrase without OpenAI's code."""
    body = {"object": "error", "type": "BadRequestError", "code": 400,
            "message": "This model's maximum context length is 4096 tokens."}
    async with upstream(json_reply({"error": body}, 400)) as up:
        with pytest.raises(UpstreamContextLength):
            await complete(up)


async def test_400_content_policy_violation() -> None:
    body = error_body("Your request was rejected as a result of our safety system.",
                      code="content_policy_violation")
    async with upstream(json_reply(body, 400)) as up:
        with pytest.raises(ContentPolicyViolation) as exc:
            await complete(up)
    err = exc.value
    assert err.status_code == 400 and err.category == "content_policy_violation"
    assert "safety system" in err.message and not err.retryable


async def test_401_is_a_gateway_error_about_credentials() -> None:
    body = error_body("Incorrect API key provided: sk-test.", code="invalid_api_key")
    async with upstream(json_reply(body, 401)) as up:
        with pytest.raises(UpstreamError) as exc:
            await complete(up)
    err = exc.value
    assert type(err) is UpstreamError and err.status_code == 502 and err.upstream_status == 401
    assert "credentials" in err.message and "Incorrect API key" in err.message
    assert not err.retryable


async def test_404_model_not_found_is_rejected_with_404() -> None:
    body = error_body("The model `gpt-9` does not exist or you do not have access to it.",
                      code="model_not_found")
    async with upstream(json_reply(body, 404)) as up:
        with pytest.raises(UpstreamRejected) as exc:
            await complete(up)
    err = exc.value
    assert type(err) is UpstreamRejected and err.status_code == 404
    assert err.code == "model_not_found" and "`gpt-9` does not exist" in err.message


async def test_429_with_retry_after() -> None:
    body = error_body("Rate limit reached for gpt-4o-mini", "requests", "rate_limit_exceeded")
    async with upstream(json_reply(body, 429, {"Retry-After": "20"})) as up:
        with pytest.raises(UpstreamRateLimited) as exc:
            await complete(up)
    err = exc.value
    assert err.retry_after == 20.0 and err.headers() == {"retry-after": "20"}
    assert err.retryable and "Rate limit reached" in err.message


@pytest.mark.parametrize("status", [500, 503, 529])
async def test_server_errors_are_unavailable(status: int) -> None:
    async with upstream(json_reply(error_body("Overloaded", "server_error"), status)) as up:
        with pytest.raises(UpstreamUnavailable) as exc:
            await complete(up)
    assert exc.value.upstream_status == status and exc.value.status_code == 503
    assert exc.value.retryable and "Overloaded" in exc.value.message


async def test_non_json_error_body_is_reported_verbatim() -> None:
    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, text="<html><h1>502 Bad Gateway</h1></html>",
                            content_type="text/html")
    async with upstream(html) as up:
        with pytest.raises(UpstreamUnavailable) as exc:
            await complete(up)
    assert "502 Bad Gateway" in exc.value.message and exc.value.upstream_status == 502


async def test_empty_error_body_says_so() -> None:
    async def empty(request: web.Request) -> web.StreamResponse:
        return web.Response(status=400)
    async with upstream(empty) as up:
        with pytest.raises(UpstreamRejected) as exc:
            await complete(up)
    assert "(empty body)" in exc.value.message


@pytest.mark.parametrize("body", [b"{\"id\": \"x\", \"choices\": [", b"", b"null"])
async def test_malformed_200_body_is_bad_response(body: bytes) -> None:
    async def garbage(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")
    async with upstream(garbage) as up:
        with pytest.raises(UpstreamBadResponse) as exc:
            await complete(up)
    assert exc.value.provider == "oa" and exc.value.retryable


# --- transport failures ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    p = provider(url, connect_timeout_s=2)
    try:
        with pytest.raises(UpstreamConnectionError) as exc:
            await p.complete(REQUEST)
        with pytest.raises(UpstreamConnectionError):
            _ = [c async for c in p.stream(REQUEST)]
    finally:
        await p.aclose()
    assert f"{url}/v1/chat/completions" in exc.value.message and exc.value.retryable
    assert "base_url" in exc.value.message


def abort_after(first: bytes, content_length: int | None = None) -> Respond:
    async def respond(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        if content_length is not None:
            resp.content_length = content_length
        await resp.prepare(request)
        await resp.write(first)
        assert request.transport is not None
        request.transport.close()
        return resp
    return respond


async def test_server_aborting_mid_stream_is_a_connection_error() -> None:
    async with upstream(abort_after(sse(CHUNKS[:2], done=False))) as up:
        got, err = await run_stream(up)
    assert [c.content for c in got] == ["", "Check"]
    assert isinstance(err, UpstreamConnectionError) and err.retryable


async def test_server_aborting_mid_body_is_a_connection_error() -> None:
    async with upstream(abort_after(orjson.dumps(COMPLETION)[:40], content_length=4000)) as up:
        with pytest.raises(UpstreamConnectionError):
            await complete(up)


def hang(release: asyncio.Event, first: bytes = b"") -> Respond:
    """Send `first` (or not even headers) and then stall until `release` is set."""
    async def respond(request: web.Request) -> web.StreamResponse:
        if not first:
            await release.wait()
            return web.Response(status=204)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(first)
        await release.wait()
        return resp
    return respond


async def test_hang_before_headers_times_out() -> None:
    release = asyncio.Event()
    async with upstream(hang(release)) as up:
        try:
            with pytest.raises(UpstreamTimeout) as exc:
                await complete(up, read_timeout_s=0.3)
        finally:
            release.set()
    assert exc.value.status_code == 504 and exc.value.retryable


async def test_hang_mid_stream_times_out() -> None:
    release = asyncio.Event()
    async with upstream(hang(release, sse(CHUNKS[:2], done=False))) as up:
        try:
            got, err = await run_stream(up, read_timeout_s=0.3)
        finally:
            release.set()
    assert [c.content for c in got] == ["", "Check"]
    assert isinstance(err, UpstreamTimeout)
