"""The "limits" stage: the outermost stage, so a refused request costs no detection or retrieval.

It holds every chat and embeddings request (live, batch line, background response, retrieval
call) to the limits of its key, team and route (corral.limits.limiter), and leaves the
reservation on the context for the lifecycle to settle once the request's record is priced.
A request no limit applies to pays one dictionary lookup.
"""

from __future__ import annotations

from corral.core.context import RequestContext
from corral.core.pipeline import Next, Result
from corral.limits.limiter import Limiter
from corral.routing.table import RouteTable


class LimitsStage:
    name = "limits"
    operations = frozenset({"chat", "embeddings", "forward"})

    def __init__(self, limiter: Limiter, routes: RouteTable) -> None:
        self.limiter = limiter
        self.routes = routes

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        route = self.routes.resolve(ctx)
        rules = self.limiter.subjects(ctx, route.public_name)
        if rules.subjects:
            ctx.limits = await self.limiter.reserve(ctx, route, rules)
        return await call_next(ctx)
