"""Run the gateway with another server, upstream client or chat handler (benchmark experiments).

    python bench/gateway_overhead.py --serve-cmd "python bench/serve_variant.py --server granian"

Options (defaults are what `corral serve` uses):
  --server uvicorn | granian | granian-embed   uvicorn+httptools+uvloop, or granian's ASGI
                                               (1 worker process, or embedded in this loop)
  --client corral | aiohttp                    corral.providers.http's client, or the
                                               aiohttp ClientSession it replaced
  --handler asgi | starlette                   the plain ASGI chat handler, or the Starlette
                                               Request/Response endpoint it replaced
  --pipeline full | direct                     every stage and the router, or a bare call to the
                                               route's first deployment (bench/routing_overhead.py)

The granian modes need `pip install granian` (BSD-3-Clause; not a Corral dependency, since
uvicorn measured cheaper per request). It prints the same banner as `corral serve`
(gateway_overhead.py reads the key from it).
With VARIANT_PROFILE=out.prof (uvicorn only) it runs under cProfile for VARIANT_PROFILE_S
seconds (default 8) and then exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corral.api.app import create_app
from corral.banner import print_banner
from corral.config import Settings, load_settings


def _starlette_chat(app: Any) -> None:
    """Serve the chat route with the former Starlette endpoint (Request, RequestIdMiddleware...)."""
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse

    from corral.api import chat
    from corral.api.auth import authenticate, read_body
    from corral.api.render import ChunkEncoder, completion_wire
    from corral.api.responses import json_response
    from corral.api.wire import parse_chat_request
    from corral.core.context import RequestContext
    from corral.core.stream import ChatStream

    async def chat_completions(request: Request) -> Response:
        gateway = request.app.state.gateway
        caller = await authenticate(request, "inference")
        body = await read_body(request, gateway.settings.server.max_body_bytes)
        req = parse_chat_request(body)
        request_id = request.scope["state"]["request_id"]
        ctx = RequestContext(request_id=request_id, request=req, caller=caller)
        result = await gateway.handle(ctx)
        response_id = "chatcmpl-" + request_id.removeprefix("req_")
        model = ctx.public_model or req.model
        created = int(time.time())
        headers = {**ctx.response_headers, "x-corral-model": ctx.served_model or model}
        if isinstance(result, ChatStream):
            events: AsyncIterator[bytes] = chat._sse(result, ChunkEncoder(response_id, model, created),
                                                    req.include_usage, request_id)
            return StreamingResponse(events, media_type="text/event-stream",
                                     headers={**chat.SSE_HEADERS, **headers})
        return json_response(completion_wire(result, response_id, model, created), headers=headers)

    for route in app.router.routes:
        if getattr(route, "path", None) == chat.PATH:
            from starlette.routing import request_response
            route.app = request_response(chat_completions)
    # route every request through Starlette (no fast path)
    type(app).__call__ = type(app).__mro__[1].__call__  # type: ignore[method-assign]


def _direct_pipeline(gateway: Any) -> None:
    """Replace the pipeline with a bare call to each route's first deployment (no routing layer)."""
    from inprocess import direct_call

    from corral.context.usage import UsageStage
    from corral.core.pipeline import Pipeline

    gateway.pipeline = gateway.lifecycle.pipeline = Pipeline([UsageStage()], direct_call(gateway))


def build(settings: Settings, handler: str, pipeline: str = "full", record: bool = True) -> Any:
    def on_start(gw: Any) -> None:
        if pipeline == "direct":
            _direct_pipeline(gw)
        if not record:
            gw.recorder.finish = lambda *args, **kw: None  # no records, metrics or spans
        print_banner(gw, settings)
        sys.stdout.flush()

    app = create_app(settings, on_start=on_start)
    if handler == "starlette":
        _starlette_chat(app)
    return app


def _use_client(name: str) -> None:
    if name == "aiohttp":
        from aiohttp_client import AiohttpHttpClient

        import corral.providers.http as http_mod
        import corral.providers.openai as openai_mod
        http_mod.HttpClient = openai_mod.HttpClient = AiohttpHttpClient  # type: ignore[misc]


def factory() -> Any:
    """App factory for granian's worker process (options come through the environment)."""
    _use_client(os.environ.get("VARIANT_CLIENT", "corral"))
    return build(load_settings(os.environ.get("VARIANT_CONFIG") or None),
                 os.environ.get("VARIANT_HANDLER", "asgi"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--log-level", default="warning")
    p.add_argument("--server", default="uvicorn", choices=["uvicorn", "granian", "granian-embed"])
    p.add_argument("--client", default="corral", choices=["corral", "aiohttp"])
    p.add_argument("--handler", default="asgi", choices=["asgi", "starlette"])
    p.add_argument("--pipeline", default="full", choices=["full", "direct"],
                   help="direct: no routing layer (a bare call to the first deployment; non-stream only)")
    p.add_argument("--no-record", action="store_true", help="skip request records, metrics and spans")
    args = p.parse_args()
    logging.basicConfig(level=args.log_level.upper())
    os.environ.update(VARIANT_CONFIG=args.config or "", VARIANT_CLIENT=args.client,
                      VARIANT_HANDLER=args.handler)

    if args.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops

        Granian("serve_variant:factory", address=args.host, port=args.port, interface=Interfaces.ASGI,
                workers=1, loop=Loops.uvloop, factory=True, log_level=args.log_level,
                working_dir=Path(__file__).resolve().parent).serve()
        return

    _use_client(args.client)
    settings = load_settings(args.config)
    settings.server.host, settings.server.port = args.host, args.port
    app = build(settings, args.handler, args.pipeline, record=not args.no_record)

    if args.server == "granian-embed":
        import uvloop
        from granian.constants import Interfaces
        from granian.server.embed import Server

        async def run() -> None:
            await Server(app, address=args.host, port=args.port, interface=Interfaces.ASGI,
                         log_level=args.log_level).serve()
        uvloop.run(run())
        return

    import uvicorn

    config = uvicorn.Config(app, host=args.host, port=args.port, loop="uvloop", http="httptools",
                            log_level=args.log_level, access_log=False)
    server = uvicorn.Server(config)
    if os.environ.get("VARIANT_PROFILE"):
        import cProfile
        import threading

        threading.Timer(float(os.environ.get("VARIANT_PROFILE_S", "8")),
                        lambda: setattr(server, "should_exit", True)).start()
        cProfile.runctx("server.run()", globals(), {"server": server}, os.environ["VARIANT_PROFILE"])
    else:
        server.run()


if __name__ == "__main__":
    main()
