"""The HTTP client's keep-alive pool: reuse, stale connections, limits, connect timeouts."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web

from corral.core.errors import UpstreamConnectionError, UpstreamTimeout
from corral.providers.base import ProviderConfig
from corral.providers.http import HttpClient
from tests.providers.http_servers import (
    client,
    connections,
    ok,
    raw_server,
    web_server,
)

# --- keep-alive and the pool -----------------------------------------------------------

async def test_keep_alive_reuses_one_connection() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"n": await request.json()})

    async with web_server(handler) as (url, transports):
        c = client()
        try:
            for i in range(5):
                _, _, body = await c.post_json(url + "/", {"i": i}, {})
                assert orjson.loads(body) == {"n": {"i": i}}
            assert c.session().size == 1 and c.session().idle == 1
        finally:
            await c.aclose()
    assert connections(transports) == 1


async def test_server_closing_idle_connections_is_handled() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    async with web_server(handler, keepalive_timeout=0.05) as (url, transports):
        c = client()
        try:
            for _ in range(3):
                status, _, _ = await c.post_json(url + "/", {}, {})
                assert status == 200
                await asyncio.sleep(0.2)  # the server closes the idle connection meanwhile
        finally:
            await c.aclose()
    assert connections(transports) == 3


async def test_stale_pooled_connection_is_retried_once_for_post() -> None:
    """The server drops a kept-alive connection just as the next request arrives."""
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        if n == 1:
            writer.write(ok())
        else:
            writer.transport.abort()  # closed without a byte of answer

    async with raw_server(script) as server:
        c = client()
        try:
            for _ in range(3):
                status, _, body = await c.post_json(server.url + "/", {"x": 1}, {})
                assert (status, body) == (200, b'{"ok":true}')
        finally:
            await c.aclose()
    # request 1 ok on conn 1; request 2 dropped on conn 1, resent on conn 2 (ok); request 3
    # dropped on conn 2, resent on conn 3
    assert server.connections == 3 and len(server.requests) == 5


async def test_post_is_not_resent_once_an_answer_had_begun() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        if n == 1:
            writer.write(ok())
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
            await writer.drain()
            writer.transport.abort()

    async with raw_server(script) as server:
        c = client()
        try:
            await c.post_json(server.url + "/", {}, {})
            with pytest.raises(UpstreamConnectionError) as exc:
                await c.post_json(server.url + "/", {}, {})
        finally:
            await c.aclose()
    assert len(server.requests) == 2 and "broke" in exc.value.message


async def test_get_is_resent_while_the_answer_headers_are_incomplete() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        if n == 1:
            writer.write(ok(b"[1]"))
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
            await writer.drain()
            writer.transport.abort()

    async with raw_server(script) as server:
        c = client()
        try:
            assert await c.get_json(server.url + "/", {}) == (200, b"[1]")
            assert await c.get_json(server.url + "/", {}) == (200, b"[1]")
        finally:
            await c.aclose()
    assert server.connections == 2 and len(server.requests) == 3


async def test_fresh_connection_failure_is_not_retried() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    async with raw_server(script) as server:
        c = client()
        try:
            with pytest.raises(UpstreamConnectionError) as exc:
                await c.post_json(server.url + "/", {}, {})
        finally:
            await c.aclose()
    assert len(server.requests) == 1 and "Server disconnected" in exc.value.message


async def test_concurrency_limit_queues_requests() -> None:
    active = peak = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return web.json_response({"ok": True})

    async with web_server(handler) as (url, transports):
        c = client(max_connections=2)
        try:
            results = await asyncio.gather(*(c.post_json(url + "/", {}, {}) for _ in range(8)))
            assert c.session().size <= 2
        finally:
            await c.aclose()
    assert [r[0] for r in results] == [200] * 8
    assert peak == 2 and connections(transports) == 2


async def test_waiting_for_a_free_connection_is_bounded_by_the_connect_timeout() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response({"ok": True})

    async with web_server(handler) as (url, _):
        c = client(max_connections=1, connect_timeout_s=0.2)
        try:
            first = asyncio.create_task(c.post_json(url + "/", {}, {}))
            await asyncio.sleep(0.05)
            with pytest.raises(UpstreamTimeout) as exc:
                await c.post_json(url + "/", {}, {})
            release.set()
            assert (await first)[0] == 200
        finally:
            release.set()
            await c.aclose()
    assert "ConnectionTimeoutError" in exc.value.message


async def test_aclose_closes_pooled_connections_and_client_reopens() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    async with web_server(handler) as (url, transports):
        c = client()
        pool = c.session()
        await c.post_json(url + "/", {}, {})
        await c.aclose()
        assert pool.closed
        for _ in range(100):
            if transports[0].is_closing():
                break
            await asyncio.sleep(0.01)
        assert transports[0].is_closing()
        await c.post_json(url + "/", {}, {})
        assert c.session() is not pool
        await c.aclose()
    assert connections(transports) == 2


async def test_route_connect_timeout_tightens_the_providers() -> None:
    """The router's `timeouts.connect_s` (CONNECT_TIMEOUT) wins when tighter than the provider's."""
    import time as _time

    from corral.core.errors import UpstreamTimeout
    from corral.providers.base import CONNECT_TIMEOUT

    client = HttpClient(ProviderConfig("p", "openai", connect_timeout_s=30, max_connections=1))
    pool = client.session()
    placeholder = object()
    pool._all.add(placeholder)  # the only slot is taken: getting a connection must wait
    token = CONNECT_TIMEOUT.set(0.2)
    try:
        began = _time.monotonic()
        with pytest.raises(UpstreamTimeout, match="ConnectionTimeoutError"):
            await client.post_json("http://127.0.0.1:9/v1/x", {}, {})
        assert _time.monotonic() - began < 2, "the provider's 30 s connect timeout was used"
    finally:
        CONNECT_TIMEOUT.reset(token)
        pool._all.discard(placeholder)
        await client.aclose()
