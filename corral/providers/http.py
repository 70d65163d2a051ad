"""Pooled HTTP for adapters: a keep-alive HTTP/1.1 client per provider, SSE parsing, error mapping.

The client is small on purpose: asyncio protocols with httptools' response parser (the
llhttp parser uvicorn uses), one pool of keep-alive connections per provider. It does
only what the adapters need (POST/GET with a bytes body; Content-Length, chunked and
read-until-close responses, read whole or line by line as they arrive; gzip/deflate if a
server sends them unasked; TLS through an ssl context). It replaced aiohttp's client,
then the largest share of the gateway's own CPU: in bench/gateway_overhead.py the gateway
spends about 40% less CPU per request with it (compare with
`bench/serve_variant.py --client aiohttp`).

Timeouts: `connect_timeout_s` bounds getting a connection (waiting for a free pool slot
included, as aiohttp's `connect` did); `read_timeout_s` bounds each wait for data from the
server (the gap between reads). A request on a pooled connection that the server had
already closed is sent again once on a new one: a GET if the answer's headers had not
arrived, a POST only if no byte of an answer had. Every transport failure leaves here as
a `corral.core.errors` type, so adapters only handle HTTP statuses.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import orjson

from corral.core.errors import (
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from corral.providers.base import ProviderConfig
from corral.providers.transport.errors import (
    ClientConnectorError,
    ClientPayloadError,
    ResponseError,
    ServerDisconnectedError,
    TransportError,
)
from corral.providers.transport.pool import (
    Pool,
    _request_head,
)
from corral.providers.transport.response import (
    Response,
    _split,
)

if TYPE_CHECKING:  # imported for annotations only (the modules refer to each other)
    from corral.providers.transport.connection import Connection



class HttpClient:
    """A lazily created pool of keep-alive connections bound to one provider's settings."""

    def __init__(self, config: ProviderConfig):
        self.config = config
        self._pool: Pool | None = None

    def session(self) -> Pool:
        """The current pool (made on first use, and anew after `aclose`)."""
        if self._pool is None or self._pool.closed:
            self._pool = Pool(self.config.max_connections, self.config.connect_timeout_s)
        return self._pool

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def post_json(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """POST JSON and read the whole answer; transport failures become upstream errors."""
        async with self._request("POST", url, body, headers) as resp:
            try:
                data = await resp.read()
            except ClientPayloadError as exc:
                raise UpstreamConnectionError(
                    f"Provider '{self.config.name}' closed the connection mid-response: {exc}",
                    provider=self.config.name,
                ) from exc
            return resp.status, resp.headers, data

    async def get_json(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self._request("GET", url, None, headers) as resp:
            return resp.status, await resp.read()

    async def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """Any method with a ready-made body (a multipart upload, a DELETE): (status, body)."""
        async with self._request(method, url, body, headers) as resp:
            try:
                return resp.status, await resp.read()
            except ClientPayloadError as exc:
                raise UpstreamConnectionError(
                    f"Provider '{self.config.name}' closed the connection mid-response: {exc}",
                    provider=self.config.name,
                ) from exc

    @asynccontextmanager
    async def stream(
        self, url: str, body: dict[str, Any] | bytes, headers: dict[str, str]
    ) -> AsyncIterator[Response]:
        async with self._request("POST", url, body, headers) as resp:
            yield resp

    async def _exchange(self, pool: Pool, method: str, url: str, headers: dict[str, str],
                        body: bytes | None) -> tuple[Connection, Response]:
        key, host, target = _split(url)
        head = _request_head(method, host, target, headers, body)
        data = (head, body) if body else (head,)
        read_timeout = self.config.read_timeout_s
        conn = await pool.acquire(key)
        reused = conn.uses > 0
        try:
            return conn, await conn.send(data, read_timeout)
        except (ServerDisconnectedError, ConnectionError):
            pool.release(conn)
            # A pooled connection the server had closed meanwhile: send again on a new one,
            # unless the server may have acted on it (a POST it had begun to answer).
            if not reused or (method != "GET" and conn.received):
                raise
        except BaseException:
            pool.release(conn)
            raise
        conn = await pool.acquire(key, fresh=True)
        try:
            return conn, await conn.send(data, read_timeout)
        except BaseException:
            pool.release(conn)
            raise

    @asynccontextmanager
    async def _request(
        self, method: str, url: str, body: dict[str, Any] | bytes | None, headers: dict[str, str]
    ) -> AsyncIterator[Response]:
        name = self.config.name
        all_headers = {**self.config.headers, **headers}
        data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        if isinstance(body, dict):
            all_headers.setdefault("content-type", "application/json")
        pool = self.session()
        conn: Connection | None = None
        try:
            conn, resp = await self._exchange(pool, method, url, all_headers, data)
            yield resp
        except UpstreamError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"Provider '{name}' did not answer in time ({type(exc).__name__}).", provider=name
            ) from exc
        except ClientConnectorError as exc:
            raise UpstreamConnectionError(
                f"Cannot connect to provider '{name}' at {url}: {exc.os_error}. "
                "Check the provider's base_url and that the server is running.",
                provider=name,
            ) from exc
        except (ClientPayloadError, ServerDisconnectedError, OSError) as exc:
            raise UpstreamConnectionError(
                f"Connection to provider '{name}' broke: {exc}", provider=name
            ) from exc
        except TransportError as exc:
            raise UpstreamConnectionError(
                f"HTTP error talking to provider '{name}': {exc}", provider=name
            ) from exc
        finally:
            if conn is not None:
                pool.release(conn)


async def iter_sse(resp: Response, provider: str) -> AsyncIterator[tuple[str, bytes]]:
    """Yield (event, data) pairs from a server-sent-event stream as they arrive."""
    event = ""
    data: list[bytes] = []
    try:
        async for raw in resp.content:
            line = raw.rstrip(b"\r\n")
            if not line:
                if data:
                    yield event, b"\n".join(data)
                event, data = "", []
                continue
            if line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode()
            # comments (":") and other fields are ignored, as the SSE spec says
    except TimeoutError as exc:  # before OSError, its base class
        raise UpstreamTimeout(f"Stream from provider '{provider}' stalled.", provider=provider) from exc
    except (ClientPayloadError, ServerDisconnectedError, ResponseError, OSError) as exc:
        raise UpstreamConnectionError(
            f"Stream from provider '{provider}' broke off: {exc}", provider=provider
        ) from exc
    if data:
        yield event, b"\n".join(data)


def loads_or_bad(data: bytes, provider: str) -> Any:
    """Parse JSON from a provider; garbage becomes UpstreamBadResponse, not a 500."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        snippet = data[:200].decode(errors="replace")
        raise UpstreamBadResponse(
            f"Provider '{provider}' sent malformed JSON: {snippet!r}", provider=provider
        ) from exc


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    """Read Retry-After (seconds or HTTP date) or OpenAI's reset headers."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        if name in lowered:
            return parse_duration(lowered[name])
    return None


def parse_duration(text: str) -> float | None:
    """Parse OpenAI-style durations such as '1s', '6m0s', '250ms'."""
    total, number = 0.0, ""
    i = 0
    try:
        while i < len(text):
            ch = text[i]
            if ch.isdigit() or ch == ".":
                number += ch
            elif text.startswith("ms", i):
                total += float(number) / 1000
                number = ""
                i += 1
            else:
                total += float(number) * {"s": 1, "m": 60, "h": 3600}[ch]
                number = ""
            i += 1
        return total + (float(number) if number else 0.0)
    except (KeyError, ValueError):
        return None


def error_for_status(
    provider: str,
    status: int,
    message: str,
    headers: dict[str, str],
    code: str | None = None,
) -> UpstreamError:
    """Map an upstream HTTP status to Corral's error tree, keeping the vendor's message."""
    text = f"Provider '{provider}' returned {status}: {message}"
    if status < 400:
        # An unexpected 1xx/2xx/3xx is not the client's fault; as UpstreamRejected it would
        # reach the client with that success status and an error body.
        return UpstreamBadResponse(
            f"Provider '{provider}' answered with unexpected status {status}: {message}",
            provider=provider,
            upstream_status=status,
        )
    if status == 429:
        return UpstreamRateLimited(
            text, retry_after=retry_after_seconds(headers), provider=provider, upstream_status=status
        )
    if status in (408, 504):
        return UpstreamTimeout(text, provider=provider, upstream_status=status)
    if status in (401, 403):
        return UpstreamError(
            f"Provider '{provider}' rejected Corral's credentials ({status}): {message}. "
            "Check the API key environment variable configured for this provider.",
            provider=provider,
            upstream_status=status,
        )
    if status >= 500 or status == 409:
        return UpstreamUnavailable(text, provider=provider, upstream_status=status)
    return UpstreamRejected(
        text, status_code=status, provider=provider, upstream_status=status, code=code
    )
