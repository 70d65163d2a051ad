"""Per-request state that flows through the pipeline's stages."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from corral.core.deferred import DeferredCall
from corral.core.forward import ForwardRequest
from corral.core.ownership import Scope
from corral.core.types import ChatRequest, EmbeddingRequest, Usage

# What one request asks of a model: a chat completion, embeddings, or a pass-through call to an
# OpenAI endpoint Corral does not translate (the operation says which).
Work = ChatRequest | EmbeddingRequest | ForwardRequest


@dataclass(slots=True)
class Attempt:
    """One call to one deployment: kept for records, headers and debugging."""

    deployment: str
    provider: str
    model: str
    status: str = "pending"  # ok | error
    error_type: str | None = None
    duration_ms: float = 0.0


@dataclass(slots=True)
class Caller:
    """Who is calling: resolved by authentication before the pipeline runs."""

    key_id: str
    key_name: str
    team: str
    scopes: frozenset[str]
    own_key_only: bool = False  # `ownership: key`: stored objects are this key's alone

    @property
    def scope(self) -> Scope:
        """Whose files, batches, responses and vector stores this caller sees."""
        return Scope(self.team, self.key_id if self.own_key_only else None)


@dataclass(frozen=True, slots=True)
class PrivacyOutcome:
    """What the privacy stage decided, for the stages and records after it.

    No raw value is kept as data: `redacted` is the request as it may be stored, and
    `scrub` replaces original values by their placeholders in other text (an answer, an
    error message) that a record or a log line is about to keep.
    """

    policy: str  # off | log-only | redact | block
    source: str  # which rule applied: route, key, default, fallback:<route>, ...
    entities: dict[str, int]  # what was found, by type (counts, never values)
    redacted: Work
    scrub: Callable[[str], str]


@dataclass(slots=True)
class RoutingState:
    """What the router was asked to respect and what it decided, for headers and the record."""

    min_context_window: int = 0  # the context stage's `fallback` policy: skip smaller deployments
    fallback: str | None = None  # the route (or deployment) that served instead of the first choice
    breaker_open: list[str] | None = None  # deployments skipped or tried last: breaker open
    retry_stopped: str | None = None  # deadline | budget: why the router stopped retrying
    provider_type: str | None = None  # the serving provider's type (openai, anthropic, ...)
    native_batch: str | None = None  # the provider's batch that answered (corral.core.deferred)
    dropped_params: list[str] | None = None  # removed for the serving deployment (unsupported_params)
    translated_params: list[str] | None = None  # mapped to the serving provider's equivalent


@dataclass(slots=True)
class ContextFit:
    """What the context stage did to make the prompt fit its model's window."""

    action: str  # truncated | summarized | fallback
    tokens: dict[str, int]  # before/after/window/reserve/limit, as measured
    summary_calls: int = 0
    summary_usage: Usage | None = None  # the summarizer calls' tokens (they also get child records)
    summarize_error: str | None = None  # summarizing failed, so the prompt was truncated instead


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A retrieved source as a grounded chat completion names it to the client: its number in
    the prompt, its file and its score (not its text: the caller has the file)."""

    index: int
    file_id: str
    filename: str
    score: float


@dataclass(frozen=True, slots=True)
class GroundingNote:
    """Retrieved context the request carries (the Responses API's file_search, a route's
    `knowledge` option), for the record: the prompt tokens it adds, so what grounding costs
    (or saves) can be measured, and the recorded requests that searched for it."""

    context_tokens: int
    sources: int
    search_request_ids: tuple[str, ...] = ()
    dropped: int = 0  # sources found but left out: over the route's knowledge.max_context_tokens
    listed: tuple[SourceRef, ...] = ()  # the sources, numbered (a route's knowledge option)
    cited: tuple[int, ...] | None = None  # source numbers the answer cites, once it is complete
    # The sources' texts as placed in the prompt, verbatim. Not recorded: the privacy stage
    # detects each once per process and remembers its spans (corral.privacy.memo).
    source_texts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheNote:
    """What the exact cache did for a request on a route with ``cache.exact`` (corral.cache.stage),
    for the ``x-corral-cache`` header, the record and the metrics. On a hit, the replayed answer's
    first making (model, provider, tokens, latency), so the record can say what the hit saved."""

    outcome: str  # hit | miss | bypass (the client asked) | skip (sampling, privacy policy)
    reason: str | None = None  # why skipped: sampling | privacy
    served_model: str | None = None
    provider_type: str | None = None
    deployment: str | None = None
    usage: Usage | None = None
    latency_ms: float | None = None
    age_s: float | None = None
    similarity: float | None = None  # a semantic hit's cosine (None: the exact request)


@dataclass(frozen=True, slots=True)
class PromptNote:
    """The registry system prompt a request was sent with (corral.prompts.stage), for the record:
    the exact version, whatever label or pin asked for it, and the text's sha256."""

    name: str
    version: int
    sha256: str
    label: str | None = None  # the label it was resolved through; None for a pinned version


