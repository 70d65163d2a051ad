"""A small client of a running gateway's public Batch and Files API, for `corral batch`.

Why over HTTP and not on the database like `corral costs`: submitting needs the gateway's
file limits, validation and team ownership, and the person at the terminal may hold only
an inference key for a gateway on another machine. Why aiohttp: it is already the
gateway's HTTP client (the openai SDK is only a test dependency), so the command adds no
second one.

Every failure is a `BatchClientError` whose message says what to do next: start a
gateway, set a key variable, look at `corral batch list`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "CORRAL_URL"
KEY_ENV = "CORRAL_API_KEY"
#: Read only when it holds a Corral key: it is also the gateway's own variable for the key
#: of its upstream OpenAI provider, which must not be sent to a gateway by mistake.
OPENAI_KEY_ENV = "OPENAI_API_KEY"
CORRAL_KEY_PREFIX = "sk-corral-"
CHUNK_BYTES = 64 * 1024


class BatchClientError(Exception):
    """A request that did not give what was asked, said so that a person can act on it."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def default_key() -> str | None:
    """$CORRAL_API_KEY, else $OPENAI_API_KEY when it is a Corral key (sk-corral-...)."""
    key = os.environ.get(KEY_ENV)
    if key:
        return key
    other = os.environ.get(OPENAI_KEY_ENV, "")
    return other if other.startswith(CORRAL_KEY_PREFIX) else None


def _server_message(body: bytes) -> str:
    """The OpenAI error body's message, or the start of whatever came back."""
    try:
        data = orjson.loads(body)
        message = data["error"]["message"]
        if isinstance(message, str):
            return message
    except (orjson.JSONDecodeError, KeyError, TypeError):
        pass
    return body[:200].decode("utf-8", "replace").strip() or "(empty body)"


class BatchClient:
    """One session with the gateway at `url`; use as `async with BatchClient(...) as client`."""

    def __init__(self, url: str, key: str | None, *, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self._timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> BatchClient:
        if not self.key:
            raise BatchClientError(
                f"No API key. Set {KEY_ENV} to a key with the inference scope (create one with "
                "`corral keys create --name NAME`), or pass --key.")
        headers = {"Authorization": f"Bearer {self.key}", "User-Agent": "corral-cli"}
        self._session = aiohttp.ClientSession(headers=headers, timeout=self._timeout)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()

    # -- the API -------------------------------------------------------------------------

    async def upload(self, path: Path) -> dict[str, Any]:
        """Upload a JSONL file with purpose `batch` (streamed: the file is not read into memory)."""
        with path.open("rb") as handle:
            form = aiohttp.FormData()
            form.add_field("purpose", "batch")  # before the file: a refusal comes before the upload
            form.add_field("file", handle, filename=path.name, content_type="application/jsonl")
            return await self._json("POST", "/v1/files", data=form)

    async def create(self, file_id: str, endpoint: str, metadata: dict[str, str] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}
        if metadata:
            body["metadata"] = metadata
        return await self._json("POST", "/v1/batches", json=body)

    async def get(self, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/v1/batches/{quote(batch_id, safe='')}", batch_id=batch_id)

    async def list(self, limit: int, after: str | None = None) -> dict[str, Any]:
        params = {"limit": str(limit), **({"after": after} if after else {})}
        return await self._json("GET", "/v1/batches", params=params)

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/v1/batches/{quote(batch_id, safe='')}/cancel", batch_id=batch_id)

    async def content(self, file_id: str) -> AsyncIterator[bytes]:
        """A file's bytes in chunks, as they arrive (an output file can be large)."""
        async with self._response("GET", f"/v1/files/{quote(file_id, safe='')}/content") as resp:
            async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                yield chunk

    # -- plumbing ------------------------------------------------------------------------

    @asynccontextmanager
    async def _response(self, method: str, path: str, batch_id: str | None = None,
                        **kw: Any) -> AsyncIterator[aiohttp.ClientResponse]:
        """A successful response, or a `BatchClientError` saying what went wrong and what to do."""
        assert self._session is not None, "use BatchClient in `async with`"
        try:
            async with self._session.request(method, self.url + path, **kw) as resp:
                if resp.status >= 400:
                    message = _server_message(await resp.read())
                    raise BatchClientError(self._advice(resp.status, message, batch_id), resp.status)
                yield resp
        except aiohttp.InvalidURL as exc:
            raise BatchClientError(f"{self.url!r} is not a gateway URL ({exc}); pass --url "
                                   f"http://HOST:PORT or set {URL_ENV}.") from None
        except aiohttp.ClientConnectorError as exc:
            raise BatchClientError(
                f"No Corral gateway is reachable at {self.url} ({exc.os_error.strerror or exc}). Start one "
                f"with `corral serve` (it listens on {DEFAULT_URL} by default), or point --url or "
                f"{URL_ENV} at a running gateway.") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BatchClientError(f"The connection to {self.url} failed during {method} {path} "
                                   f"({exc.__class__.__name__}: {exc}); try again.") from None

    async def _json(self, method: str, path: str, *, batch_id: str | None = None,
                    **kw: Any) -> dict[str, Any]:
        async with self._response(method, path, batch_id, **kw) as resp:
            body = await resp.read()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise BatchClientError(f"{self.url} answered {path} with something other than a JSON object; "
                                   f"is it a Corral gateway? Check --url or {URL_ENV}.")
        return data

    def _advice(self, status: int, message: str, batch_id: str | None) -> str:
        if status == 401:
            return (f"The gateway at {self.url} refused the API key ({message}). Set {KEY_ENV} to a valid "
                    "Corral key (`corral keys create --name NAME` makes one), or pass --key.")
        if status == 403:
            return (f"The key may not use batches ({message}). Use a key with the inference scope "
                    f"in {KEY_ENV} or --key.")
        if status == 404 and batch_id is not None:
            return (f"No batch {batch_id!r} for your team: a batch is visible only to keys of the team "
                    "that created it. `corral batch list` shows your team's batches.")
        return f"The gateway answered {status}: {message}"
