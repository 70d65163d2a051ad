"""Authentication at the edge: bearer key -> `Caller`, with the scope checked."""

from __future__ import annotations

from starlette.requests import Request

from corral.core.context import Caller
from corral.core.errors import AuthError, PermissionDenied


def _raw_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return request.headers.get("x-api-key") or request.headers.get("api-key")


async def authenticate(request: Request, scope: str) -> Caller:
    raw = _raw_key(request)
    if not raw:
        raise AuthError(
            "Missing API key. Send it as 'Authorization: Bearer sk-corral-...'; "
            "create one with 'corral keys create'."
        )
    info = await request.app.state.gateway.keys.verify(raw)
    if info is None:
        raise AuthError(
            "Invalid or revoked API key. Check the key, or create a new one with "
            "'corral keys create'."
        )
    if scope not in info.scopes:
        raise PermissionDenied(
            f"This key lacks the '{scope}' scope needed here (it has: "
            f"{', '.join(sorted(info.scopes))})."
        )
    return Caller(info.id, info.name, info.team, info.scopes)


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes without buffering it all first."""
    from corral.core.errors import PayloadTooLarge

    declared = request.headers.get("content-length")
    too_big = PayloadTooLarge(
        f"The request body exceeds the gateway's limit of {limit} bytes; send less "
        "(or raise server.max_body_bytes)."
    )
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)
