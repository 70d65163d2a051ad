"""Serving chat requests to the ASGI app in process, for the benchmarks that measure the
gateway's own CPU without sockets (bench/app_cpu.py, bench/stage_cost.py), and the bare
call that stands in for the router in the variants that leave it out (bench/serve_variant.py).

Nothing here imports `corral` at module level: app_cpu.py's child process imports the
`corral` of the tree it measures first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any


def chat_body(stream: bool = False) -> bytes:
    return json.dumps({"model": "echo", "stream": stream,
                       "messages": [{"role": "user", "content": "hello there, how are you"}]}).encode()


def chat_scope(key: str, body: bytes) -> dict[str, Any]:
    """An HTTP scope for `POST /v1/chat/completions` with `key` and a body of `body`'s length."""
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    return {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers,
            "query_string": b"", "root_path": "", "scheme": "http", "server": ("t", 80),
            "client": ("c", 1), "http_version": "1.1", "asgi": {"version": "3.0"}}


async def serve_one(app: Any, scope: dict[str, Any], body: bytes) -> None:
    """One request through `app`; the client stays until the answer is over. Raises unless 200."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    done = asyncio.Event()
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(dict(scope, state={}), receive, send)
    done.set()
    if status != [200]:
        raise RuntimeError(f"the request failed: {status}")


def direct_call(gateway: Any) -> Callable[[Any], Awaitable[Any]]:
    """The router's stand-in: the route's first deployment, called once (non-streamed only)."""
    async def call(ctx: Any) -> Any:
        route = gateway.routes.lookup(ctx.request.model)
        ctx.public_model = route.public_name
        deployment = route.deployments[0]
        ctx.served_model = deployment.model
        return await deployment.provider.complete(dataclasses.replace(ctx.request, model=deployment.model))
    return call
