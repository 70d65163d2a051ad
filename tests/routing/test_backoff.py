"""Backoff delays and the retryable/non-retryable classification."""

from __future__ import annotations

import asyncio
import random
import statistics

import pytest

from corral.config import RetrySettings
from corral.core.errors import (
    AllProvidersFailed,
    AuthError,
    ContentPolicyViolation,
    InvalidRequest,
    RateLimited,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from corral.routing.backoff import full_jitter, is_retryable, retry_delay


@pytest.mark.parametrize("attempt", range(8))
def test_full_jitter_stays_within_exponential_cap(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(2.0, 0.1 * 2**attempt)
    samples = [full_jitter(attempt, 0.1, 2.0, rng) for _ in range(2000)]
    assert all(0.0 <= s <= ceiling for s in samples)
    assert max(samples) > 0.9 * ceiling  # reaches near the top, not just a narrow band


def test_full_jitter_is_uniform_over_the_interval() -> None:
    rng = random.Random(7)
    samples = [full_jitter(3, 0.5, 100.0, rng) for _ in range(10_000)]  # ceiling 4.0
    assert statistics.fmean(samples) == pytest.approx(2.0, abs=0.06)
    below_quarter = sum(s < 1.0 for s in samples) / len(samples)
    above_three_quarters = sum(s > 3.0 for s in samples) / len(samples)
    assert below_quarter == pytest.approx(0.25, abs=0.02)
    assert above_three_quarters == pytest.approx(0.25, abs=0.02)


def test_full_jitter_huge_attempt_is_capped_without_overflow() -> None:
    assert 0.0 <= full_jitter(10_000, 0.2, 8.0, random.Random(1)) <= 8.0


def test_full_jitter_zero_base_never_waits() -> None:
    assert full_jitter(5, 0.0, 8.0, random.Random(1)) == 0.0


def test_full_jitter_rejects_negative_input() -> None:
    with pytest.raises(ValueError):
        full_jitter(-1, 0.2, 8.0, random.Random(1))
    with pytest.raises(ValueError):
        full_jitter(1, -0.2, 8.0, random.Random(1))


def test_full_jitter_is_deterministic_for_a_seed() -> None:
    a = [full_jitter(i % 5, 0.2, 8.0, random.Random(42)) for i in range(5)]
    b = [full_jitter(i % 5, 0.2, 8.0, random.Random(42)) for i in range(5)]
    assert a == b


def test_retry_delay_without_retry_after_is_full_jitter() -> None:
    settings = RetrySettings(base_delay_s=0.2, max_delay_s=1.0)
    err = UpstreamUnavailable("overloaded", upstream_status=503)
    rng = random.Random(3)
    for attempt in range(6):
        ceiling = min(1.0, 0.2 * 2**attempt)
        assert all(0 <= retry_delay(err, attempt, settings, rng) <= ceiling for _ in range(200))


@pytest.mark.parametrize("retry_after", [0.5, 3.0, 30.0])
def test_retry_delay_waits_at_least_retry_after_even_beyond_max_delay(retry_after: float) -> None:
    settings = RetrySettings(base_delay_s=0.2, max_delay_s=8.0)
    err = UpstreamRateLimited("slow down", retry_after=retry_after, upstream_status=429)
    rng = random.Random(5)
    delays = [retry_delay(err, attempt, settings, rng) for attempt in range(4) for _ in range(200)]
    assert min(delays) >= retry_after
    assert max(delays) <= retry_after + 0.2
    assert len(set(delays)) > 1  # jittered, so replicas told the same value spread out


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_retry_delay_ignores_unusable_retry_after(bad: float) -> None:
    settings = RetrySettings(base_delay_s=0.2, max_delay_s=8.0)
    err = UpstreamRateLimited("slow down", retry_after=bad, upstream_status=429)
    assert 0 <= retry_delay(err, 0, settings, random.Random(1)) <= 0.2


RETRYABLE = [
    UpstreamRateLimited("429", upstream_status=429),
    UpstreamRateLimited("429 with hint", retry_after=2, upstream_status=429),
    UpstreamUnavailable("500", upstream_status=500),
    UpstreamUnavailable("503", upstream_status=503),
    UpstreamUnavailable("529 overloaded", upstream_status=529),
    UpstreamTimeout("read timeout"),
    UpstreamConnectionError("connection reset"),
    UpstreamBadResponse("truncated stream", upstream_status=200),
    UpstreamRejected("request timeout", status_code=408, upstream_status=408),
    UpstreamRejected("conflict", status_code=409, upstream_status=409),
    UpstreamRejected("conflict (status only upstream)", status_code=400, upstream_status=409),
    TimeoutError(),
    ConnectionResetError(),
]

NOT_RETRYABLE = [
    UpstreamRejected("bad request", status_code=400, upstream_status=400),
    UpstreamRejected("unauthorized", status_code=401, upstream_status=401),
    UpstreamRejected("forbidden", status_code=403, upstream_status=403),
    UpstreamRejected("not found", status_code=404, upstream_status=404),
    UpstreamRejected("unprocessable", status_code=422, upstream_status=422),
    ContentPolicyViolation("refused", upstream_status=400),
    UpstreamContextLength("too long", upstream_status=400),
    UpstreamError("generic upstream error", upstream_status=502),
    AllProvidersFailed({"a": UpstreamUnavailable("down")}),
    InvalidRequest("client error"),
    AuthError("bad key"),
    RateLimited("corral's own limit"),
    ValueError("a bug"),
    asyncio.CancelledError(),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize("error", RETRYABLE, ids=lambda e: f"{type(e).__name__}-{e}")
def test_retryable_errors(error: BaseException) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize("error", NOT_RETRYABLE, ids=lambda e: f"{type(e).__name__}-{e}")
def test_non_retryable_errors(error: BaseException) -> None:
    assert not is_retryable(error)