class Settles(Protocol):
    """A request's hold on its rate limits and budgets (corral.limits), which the lifecycle
    settles with what the request's record says it used, once."""

    def settle(self, cost_usd: float | None, input_tokens: int, output_tokens: int) -> None: ...


@dataclass(slots=True)
class RequestContext:
    """One request's state. `request` is what the next stage sends (stages may replace it);
    `original` is what the client sent, never replaced, so scoping (the cache's key) and
    records can tell the two apart. `request_id` is always Corral's own; an id the client
    sent is only a correlation field (`client_request_id`), so it cannot collide with or
    suppress another request's record."""

    request_id: str
    request: Work
    caller: Caller | None = None
    public_model: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    response_headers: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    upstream_first_byte_at: float | None = None
    served_model: str | None = None
    deployment: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # a namespace for plugins' stages only
    client_request_id: str | None = None
    privacy: PrivacyOutcome | None = None  # set by the privacy stage when one runs
    usage: Usage | None = None  # tokens of the answer (provider's, or estimated): set by the usage stage
    degraded: str | None = None  # cache | message | content_policy_fallback: not the route's own answer
    operation: str = "chat"  # chat | embeddings | forward: which chain of stages runs (core.pipeline)
    parent: RequestContext | None = None  # set on a child call (a summarizer call, a grader)
    children: list[RequestContext] = field(default_factory=list)
    # The resolved route, set once by the lifecycle (corral.lifecycle) and replaced only when a
    # stage sends the request to another route (a content-policy fallback). Typed `object`
    # because core cannot name routing's `Route`; `corral.routing.table.route_of` reads it typed.
    route: object | None = None
    routing: RoutingState = field(default_factory=RoutingState)
    fit: ContextFit | None = None  # set by the context stage when it changed or constrained the prompt
    cache_key: str | None = None  # the exact-cache key, set by the cache stage
    cache_directive: str | None = None  # the client's Cache-Control / x-corral-cache: bypass | no-store
    cache: CacheNote | None = None  # set by the cache stage on a route with cache.exact
    content_policy_fallback: str | None = None  # the route that answered after a refusal
    client_disconnected: bool = False  # the client left before the answer was complete
    first_byte_out_at: float | None = None  # when the first chunk was handed to the client
    job_id: str | None = None  # the batch (or background job) this request runs for
    grounding: GroundingNote | None = None  # set when retrieved sources were added to the prompt
    # Set on a batch line forwarded to a provider's batch API: the router's attempt hands its
    # upstream call to it instead of calling the provider (corral.core.deferred).
    deferred: DeferredCall | None = None
    limits: Settles | None = None  # set by the limits stage: what the request reserved
    system_prompt: PromptNote | None = None  # set by the prompts stage: the registry prompt prepended
    # The caller's W3C trace context headers as sent, unchecked (the edge must stay cheap): the
    # record builder keeps them only if valid, and the request's spans join that trace.
    trace_parent: str | None = None
    trace_state: str | None = None
    # Cost-attribution tags: the `metadata` the client sent (string keys and values, checked at the
    # edge), kept in the record (values scrubbed by the privacy policy) for `corral costs --by tag:K`.
    tags: dict[str, str] | None = None
    # A pass-through call billed per image, character or audio second (corral.cost.units), as
    # the record keeps it: {"unit", "count", "variant"}. Set by the lifecycle.
    units: dict[str, Any] | None = None
    original: Work = field(init=False)

    def __post_init__(self) -> None:
        self.original = self.request

    def sibling(self, suffix: str) -> RequestContext:
        """Another request for the same client call (an `n > 1` chat's further answers): the same
        caller, start, correlation id, trace and tags, its own id and record, never cached."""
        twin = RequestContext(request_id=f"{self.request_id}:{suffix}", request=self.request,
                              caller=self.caller, started=self.started,
                              client_request_id=self.client_request_id, trace_parent=self.trace_parent,
                              trace_state=self.trace_state, tags=self.tags)
        twin.cache_directive = "no-store"
        return twin

    def child(self, suffix: str, request: Work, route: object | None = None) -> RequestContext:
        """A call Corral makes on this request's behalf: same caller, attributed to this one.

        Its attempts, tokens and cost end up in this request's record (observe.recorder).
        `route` is the child's resolved route (a summarizer may use another model)."""
        sub = RequestContext(request_id=f"{self.request_id}:{suffix}", request=request, caller=self.caller,
                             client_request_id=self.client_request_id, parent=self, route=route,
                             operation="embeddings" if isinstance(request, EmbeddingRequest) else "chat")
        self.children.append(sub)
        return sub
