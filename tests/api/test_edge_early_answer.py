"""A body answered early (413) and drained afterwards must not count as the next request's
header bytes (found by the fuzz test: the next request on the connection got a 431)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, fake_settings, serve_in_thread


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in_thread(create_app(fake_settings(tmp_path), warmup=False))


async def _status(reader: asyncio.StreamReader) -> int:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    length = int(head.lower().split("content-length:")[1].split("\r\n")[0])
    await reader.readexactly(length)
    return int(head.split(" ")[1])


@pytest.mark.asyncio
@pytest.mark.parametrize("sent_first", [70_000, 150_000])
async def test_the_request_after_an_early_413_is_served(server: RunningServer, sent_first: int) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"name":"' + b"x" * 200_000 + b'"}'  # over the admin body limit
    writer.write(b"POST /admin/keys HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                 % (server.admin_key.encode(), len(body)) + body[:sent_first])
    await writer.drain()
    assert await _status(reader) == 413
    writer.write(body[sent_first:])  # the client finishes its body after the answer
    await writer.drain()
    await asyncio.sleep(0.3)  # in its own read, apart from the next request
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    await writer.drain()
    assert await _status(reader) == 200
    writer.close()
