"""A real Corral behind the same uvicorn options `corral serve` uses, plus raw-socket helpers.

The edge limits live in the HTTP protocol, so these tests need real sockets: TestClient
and ASGITransport never run a protocol.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corral.api.app import create_app
from corral.api.server import uvicorn_options
from tests.conftest import RunningServer, fake_settings, serve_in_thread


def serve_edge(tmp_path: Path, uvicorn_kw: dict[str, Any] | None = None,
               **server: Any) -> Iterator[RunningServer]:
    """Corral with the fake provider, `server` settings applied, on a free loopback port."""
    settings = fake_settings(tmp_path, server=server)
    options = {**uvicorn_options(settings.server), "host": "127.0.0.1", "port": 0, **(uvicorn_kw or {})}
    yield from serve_in_thread(create_app(settings, warmup=False), **options)


def connect(server: RunningServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def read_until_closed(sock: socket.socket, within_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took (raises if it does not)."""
    start = time.monotonic()
    sock.settimeout(within_s)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset), without waiting."""
    sock.setblocking(False)
    try:
        while chunk := sock.recv(65536):
            del chunk
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0
