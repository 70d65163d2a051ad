"""build_record: every field from a realistic context, content only as privacy allows."""

from __future__ import annotations

import dataclasses
import time

import pytest

from corral.core.context import PrivacyOutcome
from corral.core.errors import UpstreamTimeout
from corral.core.types import ChatRequest, Message
from corral.observe.builder import build_record
from corral.observe.record import AttemptRecord, RequestRecord
from tests.observe.test_sink_support import make_ctx


def test_non_stream_ok_record_has_every_field() -> None:
    ctx = make_ctx(3, cache_key="abc123", breaker_open=["openai/gpt-4o"])
    before = time.time()
    record = build_record(ctx, http_status=200, error=None, client_first_byte_at=ctx.started + 0.12,
                          finished_at=ctx.started + 0.25, capture_content=False, cost=(0.0042, True))
    assert record.request_id == "req_000003"
    assert before - 0.3 < record.created_at < before - 0.1  # wall clock at ctx.started (0.2 s ago)
    assert (record.key_id, record.team, record.end_user) == ("key_abc", "growth", "end-user-7")
    assert (record.route, record.requested_model) == ("gpt-main", "fast")
    assert (record.served_model, record.deployment, record.provider_type) == (
        "gpt-4o-2024", "azure/gpt-4o", "azure")
    assert (record.status, record.http_status, record.error_type, record.stream) == ("ok", 200, None, False)
    assert (record.input_tokens, record.output_tokens, record.cached_tokens, record.reasoning_tokens) == (
        120, 30, 64, 8)
    assert record.usage_estimated is False
    assert record.ttft_upstream_ms == pytest.approx(100, abs=0.01)
    assert record.ttft_client_ms == pytest.approx(120, abs=0.01)
    assert record.latency_ms == pytest.approx(250, abs=0.01)
    assert (record.cost_usd, record.priced) == (0.0042, True)
    assert (record.cache_hit, record.degraded, record.fallback) == (False, None, "azure/gpt-4o")
    assert record.attempts == [
        AttemptRecord("openai/gpt-4o", "openai", "gpt-4o", "error", "UpstreamRateLimited", 12.0),
        AttemptRecord("azure/gpt-4o", "azure", "gpt-4o-2024", "ok", None, 80.0),
    ]
    assert record.extras == {"retry_stopped": "deadline", "cache_key": "abc123",
                             "breaker_open": ["openai/gpt-4o"]}
    assert record.prompt is None and record.response is None  # capture off


def test_stream_record_keeps_both_first_byte_times() -> None:
    ctx = make_ctx(stream=True)
    record = build_record(ctx, http_status=200, error=None, client_first_byte_at=ctx.started + 0.101,
                          finished_at=ctx.started + 1.5, capture_content=False)
    assert record.stream is True
    assert record.ttft_upstream_ms == pytest.approx(100, abs=0.01)
    assert record.ttft_client_ms == pytest.approx(101, abs=0.01)
    assert record.latency_ms == pytest.approx(1500, abs=0.01)
    assert (record.cost_usd, record.priced) == (None, False)  # no cost given: unpriced, not $0


def test_degraded_answer_from_cache() -> None:
    ctx = make_ctx(degraded="cache")
    ctx.served_model = ctx.deployment = None
    record = build_record(ctx, http_status=200, error=None, client_first_byte_at=None,
                          finished_at=ctx.started + 0.3, capture_content=False, cost=(None, False))
    assert (record.status, record.degraded, record.cache_hit) == ("degraded", "cache", True)
    assert record.provider_type is None and record.ttft_client_ms is None


