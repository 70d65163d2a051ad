"""Authentication at the edge: bearer key -> `Caller`, with the permission checked.

The checks work on raw values so the chat hot path (a plain ASGI handler) and the
Starlette routes share them; `authenticate` and `read_body` are the Starlette forms.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import ClientDisconnect, Request

from corral.auth.roles import allows, roles_granting
from corral.core.context import Caller
from corral.core.errors import AuthError, InvalidRequest, PayloadTooLarge, PermissionDenied


def key_from_values(authorization: str | None, x_api_key: str | None, api_key: str | None) -> str | None:
    """The presented key: a bearer token, else `x-api-key`, else `api-key`."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return x_api_key or api_key


def _raw_key(request: Request) -> str | None:
    headers = request.headers
    return key_from_values(headers.get("authorization"), headers.get("x-api-key"), headers.get("api-key"))


# One database lookup per key at a time: when the verification cache entry of a busy key
# expires, every request in flight would otherwise miss together and each open a database
# connection for the same row. Followers wait for the leader's answer instead.
class _Flight:
    __slots__ = ("info", "waiters")

    def __init__(self) -> None:
        self.info: Any = _PENDING
        self.waiters: list[asyncio.Future[None]] = []


_PENDING = object()
_inflight: dict[tuple[int, str], _Flight] = {}


async def _verify_once(keys: Any, raw: str) -> Any:
    slot = (id(keys), raw)
    flight = _inflight.get(slot)
    if flight is not None:
        waiter = asyncio.get_running_loop().create_future()
        flight.waiters.append(waiter)
        await waiter
        if flight.info is not _PENDING:
            return flight.info
        return await keys.verify(raw)  # the leader failed or was cancelled: look it up here
    flight = _inflight[slot] = _Flight()
    try:
        flight.info = await keys.verify(raw)
    finally:
        del _inflight[slot]
        for waiter in flight.waiters:
            if not waiter.done():
                waiter.set_result(None)
    return flight.info


async def verify_key(gateway: Any, raw: str | None, permission: str | None) -> Caller:
    """Resolve a raw key to its caller, or raise the 401 (no such key) or 403 (its roles do not
    grant ``permission``, a name from corral.auth.roles.PERMISSIONS) the client should see.
    ``None`` asks only that the key be valid (``GET /admin/whoami``)."""
    if not raw:
        raise AuthError(
            "Missing API key. Send it as 'Authorization: Bearer sk-corral-...'; "
            "create one with 'corral keys create'."
        )
    info = await _verify_once(gateway.keys, raw)
    if info is None:
        raise AuthError(
            "Invalid or revoked API key. Check the key, or create a new one with "
            "'corral keys create'."
        )
    if permission is not None and not allows(info.scopes, permission):
        raise PermissionDenied(
            f"This key lacks the '{permission}' permission needed here, which the role(s) "
            f"{', '.join(roles_granting(permission))} grant; the key's roles: "
            f"{', '.join(sorted(info.scopes))}. Use a key with one of those roles (docs/roles.md)."
        )
    return Caller(info.id, info.name, info.team, info.scopes,
                  own_key_only=gateway.settings.ownership == "key")


async def authenticate(request: Request, permission: str | None) -> Caller:
    """The caller, when its key's roles grant ``permission`` (see corral.auth.roles)."""
    return await verify_key(request.app.state.gateway, _raw_key(request), permission)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body exceeds the gateway's limit of {limit} bytes; send less "
        "(or raise server.max_body_bytes)."
    )


def check_declared_length(declared: str | None, limit: int) -> None:
    """Refuse early when Content-Length already says the body is too big."""
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)


class BodyIncomplete(InvalidRequest):
    """The client left, or the server's body deadline closed it, before the body was whole.

    An ordinary error, not an unexpected one: nobody reads its answer, and a client that
    stops sending is not a server fault worth a traceback (the edge answers 408 itself).
    """

    status_code = 408


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes without buffering it all first."""
    check_declared_length(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyIncomplete("The connection closed before the request body was complete.") from None
    return b"".join(chunks)
