"""Pass-through calls to an OpenAI-compatible server: the client's body, sent on as it is.

Only `model` changes (to the deployment's model); a multipart form is written out again with
a boundary of Corral's own. The answer comes back untranslated: a whole body (JSON, text,
audio, images) or, when the server answers with an event stream, its events relayed as they
arrive. Token usage is read where the answer reports it, so the record can be priced.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from typing import Any, Protocol

import orjson

from corral.core.errors import UpstreamConnectionError, UpstreamError
from corral.core.forward import FormPart, ForwardRequest, ForwardResponse, usage_of
from corral.providers.http import HttpClient
from corral.providers.transport.errors import TransportError
from corral.providers.transport.response import Response


class OpenAIUpstream(Protocol):
    """What a pass-through call needs of an OpenAI-dialect adapter (providers/openai.py)."""

    name: str
    http: HttpClient

    @property
    def auth_headers(self) -> dict[str, str]: ...

    def endpoint(self, path: str, model: str) -> str: ...

    def error(self, status: int, headers: dict[str, str], data: bytes) -> UpstreamError: ...

EVENT_STREAM = "text/event-stream"


def _quote(value: str) -> str:
    """A name for a Content-Disposition parameter: quotes and line breaks percent-encoded, the
    way browsers and httpx write them, so a name cannot end the header."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def encode_form(parts: list[FormPart], model: str, boundary: str) -> bytes:
    """The form as multipart/form-data, with `model` set to the deployment's model."""
    out = bytearray()
    for part in parts:
        data = model.encode() if part.name == "model" and not part.is_file else part.data
        disposition = f'form-data; name="{_quote(part.name)}"'
        if part.filename is not None:
            disposition += f'; filename="{_quote(part.filename)}"'
        out += b"--" + boundary.encode() + b"\r\ncontent-disposition: " + disposition.encode() + b"\r\n"
        if part.content_type:
            kind = part.content_type.replace("\r", "").replace("\n", "")
            out += b"content-type: " + kind.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out)


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


async def forward(provider: OpenAIUpstream, request: ForwardRequest) -> ForwardResponse:
    """POST the call to `provider`; the answer, or an UpstreamError for a non-200 status."""
    url = provider.endpoint(request.endpoint, request.model)
    headers = dict(provider.auth_headers)
    body: bytes
    if request.form is not None:
        boundary = "corral-" + secrets.token_hex(12)
        body = encode_form(request.form, request.model, boundary)
        headers["content-type"] = f"multipart/form-data; boundary={boundary}"
    else:
        body = orjson.dumps({**(request.fields or {}), "model": request.model})
        headers["content-type"] = "application/json"
    stack = AsyncExitStack()
    relaying = False
    try:
        resp = await stack.enter_async_context(provider.http.stream(url, body, headers))
        if resp.status != 200:
            raise provider.error(resp.status, resp.headers, await resp.read())
        kind = _header(resp.headers, "content-type") or "application/octet-stream"
        if kind.startswith(EVENT_STREAM):
            answer = ForwardResponse(b"", kind)
            answer.chunks = _Events(_relay(resp, stack, answer, provider.name), stack)
            relaying = True  # the relay closes the response when the stream ends
            return answer
        data = await resp.read()
        usage = usage_of(_json(data)) if kind.startswith("application/json") else None
        return ForwardResponse(data, kind, usage)
    except TransportError as exc:
        raise UpstreamConnectionError(f"Connection to provider '{provider.name}' broke: {exc}",
                                      provider=provider.name) from exc
    finally:
        if not relaying:
            await stack.aclose()


class _Events:
    """The relayed events; `aclose` releases the upstream response even when no event was read
    (an async generator that never started runs no `finally`)."""

    def __init__(self, events: AsyncGenerator[bytes, None], stack: AsyncExitStack) -> None:
        self._events = events
        self._stack = stack

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._events)

    async def aclose(self) -> None:
        await self._events.aclose()
        await self._stack.aclose()


async def _relay(resp: Response, stack: AsyncExitStack, answer: ForwardResponse,
                 provider: str) -> AsyncGenerator[bytes, None]:
    """The server's events, one whole event (up to its blank line) at a time; an event that
    carries `usage` (a completion's last, with stream_options.include_usage) fills in
    `answer.usage` on its way through."""
    event = bytearray()
    try:
        async for line in resp:
            event += line
            if line.startswith(b"data:") and b'"usage"' in line:
                answer.usage = usage_of(_json(line[5:].strip())) or answer.usage
            if line in (b"\n", b"\r\n"):
                yield bytes(event)
                event.clear()
        if event:
            yield bytes(event)
    except TransportError as exc:
        raise UpstreamConnectionError(f"Stream from provider '{provider}' broke: {exc}",
                                      provider=provider) from exc
    finally:
        await stack.aclose()
