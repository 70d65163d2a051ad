"""The vector-store API's errors, each a branch of Corral's tree (core/errors.py), so the edge
renders them as OpenAI error bodies with no mapping of its own.

    NotFound
    ├── StoreNotFound          404 missing, deleted, or another team's: the same answer
    ├── StoreFileNotFound      404 a file not attached to the store
    └── FileBatchNotFound      404
    KnowledgeLimit             403 a team's or a store's limit (knowledge.*): no retry helps

    IngestFailed               raised inside ingestion: the file ends `failed` with this error
"""

from __future__ import annotations

from corral.core.errors import CorralError, NotFound
from corral.knowledge.objects import ErrorCode


class StoreNotFound(NotFound):
    openai_type = "invalid_request_error"

    def __init__(self, store_id: str) -> None:
        super().__init__(f"No such vector store: {store_id[:200]}", param="vector_store_id")


class StoreFileNotFound(NotFound):
    openai_type = "invalid_request_error"

    def __init__(self, store_id: str, file_id: str) -> None:
        super().__init__(f"No file {file_id[:200]} in vector store {store_id[:200]}.", param="file_id")


class FileBatchNotFound(NotFound):
    openai_type = "invalid_request_error"

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"No such vector store file batch: {batch_id[:200]}", param="batch_id")


class KnowledgeLimit(CorralError):
    """A team keeps as many stores, or a store as many files, as it may. A 403, not a 429: the
    SDKs retry 429s on their own, and no retry helps until something is deleted."""

    status_code = 403
    openai_type = "invalid_request_error"
    code = "vector_store_limit_exceeded"


class IngestFailed(Exception):
    """Why a file cannot be ingested: its `last_error` (OpenAI's code and a message). Final:
    the same bytes would fail the same way again."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
