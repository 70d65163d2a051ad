"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and breaks streaming)."""

from __future__ import annotations

from random import getrandbits

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def new_request_id() -> str:
    # Not a secret (it is echoed to the client), so no getrandom() system call per request.
    return f"req_{getrandbits(96):024x}"


CLIENT_ID_HEADERS = (b"x-client-request-id", b"x-request-id")


def is_safe_request_id(text: str) -> bool:
    """A client-sent id is echoed only if it is short and harmless in logs and headers."""
    return 0 < len(text) <= 128 and all(c in _SAFE for c in text)


def client_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The correlation id the client sent (``x-client-request-id``, else ``x-request-id``)."""
    found: dict[bytes, str] = {}
    for name, value in headers:
        if name in CLIENT_ID_HEADERS and name not in found:
            text = value.decode("latin-1")
            if is_safe_request_id(text):
                found[name] = text
    return found.get(CLIENT_ID_HEADERS[0]) or found.get(CLIENT_ID_HEADERS[1])


class RequestIdMiddleware:
    """Give every request Corral's own id (x-request-id) and echo the client's as
    x-client-request-id. A client-chosen id never becomes the record's key: reused, it
    would collide with another request's record and hide the request from audit and cost."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        client_id = client_request_id(scope["headers"])
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_request_id"] = client_id
        added = [(b"x-request-id", request_id.encode())]
        if client_id is not None:
            added.append((b"x-client-request-id", client_id.encode()))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, send_with_id)
