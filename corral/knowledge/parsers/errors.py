"""Why a file cannot be parsed. Every error is a 400 (`InvalidRequest`) whose `code` is the
`last_error.code` OpenAI reports for a vector-store file, so the API can fail the file or
answer the request without a mapping of its own; `reason` tells the cases apart for logs,
metrics and tests.

    ParseError (InvalidRequest)  400
    ├── UnsupportedFormat        unsupported_file  not txt/md/html/pdf/docx (the message lists them)
    ├── CorruptDocument          invalid_file      truncated PDF, a zip that is no Word document, ...
    ├── EncryptedDocument        invalid_file      a password is needed to read the text
    ├── EmptyDocument            invalid_file      no text (an empty file, a scanned PDF without OCR)
    └── DocumentTooComplex       invalid_file      a ParseLimits bound was reached (`limit` names it)

Messages name the file and say what to do next; they never echo file content.
"""

from __future__ import annotations

from typing import Literal

from corral.core.errors import InvalidRequest

Reason = Literal["unsupported", "corrupt", "encrypted", "empty", "too_complex"]


class ParseError(InvalidRequest):
    code = "invalid_file"
    reason: Reason = "corrupt"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="file")


class UnsupportedFormat(ParseError):
    code = "unsupported_file"
    reason: Reason = "unsupported"


class CorruptDocument(ParseError):
    reason: Reason = "corrupt"


class EncryptedDocument(ParseError):
    reason: Reason = "encrypted"


class EmptyDocument(ParseError):
    reason: Reason = "empty"


class DocumentTooComplex(ParseError):
    """A bound of `ParseLimits` was reached: `limit` is the field's name (max_bytes, max_pages,
    max_expanded_bytes, max_seconds, max_chars, max_depth)."""

    reason: Reason = "too_complex"

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit
