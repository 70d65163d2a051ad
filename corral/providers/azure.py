"""Adapter for Azure OpenAI: OpenAI's wire format, Azure's URLs, keys, tokens and errors.

The bodies are OpenAI's, so this subclasses `OpenAIProvider` and changes only what Azure does
differently:

- URLs. A route deployment's `model` is the Azure *deployment name*. The classic API puts it in
  the path, `{base_url}/openai/deployments/{deployment}/chat/completions?api-version=...`; the
  newer v1 API (`options.api: v1`) is `{base_url}/openai/v1/chat/completions` with the name in
  the body, as OpenAI's.
- Auth. The `api-key` header (key from `api_key_env`, default AZURE_OPENAI_API_KEY), or with
  `options.auth: entra` a Microsoft Entra ID bearer token (providers/azure_auth.py), fetched
  again once when Azure answers 401.
- Errors. Azure's content filter refuses with 400 `code: content_filter` and says which
  categories fired in `innererror.content_filter_result`: the category goes into the
  ContentPolicyViolation (and so into policy events).

Prices: a deployment name says nothing of the model behind it; see docs/cost.md ("Azure
OpenAI") for `pricing.deployments.<provider/deployment>.price_as`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson

from corral.core.errors import (
    ContentPolicyViolation,
    CorralError,
    UpstreamError,
)
from corral.core.forward import ForwardRequest, ForwardResponse
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse
from corral.providers.azure_auth import TokenSource, token_source
from corral.providers.base import ProviderConfig
from corral.providers.native_batch import NativeBatchAPI
from corral.providers.openai import OpenAIProvider
from corral.providers.scrub import credentials_of, scrub_error

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA of the classic data-plane inference API
DEFAULT_KEY_ENV = "AZURE_OPENAI_API_KEY"  # the variable the openai SDK's AzureOpenAI reads too
APIS = ("deployments", "v1")
AUTHS = ("key", "entra")


def azure_base_url(config: ProviderConfig) -> str:
    """`https://{resource}.openai.azure.com`, from base_url or options.resource, without a
    trailing `/openai[/v1]` (the adapter adds the path of the API it speaks)."""
    url = config.base_url or ""
    resource = config.options.get("resource")
    if not url and resource:
        url = f"https://{resource}.openai.azure.com"
    if not url:
        raise ValueError(
            f"provider '{config.name}' (type azure) needs base_url: https://RESOURCE.openai.azure.com "
            "(or options.resource: RESOURCE)"
        )
    url = url.rstrip("/")
    for tail in ("/openai/v1", "/openai"):
        url = url.removesuffix(tail)
    return url


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI deployments (classic API or v1); see the module docstring."""

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        options = config.options
        self.api = str(options.get("api") or "deployments")
        self.auth = str(options.get("auth") or "key")
        if self.api not in APIS:
            raise ValueError(f"provider '{self.name}': options.api must be one of {', '.join(APIS)}")
        if self.auth not in AUTHS:
            raise ValueError(f"provider '{self.name}': options.auth must be one of {', '.join(AUTHS)}")
        self.base_url = azure_base_url(config)
        version = options.get("api_version")
        self.api_version = str(version) if version else (DEFAULT_API_VERSION if self.api != "v1" else None)
        # Azure accepts max_completion_tokens on every model since 2024-09-01 (reasoning models need it).
        self.max_tokens_field = options.get("max_tokens_field") or "max_completion_tokens"
        self.tokens: TokenSource | None = None
        self._key = ""
        if self.auth == "entra":
            self.tokens = token_source(config)
            self._headers = {}
        else:
            self._key = config.api_key or os.environ.get(DEFAULT_KEY_ENV, "")
            self._headers = {"api-key": self._key} if self._key else {}
        self._query = f"?api-version={quote(self.api_version, safe='')}" if self.api_version else ""

    def endpoint(self, path: str, model: str) -> str:
        if self.api == "v1":
            return f"{self.base_url}/openai/v1{path}{self._query}"
        return f"{self.base_url}/openai/deployments/{quote(model, safe='')}{path}{self._query}"

    @property
    def native_batch(self) -> NativeBatchAPI | None:
        """Azure's batch API (global-batch deployments, its own file store) is not wired in."""
        return None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        for retry in (False, True):
            token = await self._authorize()
            try:
                return await super().complete(request)
            except UpstreamError as exc:
                if retry or not self._token_refused(exc, token):
                    raise
        raise AssertionError("unreachable")

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        for retry in (False, True):
            token = await self._authorize()
            started = False
            chunks = super().stream(request)
            try:
                async for chunk in chunks:
                    started = True
                    yield chunk
                return
            except UpstreamError as exc:
                if started or retry or not self._token_refused(exc, token):
                    raise
            finally:
                await chunks.aclose()  # type: ignore[attr-defined]  # an async generator

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        for retry in (False, True):
            token = await self._authorize()
            try:
                return await super().embed(request)
            except UpstreamError as exc:
                if retry or not self._token_refused(exc, token):
                    raise
        raise AssertionError("unreachable")

    async def forward(self, request: ForwardRequest) -> ForwardResponse:
        for retry in (False, True):
            token = await self._authorize()
            try:
                return await super().forward(request)
            except UpstreamError as exc:
                if retry or not self._token_refused(exc, token):
                    raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await super().aclose()
        if self.tokens is not None:
            await self.tokens.aclose()

    async def _authorize(self) -> str:
        """Put a current Entra ID token in the headers and return it ("" with an api-key)."""
        if self.tokens is None:
            return ""
        token = await self.tokens.get()
        if self._headers.get("authorization") != f"Bearer {token}":
            self._headers = {"authorization": f"Bearer {token}"}
        return token

    def _token_refused(self, exc: UpstreamError, token: str) -> bool:
        """A 401 with a token that can be fetched anew: forget it, and the caller tries once more."""
        if exc.upstream_status != 401 or self.tokens is None or not self.tokens.refreshable:
            return False
        self.tokens.invalidate(token)
        return True

    def _scrub(self, exc: CorralError) -> None:
        """Besides the configured key and headers: the api-key, Entra tokens and client secret."""
        known = credentials_of(self._key or self.config.api_key, self.config.headers)
        if self.tokens is not None:
            known = tuple(sorted({*known, *self.tokens.secrets()}, key=len, reverse=True))
        scrub_error(exc, known)

    def _error(self, status: int, headers: dict[str, str], data: bytes) -> UpstreamError:
        err = super()._error(status, headers, data)
        if isinstance(err, ContentPolicyViolation):
            fired = filtered_categories(data)
            if fired:
                err.category = f"content_filter:{','.join(fired)}"
                _append(err, f"(filtered: {', '.join(fired)})")
        elif status == 404 and err.code == "DeploymentNotFound":
            _append(err, f"Check that a deployment of this name exists on {self.base_url} (a route "
                         "deployment's model is the Azure deployment name).")
        return err


def _append(err: UpstreamError, text: str) -> None:
    err.message = f"{err.message} {text}"
    err.args = (err.message, *err.args[1:])


def filtered_categories(data: bytes) -> list[str]:
    """The content-filter categories Azure says fired (`filtered: true`), from an error body."""
    try:
        error = orjson.loads(data).get("error") or {}
        result: Any = (error.get("innererror") or {}).get("content_filter_result") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return []
    if not isinstance(result, dict):
        return []
    return sorted(name for name, verdict in result.items()
                  if isinstance(verdict, dict) and verdict.get("filtered") is True)


def register_providers(register: Any) -> None:
    """Azure OpenAI (classic deployments API and v1)."""
    register("azure", AzureOpenAIProvider)
