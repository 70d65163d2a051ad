"""Errors of the job queue.

    CorralError (corral.core.errors)
    ├── RateLimited
    │   └── QueueFull            429 a team has too many jobs queued
    └── PayloadTooLarge
        └── JobPayloadTooLarge   413 a job's payload is over `jobs.max_payload_bytes`

    JobFailed                    raised by a handler: the attempt failed, with a reason

Producers get the first two at enqueue time, and the API renders them as any CorralError.
"""

from __future__ import annotations

from typing import Any

from corral.core.errors import PayloadTooLarge, RateLimited


class QueueFull(RateLimited):
    """The team's queue is at `jobs.max_queued_per_team`: wait for jobs to finish."""

    code = "queue_full"


class JobPayloadTooLarge(PayloadTooLarge):
    """A job's payload is larger than `jobs.max_payload_bytes`."""


class JobFailed(Exception):
    """A handler's way to fail an attempt with a stated reason.

    ``retryable=False`` ends the job ``failed`` at once (the input is wrong and would fail
    the same way again); otherwise it is retried with backoff while attempts remain, after
    at least ``retry_after_s`` when given. Any other exception is a retryable failure.
    """

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = True,
                 retry_after_s: float | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.details = details or {}

    def as_error(self) -> dict[str, Any]:
        """The JSON stored in the job's ``error`` column."""
        error: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.details:
            error["details"] = self.details
        return error
