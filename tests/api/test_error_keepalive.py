"""A bug on a non-chat route answers 500 and leaves the keep-alive connection usable.

Found by the fuzz test: Starlette's ServerErrorMiddleware re-raised to uvicorn, which logged
the traceback a second time and dropped the connection, so a pooled client saw its *next*,
unrelated request reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, fake_settings, serve_in_thread


class _Broken:
    def __getattr__(self, name: str) -> None:
        raise RuntimeError("a bug behind GET /v1/models")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in_thread(create_app(fake_settings(tmp_path), warmup=False))


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str,
               key: str) -> int:
    """One GET on an open connection; returns the status (the body is read to the end)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    length = int(head.split("content-length:")[1].split("\r\n")[0])
    await reader.readexactly(length)
    return int(head.split(" ")[1])


@pytest.mark.asyncio
async def test_a_500_keeps_the_connection_and_logs_once(server: RunningServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    routes = server.gateway.routes
    server.gateway.routes = _Broken()
    host, port = server.url.removeprefix("http://").split(":")
    try:
        with caplog.at_level(logging.INFO):
            reader, writer = await asyncio.open_connection(host, int(port))
            assert await _get(reader, writer, "/v1/models", server.app_key) == 500
            # The same socket: a reset here is what a pooled client saw on its next request.
            assert await _get(reader, writer, "/healthz", server.app_key) == 200
            writer.close()
    finally:
        server.gateway.routes = routes
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and "RuntimeError" in errors[0].getMessage() and errors[0].exc_info is None
