"""corral.providers.http's HTTP/1.1 client: bodies and streaming, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import orjson
import pytest
from aiohttp import web

from corral.core.errors import UpstreamConnectionError
from corral.providers.http import iter_sse
from tests.providers.http_servers import (
    client,
    connections,
    ok,
    raw_server,
    web_server,
)

# --- bodies ----------------------------------------------------------------------------

async def test_content_length_body_status_and_headers() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        assert await request.json() == {"q": 1}
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Extra"] == "yes"
        return web.json_response({"a": "b" * 5000}, status=201, headers={"X-Reply": "1"})

    async with web_server(handler) as (url, _):
        c = client(headers={"X-Extra": "yes"})
        try:
            status, headers, body = await c.post_json(url + "/v1/x", {"q": 1}, {})
        finally:
            await c.aclose()
    assert status == 201 and orjson.loads(body) == {"a": "b" * 5000}
    assert headers["X-Reply"] == "1" and headers["Content-Type"].startswith("application/json")


async def test_chunked_body_is_decoded() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(50):
            await resp.write(b"%d," % i)
        await resp.write_eof()
        return resp

    async with web_server(handler) as (url, transports):
        c = client()
        try:
            for _ in range(2):
                status, body = await c.get_json(url + "/", {})
                assert status == 200
                assert body == b"".join(b"%d," % i for i in range(50))
        finally:
            await c.aclose()
    assert connections(transports) == 1  # a chunked answer read to its end leaves the connection reusable


async def test_body_delimited_by_close_and_connection_close_is_not_reused() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    async with raw_server(script) as server:
        c = client()
        try:
            assert await c.get_json(server.url + "/a", {}) == (200, b"until the end")
            assert await c.get_json(server.url + "/b", {}) == (200, b"until the end")
            assert c.session().size == 0
        finally:
            await c.aclose()
    assert server.connections == 2


async def test_gzip_and_deflate_answers_are_decoded() -> None:
    payload = orjson.dumps({"text": "hello " * 200})

    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        if n == 1:
            writer.write(ok(gzip.compress(payload), b"Content-Encoding: gzip\r\n"))
        else:
            writer.write(ok(zlib.compress(payload), b"Content-Encoding: deflate\r\n"))

    async with raw_server(script) as server:
        c = client()
        try:
            assert (await c.post_json(server.url + "/", {}, {}))[2] == payload
            assert (await c.post_json(server.url + "/", {}, {}))[2] == payload
        finally:
            await c.aclose()
    assert b"accept-encoding" not in server.requests[0].lower()  # identity is asked for


async def test_interim_1xx_answer_is_skipped() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"[1]"))

    async with raw_server(script) as server:
        c = client()
        try:
            assert await c.get_json(server.url + "/", {}) == (200, b"[1]")
        finally:
            await c.aclose()


async def test_request_line_and_headers_on_the_wire() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(ok())

    async with raw_server(script) as server:
        c = client(headers={"X-Org": "o1"})
        try:
            await c.post_json(server.url + "/v1/chat?x=1", {"a": 1}, {"Authorization": "Bearer k"})
            await c.get_json(server.url + "/v1/models", {})
        finally:
            await c.aclose()
    post, get = server.requests
    head, _, body = post.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    port = server.url.rsplit(":", 1)[1]
    assert lines[0] == b"POST /v1/chat?x=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}".encode() in lines
    assert b"X-Org: o1" in lines and b"Authorization: Bearer k" in lines
    assert b"content-type: application/json" in lines and b"Content-Length: 7" in lines
    assert body == b'{"a":1}'
    assert get.startswith(b"GET /v1/models HTTP/1.1\r\n") and b"Content-Length" not in get


async def test_header_injection_is_refused() -> None:
    c = client()
    try:
        with pytest.raises(UpstreamConnectionError) as exc:
            await c.post_json("http://127.0.0.1:9/", {}, {"X-Bad": "a\r\nInjected: 1"})
    finally:
        await c.aclose()
    assert "HTTP error" in exc.value.message


async def test_unsupported_url_is_an_error_not_a_crash() -> None:
    c = client()
    try:
        with pytest.raises(UpstreamConnectionError):
            await c.get_json("ftp://example.invalid/x", {})
    finally:
        await c.aclose()


# --- streaming -------------------------------------------------------------------------

async def test_lines_arrive_as_they_are_written_not_at_the_end() -> None:
    gate = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: one\n\n")
        await gate.wait()  # nothing more until the client has seen the first event
        await resp.write(b"data: two\n\n")
        await resp.write_eof()
        return resp

    async with web_server(handler) as (url, _):
        c = client(read_timeout_s=5)
        events = []
        try:
            async with c.stream(url + "/s", {}, {}) as resp:
                async for event in iter_sse(resp, "up"):
                    events.append(event)
                    gate.set()
        finally:
            await c.aclose()
    assert events == [("", b"one"), ("", b"two")]


async def test_large_stream_with_flow_control_arrives_intact() -> None:
    lines = [b"data: " + (b"%06d" % i) * 40 + b"\n\n" for i in range(4000)]  # about 1 MB

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(lines), 100):
            await resp.write(b"".join(lines[i:i + 100]))
        await resp.write_eof()
        return resp

    async with web_server(handler) as (url, transports):
        c = client()
        got = []
        try:
            async with c.stream(url + "/s", {}, {}) as resp:
                async for _, data in iter_sse(resp, "up"):
                    got.append(data)
                    if len(got) % 500 == 0:
                        await asyncio.sleep(0.01)  # a slow reader: the client must pause reading
            status, _ = await c.get_json(url + "/again", {})
        finally:
            await c.aclose()
    assert got == [line[6:-2] for line in lines]
    assert status == 200 and connections(transports) == 1


async def test_leaving_a_stream_early_closes_its_connection() -> None:
    closed = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for _ in range(200):
                await resp.write(b"data: x\n\n")
                await asyncio.sleep(0.01)
        except (ConnectionError, asyncio.CancelledError):
            closed.set()
            raise
        return resp

    async with web_server(handler) as (url, _):
        c = client()
        try:
            async with c.stream(url + "/s", {}, {}) as resp:
                async for _ in iter_sse(resp, "up"):
                    break
            assert c.session().size == 0  # an unfinished answer is never pooled
            await asyncio.wait_for(closed.wait(), 5)
        finally:
            await c.aclose()


async def test_cancelled_reader_closes_the_connection() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: first\n\n")
        await asyncio.sleep(30)
        return resp

    async with web_server(handler) as (url, _):
        c = client()
        seen = asyncio.Event()

        async def consume() -> None:
            async with c.stream(url + "/s", {}, {}) as resp:
                async for _ in iter_sse(resp, "up"):
                    seen.set()

        task = asyncio.create_task(consume())
        try:
            await asyncio.wait_for(seen.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert c.session().size == 0
        finally:
            await c.aclose()