def test_error_record() -> None:
    ctx = make_ctx()
    ctx.attempts[-1].status, ctx.attempts[-1].error_type = "error", "UpstreamTimeout"
    ctx.served_model = ctx.deployment = ctx.upstream_first_byte_at = None
    ctx.usage = None
    error = UpstreamTimeout("no first token", provider="azure")
    record = build_record(ctx, http_status=504, error=error, client_first_byte_at=ctx.started + 0.2,
                          finished_at=ctx.started + 0.2, capture_content=False)
    assert (record.status, record.http_status, record.error_type) == ("error", 504, "UpstreamTimeout")
    assert (record.input_tokens, record.output_tokens, record.ttft_upstream_ms) == (0, 0, None)
    assert [a.status for a in record.attempts] == ["error", "error"]
    # a 4xx without an exception object (the handler refused it) is an error too
    refused = build_record(make_ctx(), http_status=400, error=None, client_first_byte_at=None,
                           finished_at=time.perf_counter(), capture_content=False)
    assert refused.status == "error"


def test_captured_content_is_the_privacy_stage_copy_and_scrubbed() -> None:
    ctx = make_ctx()
    redacted = dataclasses.replace(ctx.request, messages=[Message("user", "Hello, I am <EMAIL_1>")])
    ctx.privacy = PrivacyOutcome("log-only", "route", {"EMAIL": 1}, redacted,
                                 lambda text: text.replace("alice@example.com", "<EMAIL_1>"))
    record = build_record(ctx, http_status=200, error=None, client_first_byte_at=None,
                          finished_at=ctx.started + 0.2, capture_content=True,
                          response_text="Nice to meet you, alice@example.com")
    assert record.prompt == [Message("user", "Hello, I am <EMAIL_1>")]
    assert record.response == "Nice to meet you, <EMAIL_1>"
    assert record.extras["privacy"] == {"policy": "log-only", "entities": {"EMAIL": 1}}
    assert "alice@example.com" not in repr(record)


def test_capture_without_privacy_stage_keeps_the_request_as_sent() -> None:
    ctx = make_ctx(response_text="a plugin's note")
    record = build_record(ctx, http_status=200, error=None, client_first_byte_at=None,
                          finished_at=ctx.started + 0.2, capture_content=True, response_text="the answer")
    assert record.prompt == ctx.request.messages and record.prompt is not ctx.request.messages
    assert record.response == "the answer" and "response_text" not in record.extras


def test_capture_off_never_keeps_content() -> None:
    ctx = make_ctx()
    ctx.privacy = PrivacyOutcome("off", "default", {}, ctx.request, str)
    record = build_record(ctx, http_status=200, error=None, client_first_byte_at=None,
                          finished_at=ctx.started + 0.2, capture_content=False, response_text="secret")
    assert record.prompt is None and record.response is None


def test_route_falls_back_to_the_requested_model_before_routing() -> None:
    ctx = make_ctx()
    ctx.public_model = ""
    ctx.caller = None
    ctx.request = ChatRequest(model="unknown-model", messages=[])
    record = build_record(ctx, http_status=404, error=None, client_first_byte_at=None,
                          finished_at=ctx.started, capture_content=True)
    assert (record.route, record.key_id, record.team, record.prompt) == ("unknown-model", None, None, [])


def test_build_is_cheap() -> None:
    ctx = make_ctx()
    n = 5000
    t0 = time.perf_counter()
    for _ in range(n):
        build_record(ctx, http_status=200, error=None, client_first_byte_at=ctx.started + 0.1,
                     finished_at=ctx.started + 0.2, capture_content=False, cost=(0.001, True))
    per_record_us = (time.perf_counter() - t0) / n * 1e6
    assert per_record_us < 50, per_record_us  # a few µs in practice; loose for slow CI machines


def test_record_field_order_is_pinned() -> None:
    """build_record passes fields positionally (a third cheaper): a reorder must fail here."""
    assert [f.name for f in dataclasses.fields(RequestRecord)] == [
        "request_id", "created_at", "key_id", "team", "end_user", "route", "requested_model",
        "served_model", "deployment", "provider_type", "status", "http_status", "error_type", "stream",
        "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "usage_estimated",
        "ttft_upstream_ms", "ttft_client_ms", "latency_ms", "cost_usd", "priced", "cache_hit",
        "degraded", "fallback", "attempts", "prompt", "response", "extras", "client_request_id", "operation",
    ]
