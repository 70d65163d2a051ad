"""corral.providers.http's own HTTP/1.1 client, over real sockets on 127.0.0.1.

Well-behaved answers come from aiohttp.web; misbehaving ones (stale keep-alive
connections, truncated or malformed answers, interim 1xx, bodies delimited by close)
from a raw asyncio server scripted per connection.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from corral.core.errors import UpstreamConnectionError, UpstreamTimeout
from corral.providers.base import ProviderConfig
from corral.providers.http import HttpClient, iter_sse


def client(**kw: Any) -> HttpClient:
    return HttpClient(ProviderConfig(name="up", type="openai", **kw))


@asynccontextmanager
async def web_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], **runner_kw: Any
) -> AsyncIterator[tuple[str, list[Any]]]:
    """aiohttp.web on a free port; yields its URL and the transport of every request seen."""
    transports: list[Any] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        transports.append(request.transport)
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5, **runner_kw)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", transports
    finally:
        await runner.cleanup()


def connections(transports: list[Any]) -> int:
    return len({id(t) for t in transports})


# A raw server: `script(n, request_bytes, writer)` answers the n-th request of a connection.
Script = Callable[[int, bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    url: str
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head + body


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[RawServer]:
    state = RawServer(url="")
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        state.connections += 1
        n = 0
        try:
            while not writer.is_closing():
                request = await _read_request(reader)
                if request is None:
                    break
                state.requests.append(request)
                n += 1
                await script(n, request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


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


# --- timeouts and failures -------------------------------------------------------------

async def test_read_timeout_before_headers() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response({})

    async with web_server(handler) as (url, _):
        c = client(read_timeout_s=0.2)
        try:
            with pytest.raises(UpstreamTimeout) as exc:
                await c.post_json(url + "/", {}, {})
            assert c.session().size == 0  # the late answer can never be read as another's
        finally:
            release.set()
            await c.aclose()
    assert "SocketTimeoutError" in exc.value.message


async def test_read_timeout_is_a_gap_not_a_total() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/plain"})
        resp.content_length = 10
        await resp.prepare(request)
        for _ in range(10):  # 1 s in all, never 0.3 s without a byte
            await asyncio.sleep(0.1)
            await resp.write(b"x")
        return resp

    async with web_server(handler) as (url, _):
        c = client(read_timeout_s=0.3)
        try:
            assert await c.get_json(url + "/", {}) == (200, b"x" * 10)
        finally:
            await c.aclose()


async def test_read_timeout_mid_body() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "application/json"})
        resp.content_length = 100
        await resp.prepare(request)
        await resp.write(b"{")
        await release.wait()
        return resp

    async with web_server(handler) as (url, _):
        c = client(read_timeout_s=0.2)
        try:
            with pytest.raises(UpstreamTimeout):
                await c.post_json(url + "/", {}, {})
        finally:
            release.set()
            await c.aclose()


async def test_reset_mid_body_is_a_connection_error() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial")
        await writer.drain()
        writer.transport.abort()

    async with raw_server(script) as server:
        c = client()
        try:
            with pytest.raises(UpstreamConnectionError) as exc:
                await c.post_json(server.url + "/", {}, {})
        finally:
            await c.aclose()
    assert "mid-response" in exc.value.message


async def test_reset_mid_chunked_stream_is_a_connection_error() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"b\r\ndata: one\n\n\r\n")
        await writer.drain()
        writer.transport.abort()

    async with raw_server(script) as server:
        c = client()
        events = []
        try:
            with pytest.raises(UpstreamConnectionError) as exc:
                async with c.stream(server.url + "/", {}, {}) as resp:
                    async for event in iter_sse(resp, "up"):
                        events.append(event)
        finally:
            await c.aclose()
    assert events == [("", b"one")] and "broke off" in exc.value.message


async def test_garbage_instead_of_http_is_an_error() -> None:
    async def script(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")

    async with raw_server(script) as server:
        c = client()
        try:
            with pytest.raises(UpstreamConnectionError) as exc:
                await c.post_json(server.url + "/", {}, {})
        finally:
            await c.aclose()
    assert "Invalid HTTP response" in exc.value.message


async def test_refused_connection_names_the_url() -> None:
    async with raw_server(lambda n, r, w: asyncio.sleep(0)) as server:
        url = server.url
    c = client(connect_timeout_s=2)
    try:
        with pytest.raises(UpstreamConnectionError) as exc:
            await c.post_json(url + "/v1/x", {}, {})
    finally:
        await c.aclose()
    assert f"{url}/v1/x" in exc.value.message and "base_url" in exc.value.message


# --- TLS -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


async def test_https_with_verification(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"secure": request.secure})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    url = f"https://localhost:{runner.addresses[0][1]}"
    try:
        c = client()
        try:  # the system trust store does not know this certificate
            with pytest.raises(UpstreamConnectionError) as exc:
                await c.post_json(url + "/", {}, {})
            assert "CERTIFICATE_VERIFY_FAILED" in exc.value.message
        finally:
            await c.aclose()

        c = client()
        c.session().ssl_context = ssl.create_default_context(cafile=str(cert))
        try:
            for _ in range(2):
                status, _, body = await c.post_json(url + "/", {}, {})
                assert (status, orjson.loads(body)) == (200, {"secure": True})
            assert c.session().size == 1
        finally:
            await c.aclose()
    finally:
        await runner.cleanup()



async def test_route_connect_timeout_tightens_the_providers() -> None:
    """The router's `timeouts.connect_s` (CONNECT_TIMEOUT) wins when tighter than the provider's."""
    import time as _time

    from corral.core.errors import UpstreamTimeout
    from corral.providers.base import CONNECT_TIMEOUT, ProviderConfig
    from corral.providers.http import HttpClient

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
