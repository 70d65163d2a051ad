"""The Files API's errors: each a branch of Corral's tree (core/errors.py), so the edge
renders them as OpenAI error bodies with no mapping of its own."""

from __future__ import annotations

from corral.core.errors import CorralError, InvalidRequest, NotFound, PayloadTooLarge


class FileNotFound(NotFound):
    """Missing, expired, deleted, or another team's: the same answer, so nothing leaks."""

    openai_type = "invalid_request_error"

    def __init__(self, file_id: str) -> None:
        super().__init__(f"No such File object: {file_id}", param="file_id")


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The file exceeds the gateway's limit of {limit} bytes per file (files.max_file_bytes); "
            "split it into smaller files.", param="file")


class FileQuotaExceeded(CorralError):
    """The team stores as much as it may: no retry helps until it deletes files (so not a 429,
    which the SDKs retry on their own)."""

    status_code = 403
    openai_type = "invalid_request_error"
    code = "file_storage_limit_exceeded"


class InvalidFile(InvalidRequest):
    """The file's content cannot serve its purpose (a batch file with a bad line)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param="file")
