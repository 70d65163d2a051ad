"""The "prompts" stage: send a registry system prompt first, and record which version went.

The prompt comes from the route (``prompt: support-agent@production`` in corral.yaml) or from
the request's Corral extension field ``prompt`` (``extra_body={"prompt": "name@label"}`` with
the openai SDK). The field is removed before the provider sees the request.

Protected prompts bind the client: when the route's prompt resolves through a protected label
and the route does not set ``prompt_override: true``, a request that brings its own system or
developer message, or names another prompt, gets a 403. Otherwise the client's prompt (or its
own system messages after the registry's) is used as sent.

Cost on the hot path: a request with no prompt on its route and none in its body pays two
attribute lookups; one with a prompt pays a cached lookup (corral.prompts.resolve).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from corral.core.context import PromptNote, RequestContext
from corral.core.errors import PermissionDenied
from corral.core.pipeline import Next, Result
from corral.core.types import ChatRequest, Message, expect
from corral.prompts.names import parse_ref
from corral.prompts.resolve import PromptResolver, ResolvedPrompt
from corral.routing.table import RouteTable

FIELD = "prompt"
_CLIENT_SYSTEM_ROLES = ("system", "developer")


class PromptStage:
    name = "prompts"

    def __init__(self, routes: RouteTable, resolver: PromptResolver) -> None:
        self.routes = routes
        self.resolver = resolver

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        request = expect(ctx.request, ChatRequest)
        settings = self.routes.resolve(ctx).settings
        route_ref = settings.prompt if settings is not None else None
        if route_ref is None and FIELD not in request.extra:
            return await call_next(ctx)
        asked = request.extra.get(FIELD)  # null counts as not sent
        extra: dict[str, Any] = {k: v for k, v in request.extra.items() if k != FIELD}
        if route_ref is None and asked is None:
            ctx.request = replace(request, extra=extra)
            return await call_next(ctx)
        override = settings.prompt_override if settings is not None else False
        chosen = await self._choose(request, route_ref, asked, override)
        messages = [Message("system", chosen.text), *request.messages]
        ctx.request = replace(request, messages=messages, extra=extra)
        ctx.system_prompt = PromptNote(chosen.name, chosen.version, chosen.sha256, chosen.label)
        return await call_next(ctx)

    async def _choose(self, request: ChatRequest, route_ref: str | None, asked: object,
                      override: bool) -> ResolvedPrompt:
        """The prompt to send: the client's when allowed, else the route's."""
        mine = None if asked is None else parse_ref(asked)
        if route_ref is None:
            assert mine is not None
            return await self.resolver.resolve(mine)
        route_prompt = await self.resolver.resolve(parse_ref(route_ref))
        if not route_prompt.protected or override:
            return route_prompt if mine is None else await self.resolver.resolve(mine)
        if mine is not None and str(mine) != route_ref:
            raise PermissionDenied(
                f"This route sends the protected prompt '{route_ref}'; a request may not replace it with "
                f"'{mine}' (the route's prompt_override is false).", param=FIELD, code="prompt_protected")
        if any(m.role in _CLIENT_SYSTEM_ROLES for m in request.messages):
            raise PermissionDenied(
                f"This route sends the protected prompt '{route_ref}'; a request may not add its own "
                "system or developer message (the route's prompt_override is false). Send user and "
                "assistant messages only.", param="messages", code="prompt_protected")
        return route_prompt
