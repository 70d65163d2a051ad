"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and breaks streaming)."""

from __future__ import annotations

from random import getrandbits

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def new_request_id() -> str:
    # Not a secret (it is echoed to the client), so no getrandom() system call per request.
    return f"req_{getrandbits(96):024x}"


def is_safe_request_id(text: str) -> bool:
    """A client-sent id is echoed only if it is short and harmless in logs and headers."""
    return 0 < len(text) <= 128 and all(c in _SAFE for c in text)


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if is_safe_request_id(text):
                return text
    return None


class RequestIdMiddleware:
    """Give every request an id (the client's own if it sent a sane one) and echo it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
