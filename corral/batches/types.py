"""A batch as Corral keeps it, and OpenAI's Batch object made from it.

The `batches` row holds what OpenAI's object reports (status and its timestamps, files,
metadata, errors); the requests themselves are jobs of the durable queue
(`corral.jobs`), one `batch_item` per line, whose statuses give `request_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

BatchStatus = Literal["validating", "failed", "in_progress", "finalizing", "completed", "expired",
                      "cancelling", "cancelled"]
#: Final: nothing changes the batch again.
FINAL: tuple[BatchStatus, ...] = ("failed", "completed", "expired", "cancelled")
#: Endpoints a batch may run, as OpenAI names them.
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses")
#: OpenAI's only completion window.
COMPLETION_WINDOWS = {"24h": 24 * 3600}
#: The timestamp column each status sets when a batch reaches it.
STAMPS: dict[str, str] = {
    "in_progress": "in_progress_at", "finalizing": "finalizing_at", "completed": "completed_at",
    "failed": "failed_at", "expired": "expired_at", "cancelling": "cancelling_at",
    "cancelled": "cancelled_at",
}


@dataclass(frozen=True, slots=True)
class Submitter:
    """Who created the batch: its items run as this caller (team, key, scopes)."""

    key_id: str
    key_name: str
    team: str
    scopes: tuple[str, ...]


@dataclass(slots=True)
class Batch:
    id: str
    submitter: Submitter
    endpoint: str
    input_file_id: str
    completion_window: str
    status: BatchStatus
    created_at: datetime
    expires_at: datetime
    metadata: dict[str, str] | None = None
    total: int = 0  # requests in the input file, known once validated
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] | None = None  # why validation failed, line by line
    usage: dict[str, Any] | None = None  # token totals, set when finalized
    model: str | None = None  # the model the requests asked for, when they all asked for one
    counts: dict[str, int] | None = None  # request counts kept when finalized (jobs are purged later)
    stamps: dict[str, datetime] = field(default_factory=dict)  # in_progress_at, completed_at, ...

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def shown_status(self) -> BatchStatus:
        """The status as OpenAI reports it. A cancelled batch passes through `finalizing` here
        while its files are written (the move that lets one worker alone write them), but
        OpenAI's cancelled batch goes `cancelling` -> `cancelled`: clients polling for those see
        `cancelling` meanwhile."""
        if self.status == "finalizing" and "cancelling_at" in self.stamps:
            return "cancelling"
        return self.status


def _unix(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def batch_wire(batch: Batch, counts: dict[str, int]) -> dict[str, Any]:
    """OpenAI's Batch object. `counts`: completed and failed requests so far (a finalized
    batch reports the counts it kept instead: its items' jobs are purged in time)."""
    if batch.counts is not None:
        counts = batch.counts
    errors = None if not batch.errors else {"object": "list", "data": batch.errors}
    wire: dict[str, Any] = {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "model": batch.model,
        "errors": errors,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": batch.shown_status,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": _unix(batch.created_at),
        "expires_at": _unix(batch.expires_at),
        "request_counts": {"total": batch.total, "completed": counts.get("completed", 0),
                           "failed": counts.get("failed", 0)},
        "usage": batch.usage,
        "metadata": batch.metadata,
    }
    for column in STAMPS.values():
        wire[column] = _unix(batch.stamps.get(column))
    if "cancelling_at" in batch.stamps:
        wire["finalizing_at"] = None  # Corral's internal step on the way to cancelled (shown_status)
    return wire
