"""Adapter for Anthropic's Messages API (`POST /v1/messages`).

The translation itself lives in `_anthropic_wire` as pure functions; this module does
the I/O and maps Anthropic's typed errors (HTTP bodies and mid-stream `error` events)
into Corral's error tree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from corral.core.errors import (
    ContentPolicyViolation,
    UpstreamBadResponse,
    UpstreamContextLength,
    UpstreamError,
    UpstreamFields,
)
from corral.core.types import ChatChunk, ChatRequest, ChatResponse
from corral.providers._anthropic_stream import StreamState
from corral.providers._anthropic_wire import (
    ERROR_STATUS,
    NATIVE_PARAMS,
    check_request,
    parse_response,
    parse_usage,
    request_body,
)
from corral.providers.anthropic_batch import AnthropicBatchAPI
from corral.providers.base import Capabilities, Provider, ProviderConfig
from corral.providers.http import HttpClient, error_for_status, iter_sse, loads_or_bad
from corral.providers.native_batch import NativeBatchAPI

__all__ = [
    "AnthropicProvider",
    "StreamState",
    "map_error",
    "parse_response",
    "parse_usage",
    "register_providers",
    "request_body",
]

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"

_CONTEXT_PHRASES = ("prompt is too long", "exceed context limit", "context window")
_POLICY_PHRASES = ("content filtering", "content policy", "usage policy", "usage policies")


def map_error(
    provider: str, status: int | None, headers: dict[str, str], body: bytes | dict[str, Any]
) -> UpstreamError:
    """Anthropic `{"type":"error","error":{type,message}}` -> Corral's error tree."""
    etype, message = _error_fields(body)
    if not status:
        status = ERROR_STATUS.get(etype or "", 500)
    kw: UpstreamFields = {"provider": provider, "upstream_status": status}
    lowered = message.lower()
    if etype == "invalid_request_error" or status == 400:
        if any(p in lowered for p in _CONTEXT_PHRASES):
            return UpstreamContextLength(
                f"Provider '{provider}': {message}. Shorten the conversation or lower "
                "max_tokens.",
                **kw,
            )
        if any(p in lowered for p in _POLICY_PHRASES):
            return ContentPolicyViolation(
                f"Provider '{provider}' refused the request under its content policy: {message}",
                category=etype,
                **kw,
            )
    return error_for_status(provider, status, message, headers, etype)


def _error_fields(body: bytes | dict[str, Any]) -> tuple[str | None, str]:
    payload: Any = body
    if isinstance(body, bytes):
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None, body[:300].decode(errors="replace") or "(empty body)"
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict):
        return None, str(payload)[:300]
    return err.get("type"), str(err.get("message") or err.get("type") or "(no message)")


class AnthropicProvider(Provider):
    """Messages API adapter. json_schema output is opt-in (`structured_outputs` option)
    because only recent Claude models accept `output_config.format`."""

    capabilities = Capabilities(images=True, response_format=False)
    native_params = NATIVE_PARAMS

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        self.base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.http = HttpClient(config)
        self.structured_outputs = bool(config.options.get("structured_outputs", False))
        self.default_max_tokens = int(config.options.get("default_max_tokens", 4096))
        if self.structured_outputs:
            self.capabilities = Capabilities(images=True, response_format=True)
        self._headers = {
            "anthropic-version": str(config.options.get("anthropic_version", ANTHROPIC_VERSION))
        }
        if config.api_key:
            self._headers["x-api-key"] = config.api_key
        self._native = AnthropicBatchAPI(self, self.http, self.base_url, self._headers)

    @property
    def native_batch(self) -> NativeBatchAPI | None:
        """Anthropic's Message Batches API (`/v1/messages/batches`)."""
        return self._native

    # The wire format, for the batch API (providers/anthropic_batch.py) as for the calls below.
    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        return self._body(request, stream=False)

    def parse_chat(self, payload: Any) -> ChatResponse:
        return parse_response(payload, self.name)

    def error(self, status: int | None, body: dict[str, Any]) -> UpstreamError:
        return map_error(self.name, status, {}, body)

    def check_supported(self, request: ChatRequest) -> None:
        """Base checks, plus seed, json_object and temperature > 1, which Anthropic lacks."""
        super().check_supported(request)
        check_request(
            request,
            structured_outputs=self.structured_outputs,
            where=f"provider '{self.name}' ({self.config.type})",
        )

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        self.check_supported(request)
        return request_body(
            request,
            stream=stream,
            default_max_tokens=self.default_max_tokens,
            structured_outputs=self.structured_outputs,
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = self._body(request, stream=False)
        status, headers, data = await self.http.post_json(
            f"{self.base_url}/v1/messages", body, self._headers
        )
        if status != 200:
            raise map_error(self.name, status, headers, data)
        payload = loads_or_bad(data, self.name)
        if isinstance(payload, dict) and payload.get("type") == "error":
            raise map_error(self.name, None, headers, payload)
        return parse_response(payload, self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = self._body(request, stream=True)
        async with self.http.stream(f"{self.base_url}/v1/messages", body, self._headers) as resp:
            if resp.status != 200:
                raise map_error(self.name, resp.status, dict(resp.headers), await resp.read())
            state = StreamState()
            async for _event, data in iter_sse(resp, self.name):
                event = loads_or_bad(data, self.name)
                if not isinstance(event, dict):
                    continue
                if event.get("type") == "error":
                    raise map_error(self.name, None, dict(resp.headers), event)
                for chunk in state.feed(event):
                    yield chunk
                if state.finished:
                    break
            if not state.finished:
                raise UpstreamBadResponse(
                    f"Stream from provider '{self.name}' ended before message_stop; the "
                    "answer is incomplete.",
                    provider=self.name,
                )
            yield ChatChunk(usage=state.usage)

    async def aclose(self) -> None:
        await self.http.aclose()


def register_providers(register: Any) -> None:
    register("anthropic", AnthropicProvider)
