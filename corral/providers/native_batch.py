"""A provider's own batch API, as Corral drives it for routes with `batch: native`.

One small interface per wire format, like the adapters themselves: translate one canonical
request into a batch-file line and parse the provider's answer for it (the adapter's own
translation, so a line is sent and read exactly as a synchronous call would be), and the
few calls around them (upload the file, create, look up, cancel the batch, read its
result files). `corral.batches.native` decides when to call them; this module knows only
the provider. It imports nothing from `providers.base`, which names it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from corral.core.deferred import NativeLine, NativeRequest
from corral.core.types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse

#: A native batch's statuses after which nothing changes (OpenAI's names).
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True, slots=True)
class NativeBatchInfo:
    """What Corral needs to know of a provider's batch."""

    id: str
    status: str  # validating, in_progress, finalizing, cancelling; final: TERMINAL
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)  # why a failed batch failed
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: int = 0  # unix seconds

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class NativeFailure:
    """Why the provider's batch has no answer for a line (expired, cancelled, not run)."""

    code: str
    message: str


class NativeBatchAPI(abc.ABC):
    """One provider's batch API. Every call raises `corral.core.errors` types on failure.

    Provider-neutral on purpose: how lines are shipped (OpenAI: a JSONL file uploaded to
    /v1/files; Anthropic: the requests inline) and how results come back is the adapter's
    business, so another provider's batch API is one more subclass."""

    @abc.abstractmethod
    def line(self, request: ChatRequest | EmbeddingRequest) -> NativeRequest:
        """The batch line for `request` (its `model` is already the upstream model)."""

    @abc.abstractmethod
    def parse(self, request: ChatRequest | EmbeddingRequest,
              line: NativeLine) -> ChatResponse | EmbeddingResponse:
        """The provider's answer for one line, as the synchronous call would have returned it
        (an error status raises the adapter's error for it)."""

    @abc.abstractmethod
    async def submit(self, name: str, lines: list[tuple[str, NativeRequest]], tag: str) -> NativeBatchInfo:
        """Create a batch of `lines` (custom_id, request), all of one endpoint, tagged `tag`;
        `name` is a readable name for what the provider stores (an input file)."""

    @abc.abstractmethod
    async def find(self, tag: str, since: int) -> NativeBatchInfo | None:
        """The batch tagged `tag` created at or after `since` (unix s): how a submission that
        crashed after creating its batch finds it instead of creating another."""

    @abc.abstractmethod
    async def retrieve(self, batch_id: str) -> NativeBatchInfo: ...

    @abc.abstractmethod
    async def cancel(self, batch_id: str) -> NativeBatchInfo: ...

    @abc.abstractmethod
    async def results(self, batch: NativeBatchInfo) -> dict[str, NativeLine | NativeFailure]:
        """A final batch's answers by custom_id (lines it never mentions are absent)."""

    @abc.abstractmethod
    async def discard(self, batch: NativeBatchInfo) -> None:
        """Delete what the provider keeps of a batch Corral has read (its files), best effort."""
