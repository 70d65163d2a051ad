"""A real webhook receiver on loopback: down (connection refused) or failing (500) on demand."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    """``fail_first``: answer 500 to that many POSTs; before ``up()`` the port refuses connections."""

    port: int = field(default_factory=free_port)
    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)  # accepted deliveries
    attempts: int = 0  # every POST that reached the receiver
    headers: list[dict[str, str]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    arrived_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return web.Response(status=500, text="down for maintenance")
        body = await request.read()
        self.raw.append(body)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        self.received.append(orjson.loads(body))
        self.arrived_at = time.monotonic()
        self._arrived.set()
        return web.Response(status=204)

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait(self, timeout_s: float) -> dict[str, Any]:
        await asyncio.wait_for(self._arrived.wait(), timeout_s)
        return self.received[-1]
