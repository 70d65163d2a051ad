"""The 429s of Corral's own limits, shaped as OpenAI's so the official SDKs back off correctly.

OpenAI answers a rate limit with ``rate_limit_exceeded`` (worth retrying after
``Retry-After``) and a spent quota with ``insufficient_quota`` (not worth retrying soon);
the SDKs retry a 429 unless ``x-should-retry: false`` says otherwise, so a spent budget
or a request larger than the whole limit says it.
"""

from __future__ import annotations

from corral.core.errors import RateLimited


class LimitExceeded(RateLimited):
    """A rate limit (requests or tokens per minute) is full for now."""

    def __init__(self, message: str, *, retry_after: float | None, headers: dict[str, str],
                 retryable: bool = True) -> None:
        super().__init__(message, retry_after=retry_after)
        self.limit_headers = headers
        self.retryable = retryable

    def _own_headers(self) -> dict[str, str]:
        own = {**self.limit_headers, **super()._own_headers()}
        if not self.retryable:
            own["x-should-retry"] = "false"
        return own


class BudgetExhausted(LimitExceeded):
    """A dollar budget for the day or month is spent: not worth retrying before it resets."""

    openai_type = "insufficient_quota"
    code = "insufficient_quota"

    def __init__(self, message: str, *, retry_after: float | None, headers: dict[str, str]) -> None:
        super().__init__(message, retry_after=retry_after, headers=headers, retryable=False)
