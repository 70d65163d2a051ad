"""The file object and the values the Files API accepts, as plain types (no wire, no store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: Purposes a client may upload. `batch_output` files are written by Corral (batch results).
UPLOAD_PURPOSES = ("assistants", "batch", "user_data")
PURPOSES = (*UPLOAD_PURPOSES, "batch_output")

#: OpenAI's bounds for `expires_after[seconds]` (1 hour to 30 days), anchored at `created_at`.
MIN_EXPIRY_S = 3600
MAX_EXPIRY_S = 30 * 86_400

#: Longest filename kept (the `files.filename` column).
MAX_FILENAME_CHARS = 512


@dataclass(frozen=True, slots=True)
class FileObject:
    """One stored file's metadata, as every endpoint and the batch runner see it."""

    id: str
    team: str
    purpose: str
    filename: str
    bytes: int
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class FilePage:
    """One page of a team's files and whether more follow (OpenAI's cursor paging)."""

    files: list[FileObject]
    has_more: bool
