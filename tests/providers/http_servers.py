"""Test servers for the HTTP client tests: aiohttp.web for well-behaved answers, a raw
asyncio server scripted per connection for misbehaving ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from corral.providers.base import ProviderConfig
from corral.providers.http import HttpClient


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
