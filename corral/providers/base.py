"""The provider interface: one small async class per wire format.

Like an httpx transport, an adapter only translates and sends. It gets canonical
requests (with `model` already set to the upstream model name), yields canonical
chunks, and maps its vendor's errors into `corral.core.errors`. Retries, fallbacks
and accounting live above it, in the pipeline.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from corral.core.errors import CorralError, UnsupportedParameter
from corral.core.forward import ForwardRequest, ForwardResponse
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse
from corral.providers.native_batch import NativeBatchAPI
from corral.providers.scrub import credentials_of, scrub_error

# The calling route's connect timeout (`timeouts.connect_s`), set by the router for one
# attempt; adapters that open connections use it when it is tighter than their own.
CONNECT_TIMEOUT: ContextVar[float | None] = ContextVar("corral_connect_timeout", default=None)


@dataclass(slots=True)
class ProviderConfig:
    """What an adapter needs to reach its upstream. `api_key` comes from the environment."""

    name: str
    type: str
    base_url: str | None = None
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 600.0
    max_connections: int = 200
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Capabilities:
    tools: bool = True
    response_format: bool = True
    embeddings: bool = False
    images: bool = False
    passthrough_params: bool = False  # forwards unknown OpenAI params (OpenAI-compatible only)
    forward: bool = False  # serves pass-through endpoints (/v1/completions, /v1/audio/*, ...)


class Provider(abc.ABC):
    """Base class for adapters. Subclasses set `capabilities` and implement the I/O.

    Every error a subclass's `complete`, `stream` or `embed` raises has credentials
    scrubbed from its message (see corral/providers/scrub.py): upstream error text is
    forwarded to clients, and some upstreams echo the key they were sent.
    """

    capabilities: Capabilities = Capabilities()
    # Parameters with no canonical meaning that this adapter sends in its own wire format when a
    # request carries them in `ChatRequest.extra` (Anthropic's `top_k` and `thinking`).
    native_params: frozenset[str] = frozenset()

    def __init__(self, config: ProviderConfig):
        self.config = config
        self.name = config.name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, wrap in (("complete", _scrubbed_call), ("embed", _scrubbed_call),
                           ("forward", _scrubbed_call), ("stream", _scrubbed_stream)):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_scrubs_errors", False):
                setattr(cls, name, wrap(method))

    def _scrub(self, exc: CorralError) -> None:
        scrub_error(exc, credentials_of(self.config.api_key, self.config.headers))

    @abc.abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One non-streamed completion."""

    @abc.abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream a completion. Errors before the first chunk raise; later ones too."""

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        raise UnsupportedParameter(
            f"Provider '{self.name}' ({self.config.type}) does not serve embeddings; "
            "route this model to a provider that does.",
            param="model",
        )

    async def forward(self, request: ForwardRequest) -> ForwardResponse:
        """Send a pass-through call (corral.core.forward) as it is; OpenAI-compatible adapters only."""
        raise UnsupportedParameter(
            f"Provider '{self.name}' ({self.config.type}) does not serve /v1{request.endpoint}; "
            "route this model to an OpenAI-compatible deployment.",
            param="model",
        )

    @property
    def native_batch(self) -> NativeBatchAPI | None:
        """The provider's own batch API (files + batches), when Corral can forward batch lines
        to it (`batch: native` on a route); None for most providers."""
        return None

    async def warmup(self) -> None:
        """Prepare before the first request (load a model); a no-op for HTTP providers."""

    async def aclose(self) -> None:
        """Release pooled connections or loaded models."""

    def check_supported(self, request: ChatRequest) -> None:
        """Reject, with a 400 naming the parameter, what this provider cannot honour."""
        caps = self.capabilities
        where = f"provider '{self.name}' ({self.config.type})"
        if request.tools and not caps.tools:
            raise UnsupportedParameter(f"'tools' is not supported by {where}.", param="tools")
        if request.response_format and not caps.response_format:
            rf_type = request.response_format.get("type")
            if rf_type != "text":
                raise UnsupportedParameter(
                    f"'response_format' is not supported by {where}.", param="response_format"
                )
        if request.extra and not caps.passthrough_params:
            foreign = sorted(set(request.extra) - self.native_params)
            if foreign:
                raise UnsupportedParameter(
                    f"Parameter(s) {', '.join(foreign)} are not supported by {where}; remove them or "
                    "use an OpenAI-compatible deployment.",
                    param=foreign[0],
                )
        if not caps.images:
            for m in request.messages:
                if isinstance(m.content, list) and any(
                    not hasattr(p, "text") for p in m.content
                ):
                    raise UnsupportedParameter(
                        f"Image content is not supported by {where}.", param="messages"
                    )


def _scrubbed_call(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(self: Provider, request: Any) -> Any:
        try:
            return await method(self, request)
        except CorralError as exc:
            self._scrub(exc)
            raise

    # A marker on the function object, read with getattr by Provider.__init_subclass__.
    call._scrubs_errors = True  # type: ignore[attr-defined]
    return call


_Stream = Callable[..., AsyncIterator[ChatChunk]]


def _scrubbed_stream(method: _Stream) -> _Stream:
    """One more generator layer per stream (about 0.5 us per chunk, measured on 2 shared cores)."""

    @functools.wraps(method)
    async def stream(self: Provider, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        chunks = method(self, request)
        try:
            async for chunk in chunks:
                yield chunk
        except CorralError as exc:
            self._scrub(exc)
            raise
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()  # a client disconnect closes the upstream stream at once

    # A marker on the function object, read with getattr by Provider.__init_subclass__.
    stream._scrubs_errors = True  # type: ignore[attr-defined]
    return stream
