"""Every error leaves as the OpenAI error body with the right status."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.render import error_body
from corral.api.responses import json_response
from corral.api.unexpected import log_unexpected
from corral.core.errors import CorralError, InvalidRequest, NotFound


def corral_error_response(exc: CorralError) -> Response:
    return json_response(error_body(exc), status_code=exc.status_code, headers=exc.headers())


async def handle_corral_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CorralError)
    return corral_error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err: CorralError = NotFound(
            f"No route for {request.method} {request.url.path}. See /v1/models and docs/api.md."
        )
    elif exc.status_code == 405:
        err = InvalidRequest(f"Method {request.method} is not allowed on {request.url.path}.")
        err.status_code = 405
    else:
        err = CorralError(str(exc.detail))
        err.status_code = exc.status_code
    return corral_error_response(err)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """One bounded log line with the request id (a tiny request once logged 153 KB)."""
    request_id = request.scope.get("state", {}).get("request_id")
    log_unexpected(exc, f"{request.method} {request.url.path}", request_id)
    return corral_error_response(_internal_error())


class UnexpectedErrors:
    """Pure ASGI middleware: an unexpected exception becomes one log line and a 500 body.

    Why not only `handle_unexpected`: Starlette's outermost ServerErrorMiddleware calls
    that handler and then re-raises, so the server logs the whole traceback again. Placed
    inside RequestIdMiddleware, this catches the exception first, so nothing re-raises.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch_start)
        except Exception as exc:  # noqa: BLE001 - the edge: every error becomes a response
            log_unexpected(exc, f"{scope['method']} {scope['path']}",
                           scope.get("state", {}).get("request_id"))
            if not started:
                await corral_error_response(_internal_error())(scope, receive, send)


def _internal_error() -> CorralError:
    return CorralError(
        "Corral hit an internal error; the request id in x-request-id locates it in the logs."
    )
