"""The aiohttp-based HttpClient Corral used before its own client (benchmark comparisons only).

`python bench/serve_variant.py --client aiohttp` swaps it in, so the difference in gateway
CPU per request can be measured again in one run of bench/gateway_overhead.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from corral.core.errors import UpstreamConnectionError, UpstreamError, UpstreamTimeout
from corral.providers.base import ProviderConfig


class AiohttpHttpClient:
    """A lazily created, pooled aiohttp session bound to one provider's settings."""

    def __init__(self, config: ProviderConfig):
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections, keepalive_timeout=60, ttl_dns_cache=300
            )
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self.config.connect_timeout_s,
                sock_read=self.config.read_timeout_s,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                json_serialize=lambda o: orjson.dumps(o).decode(),
                auto_decompress=True,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post_json(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """POST JSON and read the whole answer; transport failures become upstream errors."""
        async with self._request("POST", url, body, headers) as resp:
            try:
                data = await resp.read()
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
                raise UpstreamConnectionError(
                    f"Provider '{self.config.name}' closed the connection mid-response: {exc}",
                    provider=self.config.name,
                ) from exc
            return resp.status, dict(resp.headers), data

    async def get_json(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self._request("GET", url, None, headers) as resp:
            return resp.status, await resp.read()

    @asynccontextmanager
    async def stream(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        async with self._request("POST", url, body, headers) as resp:
            yield resp

    @asynccontextmanager
    async def _request(
        self, method: str, url: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        name = self.config.name
        all_headers = {**self.config.headers, **headers}
        data = orjson.dumps(body) if body is not None else None
        if data is not None:
            all_headers.setdefault("content-type", "application/json")
        try:
            async with self.session().request(method, url, data=data, headers=all_headers) as resp:
                yield resp
        except UpstreamError:
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(
                f"Provider '{name}' did not answer in time ({type(exc).__name__}).", provider=name
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamConnectionError(
                f"Cannot connect to provider '{name}' at {url}: {exc.os_error}. "
                "Check the provider's base_url and that the server is running.",
                provider=name,
            ) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                aiohttp.ClientOSError) as exc:
            raise UpstreamConnectionError(
                f"Connection to provider '{name}' broke: {exc}", provider=name
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"HTTP error talking to provider '{name}': {exc}", provider=name
            ) from exc


