"""Embeddings for knowledge bases, asked of a gateway route like any client's request.

Why through the gateway: a store's ingestion and every search's query embedding are then
ordinary `embeddings` requests. The lifecycle resolves the route (the built-in
`all-minilm-l6-v2`, or OpenAI, Gemini, any OpenAI-compatible deployment), applies the
route's privacy policy, fails over, records and prices each call, attributed to the caller
(and to the ingestion job, `job_id`; a search made for a response also names its requests
after the response's, `request_ids`). The store records `name` and `dimensions`; moving it to
another route re-embeds it (`Knowledge.reembed`, corral.knowledge.reembed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import getrandbits
from typing import Any, Protocol

from corral.core.context import Caller, RequestContext
from corral.core.types import EmbeddingRequest, EmbeddingResponse

BATCH = 64  # texts per request: ~1 s of the local model on 2 cores, well under OpenAI's 2048 limit


class Gateway(Protocol):
    """What the embedder needs of `corral.gateway.Gateway` (knowledge does not import it)."""

    async def handle(self, ctx: RequestContext) -> Any: ...


class GatewayEmbedder:
    """An `Embedder` whose vectors come from `route` through `gateway.handle`."""

    def __init__(self, gateway: Gateway, route: str, caller: Caller | None, *, dimensions: int,
                 job_id: str | None = None, batch_size: int = BATCH,
                 request_ids: Callable[[], str] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.gateway = gateway
        self.route = route
        self.caller = caller
        self.job_id = job_id
        self.batch_size = batch_size
        self.request_ids = request_ids  # each request's id; None: a random `req_...`
        self._dimensions = dimensions

    def attributed(self, request_ids: Callable[[], str]) -> GatewayEmbedder:
        """The same embedder, its requests named by `request_ids` (a response's `req_X:fs1`, ...),
        so the records of a search made for a request are found from that request's id."""
        return GatewayEmbedder(self.gateway, self.route, self.caller, dimensions=self._dimensions,
                               job_id=self.job_id, batch_size=self.batch_size, request_ids=request_ids)

    @property
    def name(self) -> str:
        return self.route

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; one recorded request per `batch_size` texts."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors += await self._request(list(texts[start:start + self.batch_size]))
        return vectors

    async def _request(self, texts: list[str]) -> list[list[float]]:
        request_id = self.request_ids() if self.request_ids is not None else f"req_{getrandbits(96):024x}"
        ctx = RequestContext(request_id=request_id, caller=self.caller,
                             request=EmbeddingRequest(self.route, texts), operation="embeddings")
        ctx.job_id = self.job_id
        result = await self.gateway.handle(ctx)
        if not isinstance(result, EmbeddingResponse) or len(result.vectors) != len(texts):
            raise RuntimeError(f"route '{self.route}' answered {len(getattr(result, 'vectors', []))} "
                               f"embeddings for {len(texts)} texts")
        for vector in result.vectors:
            if len(vector) != self._dimensions:
                raise ValueError(f"route '{self.route}' returns {len(vector)}-dimensional vectors; "
                                 f"this store expects {self._dimensions}: re-embed it for the new model "
                                 "(`corral kb reembed STORE --model ROUTE`)")
        return result.vectors
