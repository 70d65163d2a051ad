"""A minimal aiohttp pass-through proxy: the floor any Python gateway is measured against.

    python bench/minimal_proxy.py --port 9300 --upstream http://127.0.0.1:9100

It forwards POST /v1/chat/completions to the upstream with one shared ClientSession and
streams the answer back chunk by chunk, and does nothing else: no keys, no parsing, no
routing, no records. bench/gateway_overhead.py runs it as its own process beside Corral, so
"Corral / minimal proxy" (throughput, CPU per request) says what Corral's features cost over
the bare cost of relaying HTTP in Python on the same event loop (uvloop) and the same machine.
"""

from __future__ import annotations

import argparse

import aiohttp
import uvloop
from aiohttp import web

PATH = "/v1/chat/completions"
# Hop-by-hop and length headers the proxy must not copy (aiohttp sets its own).
_SKIP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
                   "host", "date", "server"})


def build(upstream: str) -> web.Application:
    app = web.Application()
    target = upstream.rstrip("/") + PATH

    async def start(app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
        app["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                               timeout=aiohttp.ClientTimeout(total=None))

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        session: aiohttp.ClientSession = request.app["session"]
        async with session.post(target, data=body, headers=headers) as up:
            out_headers = {k: v for k, v in up.headers.items() if k.lower() not in _SKIP}
            if not up.headers.get("content-type", "").startswith("text/event-stream"):
                return web.Response(body=await up.read(), status=up.status, headers=out_headers)
            resp = web.StreamResponse(status=up.status, headers=out_headers)
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post(PATH, chat)
    app.router.add_get("/healthz", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9300)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream, without /v1")
    args = parser.parse_args()
    web.run_app(build(args.upstream), host=args.host, port=args.port, access_log=None,
                print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
