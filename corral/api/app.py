"""The ASGI application: routes and error handlers; the gateway lives in app.state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from corral.api import admin, chat, health, models
from corral.api.errors import handle_corral_error, handle_http_exception, handle_unexpected
from corral.api.middleware import RequestIdMiddleware
from corral.config import Settings
from corral.core.errors import CorralError
from corral.gateway import Gateway

ROUTES = [
    Route("/v1/chat/completions", chat.chat_completions, methods=["POST"]),
    Route("/v1/embeddings", models.embeddings, methods=["POST"]),
    Route("/v1/models", models.list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", models.get_model, methods=["GET"]),
    Route("/admin/keys", admin.list_keys, methods=["GET"]),
    Route("/admin/keys", admin.create_key, methods=["POST"]),
    Route("/admin/keys/{key_id}", admin.revoke_key, methods=["DELETE"]),
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
]


def create_app(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    warmup: bool = True,
    on_start: Callable[[Gateway], None] | None = None,
) -> Starlette:
    """Build the app. Pass a started `gateway` to share one (tests); else it starts in lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = gateway is None
        app.state.gateway = gateway or await Gateway.start(settings, warmup=warmup)
        if on_start is not None:
            on_start(app.state.gateway)
        try:
            yield
        finally:
            if owned:
                await app.state.gateway.stop()

    return Starlette(
        routes=ROUTES,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={
            CorralError: handle_corral_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
