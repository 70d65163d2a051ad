"""Adapter for Google's Gemini API (`generateContent`, `streamGenerateContent`,
`batchEmbedContents`).

The chat translation lives in `_gemini_wire` as pure functions; this module does the
I/O, embeddings, and maps Google's `{"error": {code, status, message}}` bodies into
Corral's error tree.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import orjson

from corral.core.errors import (
    UpstreamBadResponse,
    UpstreamContextLength,
    UpstreamError,
    UpstreamFields,
    UpstreamRateLimited,
)
from corral.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
)
from corral.providers._gemini_wire import (
    StreamState,
    check_request,
    parse_response,
    parse_usage,
    request_body,
)
from corral.providers.base import Capabilities, Provider, ProviderConfig
from corral.providers.http import (
    HttpClient,
    error_for_status,
    iter_sse,
    loads_or_bad,
    parse_duration,
    retry_after_seconds,
)

__all__ = [
    "GeminiProvider",
    "StreamState",
    "embed_body",
    "map_error",
    "parse_embeddings",
    "parse_response",
    "parse_usage",
    "register_providers",
    "request_body",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"

# google.rpc status -> HTTP status, for errors that arrive inside a 200 stream
RPC_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def map_error(
    provider: str, status: int | None, headers: dict[str, str], body: bytes | Any
) -> UpstreamError:
    """Google API error body -> Corral's error tree."""
    err = _error_object(body)
    message = str(err.get("message") or "(no message)")
    rpc = err.get("status")
    status = status or err.get("code") or RPC_STATUS.get(rpc or "", 500)
    lowered = message.lower()
    kw: UpstreamFields = {"provider": provider, "upstream_status": status}
    details = listed if isinstance(listed := err.get("details"), list) else []
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    if "exceeds the maximum number of tokens" in lowered:
        return UpstreamContextLength(
            f"Provider '{provider}': {message} Shorten the conversation or lower max_tokens.",
            **kw,
        )
    if "API_KEY_INVALID" in reasons or "api key not valid" in lowered:
        return UpstreamError(  # Google answers a bad key with 400 INVALID_ARGUMENT
            f"Provider '{provider}' rejected Corral's credentials: {message} Check the API key "
            "environment variable configured for this provider.",
            **kw,
        )
    if rpc == "RESOURCE_EXHAUSTED" or status == 429:
        return UpstreamRateLimited(
            f"Provider '{provider}' returned 429: {message}",
            retry_after=retry_after_seconds(headers) or _retry_delay(details),
            **kw,
        )
    return error_for_status(provider, status, message, headers, rpc)


def _error_object(body: bytes | Any) -> dict[str, Any]:
    payload = body
    if isinstance(body, bytes):
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return {"message": body[:300].decode(errors="replace") or "(empty body)"}
    if isinstance(payload, list) and payload:  # the non-SSE stream wraps it in an array
        payload = payload[0]
    err = payload.get("error") if isinstance(payload, dict) else None
    return err if isinstance(err, dict) else {"message": str(payload)[:300]}


def _retry_delay(details: list[Any]) -> float | None:
    """google.rpc.RetryInfo carries the wait as a duration string such as '38s'."""
    for d in details:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("RetryInfo"):
            return parse_duration(str(d.get("retryDelay", "")))
    return None


def model_path(model: str) -> str:
    """'gemini-2.5-flash' -> 'models/gemini-2.5-flash'; 'tunedModels/x' stays as is."""
    return model if "/" in model else f"models/{model}"


def embed_body(request: EmbeddingRequest) -> dict[str, Any]:
    path = model_path(request.model)
    rows = []
    for text in request.inputs:
        row: dict[str, Any] = {"model": path, "content": {"parts": [{"text": text}]}}
        if request.dimensions:
            row["outputDimensionality"] = request.dimensions
        rows.append(row)
    return {"requests": rows}


def parse_embeddings(
    payload: dict[str, Any], request: EmbeddingRequest, provider: str
) -> EmbeddingResponse:
    """Gemini reports no token usage for embeddings, so it is estimated and flagged."""
    rows = payload.get("embeddings")
    if not isinstance(rows, list) or len(rows) != len(request.inputs):
        raise UpstreamBadResponse(
            f"Provider '{provider}' returned {len(rows or [])} embeddings for "
            f"{len(request.inputs)} inputs.",
            provider=provider,
        )
    usage = parse_usage(payload.get("usageMetadata"))
    if usage is None:
        usage = Usage(
            input_tokens=sum(math.ceil(len(t) / 4) for t in request.inputs), estimated=True
        )
    return EmbeddingResponse(
        model=request.model, vectors=[r.get("values") or [] for r in rows], usage=usage
    )


class GeminiProvider(Provider):
    """Gemini API adapter (API key auth). Option `json_schema_fields` sends tool and
    response schemas as full JSON Schema rather than Gemini's OpenAPI subset."""

    capabilities = Capabilities(embeddings=True, images=True)

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.base_url = f"{base}/{config.options.get('api_version', 'v1beta')}"
        self.http = HttpClient(config)
        self.json_schema_fields = bool(config.options.get("json_schema_fields", False))
        self._headers = {"x-goog-api-key": config.api_key} if config.api_key else {}

    def check_supported(self, request: ChatRequest) -> None:
        """Base checks, plus parallel_tool_calls=false, which Gemini cannot enforce."""
        super().check_supported(request)
        check_request(request, where=f"provider '{self.name}' ({self.config.type})")

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        self.check_supported(request)
        return request_body(request, json_schema_fields=self.json_schema_fields)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = self._body(request)
        url = f"{self.base_url}/{model_path(request.model)}:generateContent"
        status, headers, data = await self.http.post_json(url, body, self._headers)
        if status != 200:
            raise map_error(self.name, status, headers, data)
        return parse_response(loads_or_bad(data, self.name), self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = self._body(request)
        url = f"{self.base_url}/{model_path(request.model)}:streamGenerateContent?alt=sse"
        async with self.http.stream(url, body, self._headers) as resp:
            if resp.status != 200:
                raise map_error(self.name, resp.status, dict(resp.headers), await resp.read())
            state = StreamState(self.name)
            async for _event, data in iter_sse(resp, self.name):
                payload = loads_or_bad(data, self.name)
                if not isinstance(payload, dict):
                    continue
                if "error" in payload:
                    raise map_error(self.name, None, dict(resp.headers), payload)
                for chunk in state.feed(payload):
                    yield chunk
            if not state.finished:
                raise UpstreamBadResponse(
                    f"Stream from provider '{self.name}' ended without a finish reason; the "
                    "answer is incomplete.",
                    provider=self.name,
                )
            if state.usage is not None:
                yield ChatChunk(usage=state.usage)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        url = f"{self.base_url}/{model_path(request.model)}:batchEmbedContents"
        status, headers, data = await self.http.post_json(url, embed_body(request), self._headers)
        if status != 200:
            raise map_error(self.name, status, headers, data)
        return parse_embeddings(loads_or_bad(data, self.name), request, self.name)

    async def aclose(self) -> None:
        await self.http.aclose()


def register_providers(register: Any) -> None:
    register("gemini", GeminiProvider)
