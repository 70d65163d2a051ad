"""The HTTP client under failure: read timeouts, resets, garbage, refused connections, TLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from corral.core.errors import UpstreamConnectionError, UpstreamTimeout
from corral.providers.http import iter_sse
from tests.providers.http_servers import (
    client,
    raw_server,
    web_server,
)

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
