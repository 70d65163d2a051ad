"""Adapter for the OpenAI chat-completions wire format.

Serves OpenAI itself and every OpenAI-compatible server (vLLM, llama.cpp server,
Ollama, LM Studio, ...): anything with a base URL ending in `/v1`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from corral.core.errors import (
    ContentPolicyViolation,
    UpstreamBadResponse,
    UpstreamContextLength,
    UpstreamError,
    UpstreamFields,
)
from corral.core.forward import ForwardRequest, ForwardResponse
from corral.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ContentPart,
    EmbeddingRequest,
    EmbeddingResponse,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from corral.providers.base import Capabilities, Provider, ProviderConfig
from corral.providers.http import HttpClient, error_for_status, iter_sse, loads_or_bad
from corral.providers.native_batch import NativeBatchAPI
from corral.providers.openai_batch import OpenAIBatchAPI
from corral.providers.openai_forward import forward

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(Provider):
    capabilities = Capabilities(embeddings=True, images=True, passthrough_params=True, forward=True)

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        self.base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.http = HttpClient(config)
        # OpenAI's reasoning models reject the legacy `max_tokens`; many compatible
        # servers only know it. Option `max_tokens_field` overrides the per-type default.
        self.max_tokens_field = config.options.get("max_tokens_field") or (
            "max_completion_tokens" if config.type == "openai" else "max_tokens"
        )
        self._headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._native: OpenAIBatchAPI | None = None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = request_body(request, stream=False, max_tokens_field=self.max_tokens_field)
        status, headers, data = await self.http.post_json(
            self.endpoint("/chat/completions", request.model), body, self._headers
        )
        if status != 200:
            raise self._error(status, headers, data)
        return parse_response(loads_or_bad(data, self.name), self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = request_body(request, stream=True, max_tokens_field=self.max_tokens_field)
        url = self.endpoint("/chat/completions", request.model)
        finished = False
        async with self.http.stream(url, body, self._headers) as resp:
            if resp.status != 200:
                raise self._error(resp.status, dict(resp.headers), await resp.read())
            async for _event, data in iter_sse(resp, self.name):
                if data == b"[DONE]":
                    return
                payload = loads_or_bad(data, self.name)
                if not isinstance(payload, dict):
                    raise UpstreamBadResponse(
                        f"Provider '{self.name}' sent a stream event that is not a JSON object: "
                        f"{data[:200].decode(errors='replace')!r}",
                        provider=self.name,
                    )
                if "error" in payload:
                    raise self._error(500, {}, data)
                for chunk in parse_chunk(payload, self.name):
                    finished = finished or chunk.finish_reason is not None
                    yield chunk
        if not finished:
            # The connection ended cleanly but the answer is cut short: no [DONE] and no
            # finish_reason. Passing it on as complete would hand the client a truncated reply.
            raise UpstreamBadResponse(
                f"Stream from provider '{self.name}' ended without [DONE] or a finish_reason; "
                "the response is incomplete.",
                provider=self.name,
            )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        status, headers, data = await self.http.post_json(
            self.endpoint("/embeddings", request.model), embeddings_body(request), self._headers
        )
        if status != 200:
            raise self._error(status, headers, data)
        return parse_embeddings(loads_or_bad(data, self.name), request, self.name)

    async def forward(self, request: ForwardRequest) -> ForwardResponse:
        return await forward(self, request)

    @property
    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a call (the batch API and pass-through calls send them)."""
        return self._headers

    def endpoint(self, path: str, model: str) -> str:
        """The URL of `path` (`/chat/completions`, `/embeddings`) for `model`: a hook for upstreams
        that put the model in the URL (Azure OpenAI's deployments, providers/azure.py)."""
        return self.base_url + path

    @property
    def native_batch(self) -> NativeBatchAPI | None:
        """OpenAI's Files + Batches API: on `type: openai`, and on an OpenAI-compatible server
        whose operator says it has one (`options.native_batch: true`)."""
        if self._native is None and (self.config.type == "openai" or self.config.options.get("native_batch")):
            self._native = OpenAIBatchAPI(self, self.http, self.base_url, self._headers)
        return self._native

    # The wire format, for the batch API (providers/openai_batch.py) as for the calls above.
    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        return request_body(request, stream=False, max_tokens_field=self.max_tokens_field)

    def parse_chat(self, payload: Any) -> ChatResponse:
        return parse_response(payload, self.name)

    def embeddings_body(self, request: EmbeddingRequest) -> dict[str, Any]:
        return embeddings_body(request)

    def parse_embeddings(self, payload: Any, request: EmbeddingRequest) -> EmbeddingResponse:
        return parse_embeddings(payload, request, self.name)

    def error(self, status: int, headers: dict[str, str], data: bytes) -> UpstreamError:
        return self._error(status, headers, data)

    async def aclose(self) -> None:
        await self.http.aclose()

    def _error(self, status: int, headers: dict[str, str], data: bytes) -> UpstreamError:
        message, code = _error_fields(data)
        kw: UpstreamFields = {"provider": self.name, "upstream_status": status}
        if code == "context_length_exceeded" or "maximum context length" in message:
            return UpstreamContextLength(f"Provider '{self.name}': {message}", **kw)
        if code in ("content_policy_violation", "content_filter"):
            return ContentPolicyViolation(
                f"Provider '{self.name}' refused the request under its content policy: {message}",
                category=code,
                **kw,
            )
        return error_for_status(self.name, status, message, headers, code)


def _error_fields(data: bytes) -> tuple[str, str | None]:
    try:
        import orjson

        err = orjson.loads(data).get("error") or {}
        if isinstance(err, str):
            return err, None
        return str(err.get("message") or data[:300].decode(errors="replace")), err.get("code")
    except Exception:  # noqa: BLE001 - any non-JSON error body is reported verbatim
        return data[:300].decode(errors="replace") or "(empty body)", None


