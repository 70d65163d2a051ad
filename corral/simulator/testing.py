"""Start the simulator in-process on a free loopback port, for tests.

``running_simulator`` is for async tests (same event loop as the test);
``SimulatorThread`` runs it on its own loop in a background thread for tests
that drive a synchronous client. Both bind 127.0.0.1 port 0 and give a base
URL such as ``http://127.0.0.1:41234``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from aiohttp import web

from .server import FaultsArg, build_app, make_runner
from .settings import SimSettings
from .state import STATE, SimState


@asynccontextmanager
async def running_simulator(
    settings: SimSettings | None = None, faults: FaultsArg = None, *, host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve a fresh simulator for the duration of the block; yields its URL."""
    runner = make_runner(build_app(settings, faults), shutdown_timeout=0.25)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class SimulatorThread:
    """A simulator on a background thread: ``with SimulatorThread() as sim: sim.url``.

    ``state`` gives direct access to settings, schedule and stats; change them
    only between requests (they belong to the simulator's loop).
    """

    def __init__(
        self,
        settings: SimSettings | None = None,
        faults: FaultsArg = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._app = build_app(settings, faults)
        self._host = host
        self._port = port
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.url = ""

    @property
    def state(self) -> SimState:
        return self._app[STATE]

    def start(self, timeout: float = 10.0) -> str:
        """Start serving and return the base URL once the port is bound."""
        self._thread = threading.Thread(target=self._main, name="corral-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("simulator did not start in time")
        if self._error is not None:
            raise RuntimeError("simulator failed to start") from self._error
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread (idempotent)."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:  # noqa: BLE001 - surfaced through start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = make_runner(self._app, shutdown_timeout=0.25)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            self.url = f"http://{self._host}:{runner.addresses[0][1]}"
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
