"""Vector stores, their files and file batches as Corral keeps them (rows of migration 12),
as plain values: the API formats them as OpenAI's objects, the ingestion worker reads them.

Statuses follow OpenAI's: a file is `in_progress` until it is ingested (`completed`), cannot
be (`failed`, with `last_error`), or was stopped (`cancelled`). A store's status is
derived: `expired` once `expires_at` passed, `in_progress` while any file is, else
`completed`; a file batch's likewise from its files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from corral.knowledge.types import AttributeValue

FileStatus = Literal["in_progress", "completed", "cancelled", "failed"]
FILE_STATUSES: tuple[FileStatus, ...] = ("in_progress", "completed", "cancelled", "failed")
#: OpenAI's codes for a file's `last_error`.
ErrorCode = Literal["server_error", "unsupported_file", "invalid_file"]
Attributes = dict[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class Chunking:
    """A static chunking strategy: tokens per chunk and overlap (OpenAI's `auto` is one too)."""

    max_tokens: int
    overlap_tokens: int

    def wire(self) -> dict[str, Any]:
        return {"type": "static", "static": {"max_chunk_size_tokens": self.max_tokens,
                                             "chunk_overlap_tokens": self.overlap_tokens}}


@dataclass(frozen=True, slots=True)
class FileCounts:
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.in_progress + self.completed + self.failed + self.cancelled

    @classmethod
    def of(cls, by_status: dict[str, int]) -> FileCounts:
        return cls(**{s: by_status.get(s, 0) for s in FILE_STATUSES})

    def wire(self) -> dict[str, int]:
        return {"in_progress": self.in_progress, "completed": self.completed, "failed": self.failed,
                "cancelled": self.cancelled, "total": self.total}


@dataclass(frozen=True, slots=True)
class VectorStore:
    id: str
    team: str
    name: str
    created_at: datetime
    last_active_at: datetime
    embed_model: str  # the route that embeds its chunks and its queries
    chunking: Chunking  # for the files attached when it was created
    key_id: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    status: Literal["active", "deleting"] = "active"
    expires_after_days: int | None = None
    expires_at: datetime | None = None
    embed_name: str | None = None  # the embedder's model name, recorded when it first embeds
    embed_dimensions: int | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class StoreFile:
    """A file attached to a store. `token` changes at every (re-)add, so an ingest of an
    older add can tell it was overtaken and write nothing."""

    store_id: str
    file_id: str
    team: str
    filename: str
    status: FileStatus
    chunking: Chunking
    token: str
    created_at: datetime
    last_error: dict[str, str] | None = None
    attributes: Attributes | None = None
    usage_bytes: int = 0
    chunks: int = 0
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class FileBatch:
    id: str
    store_id: str
    team: str
    status: Literal["in_progress", "cancelled"]  # as stored; the wire status also reads the files
    total: int
    created_at: datetime

    def wire_status(self, counts: FileCounts) -> str:
        if self.status == "cancelled" and not counts.in_progress:
            return "cancelled"
        if counts.in_progress:
            return "in_progress"
        if counts.total and counts.failed == counts.total:
            return "failed"
        return "completed"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a cursor-paged list and whether more follow in the direction read."""

    items: list[Any]
    has_more: bool
