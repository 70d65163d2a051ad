"""The request record: one per request, everything an operator asks about an LLM call.

Built from the RequestContext when the request ends (after the last stream chunk, or
on error), then handed to the write-behind sink and the metrics. Content fields are set
only when content capture is on, and then only as the privacy stage left them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class AttemptRecord:
    deployment: str
    provider: str
    model: str
    status: str  # ok | error
    error_type: str | None
    duration_ms: float


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    created_at: float  # unix seconds, request start
    key_id: str | None
    team: str | None
    end_user: str | None  # the request's `user` field
    route: str  # public model name requested (after alias resolution when known)
    requested_model: str
    served_model: str | None
    deployment: str | None
    provider_type: str | None
    status: str  # ok | error | degraded
    http_status: int
    error_type: str | None
    stream: bool
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    usage_estimated: bool = False
    ttft_upstream_ms: float | None = None  # request start -> upstream's first byte
    ttft_client_ms: float | None = None  # request start -> first byte written to the client
    latency_ms: float = 0.0  # request start -> last byte
    cost_usd: float | None = None  # None: unpriced (never shown as $0)
    priced: bool = False
    cache_hit: bool = False
    degraded: str | None = None  # cache | message | content_policy_fallback
    fallback: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    prompt: Any = None  # captured content (redacted per policy) or None
    response: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # The id the client sent (x-client-request-id or x-request-id): correlation only.
    # request_id is always Corral's own, so a reused client id cannot hide a request.
    client_request_id: str | None = None
    operation: str = "chat"  # chat | embeddings | forward: gen_ai.operation.name
