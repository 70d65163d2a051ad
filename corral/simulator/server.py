"""aiohttp application of the Corral LLM upstream simulator (test/benchmark tool).

``build_app`` wires the three dialects plus the admin endpoints:

- ``GET /sim/health``: liveness and a reminder that this is a simulator.
- ``GET /sim/stats``: request counts (total, per dialect, model, fault, endpoint).
- ``POST /sim/reset``: zero the counters and restart the fault schedule.
- ``GET|PUT /sim/faults``: read or replace the fault schedule (JSON list).
- ``GET|PATCH /sim/settings``: read or change run settings at run time.

Every response carries ``x-corral-simulator: 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from . import anthropic_batches, anthropic_dialect, gemini_dialect, openai_batches, openai_dialect
from .azure_dialect import routes as azure_routes
from .bedrock_dialect import routes as bedrock_routes
from .engine import json_response
from .faults import FaultSchedule
from .openai_extras import routes as openai_extras_routes
from .openai_media import routes as openai_media_routes
from .openai_scoring import routes as openai_scoring_routes
from .settings import SimSettings
from .state import STATE, SimState

SIM_HEADER = "x-corral-simulator"
NOTICE = "Corral LLM upstream simulator: a test and benchmark tool, not a model."
MAX_BODY = 64 * 1024 * 1024

FaultsArg = FaultSchedule | Iterable[Mapping[str, Any]] | None


async def _mark(request: web.BaseRequest, response: web.StreamResponse) -> None:
    response.headers[SIM_HEADER] = "1"


def _admin_error(message: str, status: int = 400) -> web.Response:
    return json_response({"error": {"message": message}}, status)


async def health(request: web.Request) -> web.StreamResponse:
    return json_response({"ok": True, "simulator": True, "notice": NOTICE})


async def stats(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[STATE].stats.to_dict())


async def reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE].reset()
    return json_response({"ok": True})


async def get_faults(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[STATE].schedule.to_list())


async def put_faults(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        data = orjson.loads(await request.read() or b"[]")
        new = FaultSchedule.parse(data, seed=state.settings.seed)
    except (orjson.JSONDecodeError, ValueError) as exc:
        return _admin_error(f"invalid fault schedule: {exc}")
    state.schedule.seed = new.seed
    state.schedule.replace(new.rules)
    return json_response(state.schedule.to_list())


async def get_settings(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[STATE].settings.to_dict())


async def patch_settings(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        data = orjson.loads(await request.read() or b"{}")
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of settings")
        trial = dataclasses.replace(state.settings)
        trial.update(data)
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        return _admin_error(f"invalid settings: {exc}")
    state.settings.update(data)
    if "seed" in data:
        state.schedule.seed = state.settings.seed
        state.schedule.reset()
    return json_response(state.settings.to_dict())


def _schedule(faults: FaultsArg, seed: int) -> FaultSchedule:
    if faults is None:
        return FaultSchedule(seed=seed)
    if isinstance(faults, FaultSchedule):
        return faults
    return FaultSchedule.parse(list(faults), seed=seed)


def build_app(settings: SimSettings | None = None, faults: FaultsArg = None) -> web.Application:
    """The simulator as an aiohttp application (settings/faults optional).

    ``faults`` is a ``FaultSchedule`` or a list of rule mappings.
    """
    settings = settings or SimSettings()
    app = web.Application(client_max_size=MAX_BODY)
    app[STATE] = SimState(settings, _schedule(faults, settings.seed))
    app.on_response_prepare.append(_mark)
    app.add_routes(openai_dialect.routes())
    app.add_routes(openai_extras_routes())
    app.add_routes(openai_media_routes())
    app.add_routes(openai_scoring_routes())
    app.add_routes(openai_batches.routes())
    app.add_routes(anthropic_batches.routes())
    app.add_routes(anthropic_dialect.routes())
    app.add_routes(gemini_dialect.routes())
    app.add_routes(azure_routes())
    app.add_routes(bedrock_routes())
    app.add_routes(
        [
            web.get("/sim/health", health),
            web.get("/sim/stats", stats),
            web.post("/sim/reset", reset),
            web.get("/sim/faults", get_faults),
            web.put("/sim/faults", put_faults),
            web.get("/sim/settings", get_settings),
            web.patch("/sim/settings", patch_settings),
        ]
    )
    return app


def make_runner(app: web.Application, shutdown_timeout: float = 1.0) -> web.AppRunner:
    """AppRunner tuned for the simulator: no access log, handlers cancelled
    when their client disconnects (so a ``hang`` does not outlive it)."""
    return web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=shutdown_timeout)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        return asyncio.new_event_loop
    return uvloop.new_event_loop


async def serve(
    host: str,
    port: int,
    settings: SimSettings | None = None,
    faults: FaultsArg = None,
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until cancelled or sent SIGINT/SIGTERM."""
    runner = make_runner(build_app(settings, faults))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=2048, reuse_address=True)
        await site.start()
        bound = runner.addresses[0]
        if announce is not None:
            announce(f"{NOTICE}\nListening on http://{bound[0]}:{bound[1]}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(
    host: str = "127.0.0.1", port: int = 9100, settings: SimSettings | None = None, faults: FaultsArg = None
) -> None:
    """Blocking entry point (uses uvloop when installed)."""
    announce: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(host, port, settings, faults, announce=announce))
