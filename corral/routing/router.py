"""The terminal handler: send the request to a deployment of its route.

A stream is committed to a deployment only once its first chunk has arrived, so a
failure before that is an ordinary error (and, with the retry work, a fallback),
never a half-written stream.
"""

from __future__ import annotations

import dataclasses
import time

from corral.core.context import Attempt, RequestContext
from corral.core.errors import CorralError
from corral.core.pipeline import Result
from corral.core.stream import ChatStream, prepend
from corral.routing.table import Deployment, RouteTable


class Router:
    def __init__(self, table: RouteTable):
        self.table = table

    async def __call__(self, ctx: RequestContext) -> Result:
        route = self.table.lookup(ctx.request.model)
        ctx.public_model = route.public_name
        deployment = route.pick_order()[0]
        return await self._attempt(ctx, deployment)

    async def _attempt(self, ctx: RequestContext, deployment: Deployment) -> Result:
        provider = deployment.provider
        provider.check_supported(ctx.request)
        upstream = dataclasses.replace(ctx.request, model=deployment.model)
        attempt = Attempt(deployment.name, provider.name, deployment.model)
        ctx.attempts.append(attempt)
        ctx.deployment = deployment.name
        ctx.served_model = deployment.model
        began = time.perf_counter()
        try:
            if not upstream.stream:
                response = await provider.complete(upstream)
                ctx.upstream_first_byte_at = time.perf_counter()
                attempt.status = "ok"
                return response
            chunks = provider.stream(upstream)
            first = await anext(chunks)
            ctx.upstream_first_byte_at = time.perf_counter()
            attempt.status = "ok"
            return ChatStream(prepend(first, chunks), model=deployment.model)
        except StopAsyncIteration:
            attempt.status = "ok"
            return ChatStream(_empty(), model=deployment.model)
        except CorralError as exc:
            attempt.status = "error"
            attempt.error_type = type(exc).__name__
            raise
        finally:
            attempt.duration_ms = (time.perf_counter() - began) * 1000
            ctx.response_headers["x-corral-attempts"] = str(len(ctx.attempts))


async def _empty():  # type: ignore[no-untyped-def]
    return
    yield
