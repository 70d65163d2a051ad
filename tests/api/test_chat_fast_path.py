"""The plain-ASGI chat handler keeps the edge's behaviour: ids, errors, limits, streaming.

`POST /v1/chat/completions` bypasses Starlette's middleware and routing, so what they
did for it is checked here over a real socket: x-request-id on every answer (errors
included), OpenAI-shaped 4xx/5xx bodies, the body limit whether or not Content-Length
is sent, events written one by one, and the upstream stream closed when the client goes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from corral.api.app import create_app
from corral.core.types import ChatChunk, ChatRequest, ChatResponse
from corral.providers.base import Provider
from corral.providers.registry import register_provider_type
from tests.conftest import RunningServer, serve_in_thread, settings_for

CHAT = "/v1/chat/completions"


class SlowProvider(Provider):
    """Streams a word every 50 ms for ever; records when its stream was closed."""

    closed_at: list[float] = []
    sent: list[float] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if request.model == "explode":
            raise RuntimeError("a bug in an adapter")
        return ChatResponse(id="x", model=request.model, content="ok")

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        try:
            i = 0
            while True:
                SlowProvider.sent.append(time.perf_counter())
                yield ChatChunk(content=f"w{i} ")
                i += 1
                await asyncio.sleep(0.05)
        finally:
            SlowProvider.closed_at.append(time.perf_counter())


register_provider_type("slow", SlowProvider)


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = settings_for(
        tmp_path, {"slow": {"type": "slow"}},
        {"slow": {"deployments": [{"provider": "slow", "model": "slow"}]},
         "explode": {"deployments": [{"provider": "slow", "model": "explode"}]}},
        server={"max_body_bytes": 4096},
    )
    yield from serve_in_thread(create_app(settings, warmup=False))


def _headers(server: RunningServer, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {server.app_key}", "content-type": "application/json", **extra}


def _body(model: str = "slow", **kw: object) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], **kw})


async def test_request_id_is_echoed_on_success_and_on_errors(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + CHAT, data=_body(), headers=_headers(server)) as r:
            assert r.status == 200
            rid = r.headers["x-request-id"]
            assert rid.startswith("req_") and len(rid) == 28
            assert (await r.json())["id"] == "chatcmpl-" + rid.removeprefix("req_")
            assert r.headers["content-type"] == "application/json"
            assert r.headers["x-corral-model"] == "slow" and r.headers["x-corral-attempts"] == "1"
        traced = _headers(server, **{"x-request-id": "trace-7"})
        async with s.post(server.url + CHAT, data=_body(), headers=traced) as r:
            rid = r.headers["x-request-id"]  # Corral's own id; the client's is a correlation field
            assert rid.startswith("req_") and r.headers["x-client-request-id"] == "trace-7"
            assert (await r.json())["id"] == "chatcmpl-" + rid.removeprefix("req_")
        for bad in ("x" * 129, "two words", ""):
            async with s.post(server.url + CHAT, data=_body(),
                              headers=_headers(server, **{"x-request-id": bad})) as r:
                assert r.headers["x-request-id"].startswith("req_")
                assert "x-client-request-id" not in r.headers
        async with s.post(server.url + CHAT, data=b"{nope", headers=_headers(server)) as r:
            assert r.status == 400 and r.headers["x-request-id"].startswith("req_")
            assert (await r.json())["error"]["type"] == "invalid_request_error"
        async with s.post(server.url + CHAT, data=_body(), headers={"x-request-id": "no-key"}) as r:
            assert r.status == 401 and r.headers["x-client-request-id"] == "no-key"
    ids = set()
    async with aiohttp.ClientSession() as s:
        for _ in range(20):
            async with s.post(server.url + CHAT, data=_body(), headers=_headers(server)) as r:
                ids.add(r.headers["x-request-id"])
    assert len(ids) == 20


async def test_other_key_headers_are_accepted(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        for name in ("x-api-key", "api-key"):
            async with s.post(server.url + CHAT, data=_body(),
                              headers={name: server.app_key, "content-type": "application/json"}) as r:
                assert r.status == 200, name


async def test_unexpected_error_is_a_500_in_openai_shape(server: RunningServer,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + CHAT, data=_body("explode"), headers=_headers(server)) as r:
            assert r.status == 500
            error = (await r.json())["error"]
            rid = r.headers["x-request-id"]
    assert set(error) == {"message", "type", "param", "code"} and "x-request-id" in error["message"]
    assert rid.startswith("req_")
    logged = [rec for rec in caplog.records if rid in rec.getMessage()]
    assert len(logged) == 1 and "RuntimeError" in logged[0].getMessage(), "one line, with the request id"
    assert logged[0].exc_info is None and "\n" not in logged[0].getMessage(), "no traceback flood"


async def test_body_limit_with_and_without_content_length(server: RunningServer) -> None:
    big = _body(extra="x" * 5000)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + CHAT, data=big, headers=_headers(server)) as r:
            assert r.status == 413
            assert (await r.json())["error"]["code"] == "request_too_large"
        # chunked upload: no Content-Length, so the limit is enforced while reading
        async with s.post(server.url + CHAT, data=chunks(), headers=_headers(server)) as r:
            assert r.status == 413
        small = _body()

        async def small_chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(small), 10):
                yield small[i:i + 10]

        async with s.post(server.url + CHAT, data=small_chunks(), headers=_headers(server)) as r:
            assert r.status == 200  # a body in many pieces is reassembled


async def test_get_and_other_methods_still_get_405(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        for method in ("GET", "PUT", "DELETE"):
            async with s.request(method, server.url + CHAT, headers=_headers(server)) as r:
                assert r.status == 405 and "error" in await r.json()
                assert r.headers["x-request-id"].startswith("req_")


async def test_stream_events_are_written_one_by_one(server: RunningServer) -> None:
    SlowProvider.sent.clear()
    arrivals = []
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + CHAT, data=_body(stream=True), headers=_headers(server)) as r:
            assert r.status == 200
            assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
            assert r.headers["x-request-id"].startswith("req_")
            async for line in r.content:
                if line.startswith(b"data: {"):
                    arrivals.append(time.perf_counter())
                    if len(arrivals) == 4:
                        break
    # each event reaches the client about when it was produced, not in a batch at the end
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(g > 0.02 for g in gaps), gaps


async def test_client_disconnect_closes_the_upstream_stream(server: RunningServer) -> None:
    SlowProvider.closed_at.clear()
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + CHAT, data=_body(stream=True), headers=_headers(server)) as r:
            async for line in r.content:
                if line.startswith(b"data: {"):
                    break
            r.connection.transport.abort()  # type: ignore[union-attr]
            gone = time.perf_counter()
    for _ in range(100):
        if SlowProvider.closed_at:
            break
        await asyncio.sleep(0.01)
    assert SlowProvider.closed_at, "the upstream stream was not closed after the client left"
    assert SlowProvider.closed_at[0] - gone < 0.5


async def test_server_keeps_serving_after_a_disconnect(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + CHAT, data=_body(stream=True), headers=_headers(server)) as r:
            await r.content.readline()
            r.connection.transport.abort()  # type: ignore[union-attr]
        await asyncio.sleep(0.1)
        async with s.post(server.url + CHAT, data=_body(), headers=_headers(server)) as r:
            assert r.status == 200
