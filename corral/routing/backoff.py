"""Which failures are worth retrying, and how long to wait before the next attempt.

Delays use AWS-style "full jitter" (uniform between zero and the exponential cap):
replicas that failed together spread their retries over the whole interval instead of
returning in lockstep and knocking an overloaded upstream over again. A provider's
``Retry-After`` wins over the computed delay because it is the upstream's own estimate
of when it will accept work; the caller still checks the request's deadline.
"""

from __future__ import annotations

import math
import random

from corral.config import RetrySettings
from corral.core.errors import UpstreamError, UpstreamRejected

# 408 Request Timeout and 409 Conflict describe the moment, not the request: sending the
# same body again (or elsewhere) can succeed. Every other 4xx would fail the same way.
RETRYABLE_REJECTED_STATUSES = frozenset({408, 409})

# 2.0 ** 1024 overflows a float; long before that the cap applies anyway.
_MAX_EXPONENT = 64


def full_jitter(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """A delay drawn uniformly from ``[0, min(cap_s, base_s * 2**attempt)]``.

    ``attempt`` counts retries from 0 (the first retry waits up to ``base_s``).
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base_s < 0 or cap_s < 0:
        raise ValueError("base_s and cap_s must be >= 0")
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt, _MAX_EXPONENT))
    return rng.uniform(0.0, ceiling)


def _retry_after(error: BaseException) -> float | None:
    """The upstream's Retry-After in seconds, if it sent a usable one."""
    value = getattr(error, "retry_after", None)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def retry_delay(error: UpstreamError, attempt: int, settings: RetrySettings, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based) after ``error``.

    With a ``retry_after`` the wait is at least that long, plus up to ``base_delay_s``
    of jitter so replicas told the same Retry-After do not return in the same instant.
    It is deliberately not capped by ``max_delay_s``: retrying earlier than the upstream
    asked only earns another 429. The caller gives up if the wait would pass its deadline.
    """
    retry_after = _retry_after(error)
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, min(settings.base_delay_s, settings.max_delay_s))
    return full_jitter(attempt, settings.base_delay_s, settings.max_delay_s, rng)


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt (here or on another deployment) can reasonably succeed.

    Retryable: 429, 5xx, 529, timeouts, connection errors and malformed upstream
    responses (:attr:`UpstreamError.retryable`), plus upstream 408/409 rejections and
    bare :class:`TimeoutError`/:class:`ConnectionError` from the transport. Never: other
    4xx (the request itself is wrong), Corral's own errors, cancellation, or bugs.
    """
    if isinstance(error, UpstreamRejected):
        statuses = {error.status_code, error.upstream_status}
        return bool(statuses & RETRYABLE_REJECTED_STATUSES)
    if isinstance(error, UpstreamError):
        return error.retryable
    return isinstance(error, TimeoutError | ConnectionError)
