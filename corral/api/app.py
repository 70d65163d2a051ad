"""The ASGI application: routes and error handlers; the gateway lives in app.state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from corral.api import (
    admin,
    batches,
    chat,
    dashboard,
    feedback,
    files,
    golden,
    governance,
    health,
    incidents,
    messages,
    metrics,
    models,
    openapi,
    passthrough,
    policy_events,
    privacy,
    prompts,
    responses_api,
    vector_stores,
)
from corral.api.errors import (
    UnexpectedErrors,
    handle_corral_error,
    handle_http_exception,
    handle_unexpected,
)
from corral.api.middleware import RequestIdMiddleware
from corral.config import Settings
from corral.core.errors import CorralError, NotFound
from corral.gateway import Gateway

ROUTES = [
    Route(chat.PATH, chat.ChatEndpoint(), methods=["POST"]),
    Route("/v1/embeddings", models.embeddings, methods=["POST"]),
    Route("/v1/models", models.list_models, methods=["GET"]),
    Route("/v1/feedback", feedback.create_feedback, methods=["POST"]),
    Route("/admin/feedback", feedback.list_feedback, methods=["GET"]),
    Route("/v1/models/{model:path}", models.get_model, methods=["GET"]),
    Route("/admin/whoami", admin.whoami, methods=["GET"]),
    Route("/admin/keys", admin.list_keys, methods=["GET"]),
    Route("/admin/keys", admin.create_key, methods=["POST"]),
    Route("/admin/keys/{key_id}", admin.revoke_key, methods=["DELETE"]),
    Route("/admin/audit", admin.list_audit, methods=["GET"]),
    Route("/admin/erasure", admin.create_erasure, methods=["POST"]),
    Route("/admin/policy-events", policy_events.list_policy_events, methods=["GET"]),
    Route("/admin/pii/scan", privacy.scan_text, methods=["POST"]),
    Route("/admin/golden", golden.list_golden, methods=["GET"]),
    Route("/admin/golden", golden.create_golden, methods=["POST"]),
    Route("/admin/golden/{golden_id}", golden.delete_golden, methods=["DELETE"]),
    *files.ROUTES,
    *batches.ROUTES,
    *responses_api.ROUTES,
    *messages.ROUTES,  # Anthropic's Messages API (docs/anthropic.md)
    *passthrough.ROUTES,  # /v1/completions, /v1/audio/*, ...: untranslated (corral/api/passthrough.py)
    *vector_stores.ROUTES,
    *dashboard.ROUTES,
    *incidents.ROUTES,  # the review queue and input rules
    *prompts.ROUTES,  # the system-prompt registry (docs/prompts.md)
    *governance.ROUTES,  # the governance document (md, html, pdf)
    Route("/metrics", metrics.metrics_endpoint, methods=["GET"]),
    Route(openapi.PATH, openapi.openapi_json, methods=["GET"]),  # no key, like /healthz
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
]


class CorralApp(Starlette):
    """Starlette, with `POST /v1/chat/completions` served by a plain ASGI handler.

    The chat route is the hot path: it skips the middleware and routing layers (the
    handler echoes x-request-id and turns errors into OpenAI bodies itself). Every other
    request, and the chat route's 405s, go through Starlette as usual.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            root = scope.get("root_path")
            if root and path.startswith(root):
                path = path[len(root):]
            if path == chat.PATH:
                scope["app"] = self
                await chat.handle_chat(self.state.gateway, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """The router's fallback: a 404 that names the path when only a slash is off.

    Starlette's ``redirect_slashes`` redirected instead, to an absolute URL built from the
    request's Host header (``Host: evil.example`` sent the client to evil.example). An API
    client gains nothing from a redirect; it gets the right path in the error instead.
    """
    path = scope["path"]
    other = path.rstrip("/") if path.endswith("/") else path + "/"
    if other and other != path:
        probe = {**scope, "path": other}
        routes = scope["router"].routes if "router" in scope else ROUTES
        if any(route.matches(probe)[0] is not Match.NONE for route in routes):
            raise NotFound(f"No route for {scope['method']} {path}; the path is {other}.")
    raise HTTPException(404)  # the usual 404 (corral.api.errors)


def create_app(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    warmup: bool = True,
    on_start: Callable[[Gateway], None] | None = None,
    run_jobs: bool = True,
) -> CorralApp:
    """Build the app. Pass a started `gateway` to share one (tests); else it starts in lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = gateway is None
        app.state.gateway = gateway or await Gateway.start(settings, warmup=warmup, run_jobs=run_jobs)
        if on_start is not None:
            on_start(app.state.gateway)
        try:
            yield
        finally:
            if owned:
                await app.state.gateway.stop()

    app = CorralApp(
        routes=ROUTES,
        # UnexpectedErrors inside RequestIdMiddleware: a bug becomes one log line with the request
        # id and a 500 body, and nothing re-raises (which logged twice and reset keep-alive).
        middleware=[Middleware(RequestIdMiddleware), Middleware(UnexpectedErrors)],
        exception_handlers={
            CorralError: handle_corral_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # see not_found
    app.router.default = not_found
    return app