def _content_wire(content: str | list[ContentPart] | None) -> Any:
    if content is None or isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for p in content:
        if isinstance(p, TextPart):
            parts.append({"type": "text", "text": p.text})
        elif isinstance(p, ImagePart):
            image: dict[str, Any] = {"url": p.url}
            if p.detail:
                image["detail"] = p.detail
            parts.append({"type": "image_url", "image_url": image})
    return parts


def _message_wire(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": _content_wire(m.content)}
    if m.name:
        out["name"] = m.name
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


def request_body(
    request: ChatRequest, *, stream: bool, max_tokens_field: str = "max_tokens"
) -> dict[str, Any]:
    """Canonical request -> OpenAI JSON. Unknown OpenAI params in `extra` pass through."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_message_wire(m) for m in request.messages],
    }
    for name in ("temperature", "top_p", "stop", "seed", "user", "response_format",
                 "tool_choice", "parallel_tool_calls"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.max_tokens is not None:
        body[max_tokens_field] = request.max_tokens
    if request.tools:
        body["tools"] = [_tool_wire(t) for t in request.tools]
    body.update(request.extra)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # always: usage feeds cost records
    return body


def _tool_wire(tool: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        fn["description"] = tool.description
    if tool.parameters is not None:
        fn["parameters"] = tool.parameters
    if tool.strict is not None:
        fn["strict"] = tool.strict
    return {"type": "function", "function": fn}


def parse_usage(raw: dict[str, Any] | None) -> Usage | None:
    if not raw:
        return None
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=raw.get("prompt_tokens") or 0,
        output_tokens=raw.get("completion_tokens") or 0,
        cached_tokens=prompt_details.get("cached_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


def parse_response(payload: dict[str, Any], provider: str) -> ChatResponse:
    try:
        choice = payload["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise UpstreamBadResponse(
            f"Provider '{provider}' answered without choices: {str(payload)[:200]}",
            provider=provider,
        ) from exc
    try:
        calls = [
            ToolCall(id=c.get("id", ""), name=c["function"]["name"],
                     arguments=c["function"].get("arguments") or "")
            for c in message.get("tool_calls") or []
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise UpstreamBadResponse(
            f"Provider '{provider}' sent malformed tool calls: {str(message)[:200]}",
            provider=provider,
        ) from exc
    return ChatResponse(
        id=payload.get("id", ""),
        model=payload.get("model", ""),
        content=message.get("content"),
        tool_calls=calls or None,
        finish_reason=choice.get("finish_reason"),
        usage=parse_usage(payload.get("usage")),
        created=payload.get("created", 0),
        logprobs=_object(choice.get("logprobs")),
        refusal=_text(message.get("refusal")),
        annotations=[a for a in message.get("annotations") or () if isinstance(a, dict)] or None,
        system_fingerprint=_text(payload.get("system_fingerprint")),
        service_tier=_text(payload.get("service_tier")),
    )


def _object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_chunk(payload: dict[str, Any], provider: str = "") -> list[ChatChunk]:
    chunks: list[ChatChunk] = []
    try:
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or {}
            calls = [
                ToolCallDelta(
                    index=c.get("index", 0),
                    id=c.get("id"),
                    name=(c.get("function") or {}).get("name"),
                    arguments=(c.get("function") or {}).get("arguments"),
                )
                for c in delta.get("tool_calls") or []
            ]
            chunks.append(ChatChunk(
                content=delta.get("content"),
                tool_calls=calls or None,
                finish_reason=choice.get("finish_reason"),
                role=delta.get("role"),
                logprobs=_object(choice.get("logprobs")),
                refusal=_text(delta.get("refusal")),
                system_fingerprint=_text(payload.get("system_fingerprint")),
                service_tier=_text(payload.get("service_tier")),
            ))
        usage = parse_usage(payload.get("usage"))
    except (AttributeError, TypeError) as exc:
        raise UpstreamBadResponse(
            f"Provider '{provider}' sent a malformed stream chunk: {str(payload)[:200]}",
            provider=provider,
        ) from exc
    if usage is not None:
        chunks.append(ChatChunk(usage=usage))
    return chunks


def embeddings_body(request: EmbeddingRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "input": request.inputs}
    if request.dimensions:
        body["dimensions"] = request.dimensions
    if request.user:
        body["user"] = request.user
    return body


def parse_embeddings(payload: Any, request: EmbeddingRequest, provider: str) -> EmbeddingResponse:
    try:
        rows = sorted(payload["data"], key=lambda r: r.get("index", 0))
        vectors = [r["embedding"] for r in rows]
        usage = payload.get("usage") or {}
        input_tokens = usage.get("prompt_tokens") or 0
    except (KeyError, TypeError, AttributeError) as exc:
        raise UpstreamBadResponse(
            f"Provider '{provider}' sent a malformed embeddings response: {str(payload)[:200]}",
            provider=provider,
        ) from exc
    if len(vectors) != len(request.inputs):
        raise UpstreamBadResponse(
            f"Provider '{provider}' returned {len(vectors)} embeddings for {len(request.inputs)} inputs.",
            provider=provider,
        )
    return EmbeddingResponse(model=payload.get("model") or request.model, vectors=vectors,
                             usage=Usage(input_tokens=input_tokens))


def register_providers(register: Any) -> None:
    """OpenAI and every server that speaks its dialect."""
    for type_name in ("openai", "openai-compatible", "vllm", "ollama", "llamacpp"):
        register(type_name, OpenAIProvider)
