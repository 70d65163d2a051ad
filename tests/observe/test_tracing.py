"""Spans and OTLP metrics built from finished request records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from corral.observe.metrics import DURATION_BUCKETS, Metrics
from corral.observe.record import AttemptRecord
from corral.observe.tracing import ObservabilitySettings, Tracing
from tests.observe.test_metrics import rec

NS = 1_000_000_000


def two_attempts(**kw: Any) -> Any:
    fields: dict[str, Any] = dict(
        stream=True, ttft_upstream_ms=700.0, ttft_client_ms=710.0, latency_ms=2000.0, fallback="b",
        attempts=[AttemptRecord("a", "openai-prod", "gpt-4o", "error", "UpstreamUnavailable", 300.0),
                  AttemptRecord("b", "claude-prod", "claude-sonnet", "ok", None, 400.0)])
    return rec(**{**fields, **kw})


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Iterator[Tracing]:
    t = Tracing(ObservabilitySettings(), span_exporter=exporter,
                provider_types={"openai-prod": "openai", "claude-prod": "anthropic"}, batch=False)
    yield t
    t.shutdown()


def test_request_span_with_one_child_per_attempt(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    tracing.observe(two_attempts())
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"chat gpt-4o", "chat claude-sonnet"}  # the failed attempt was gpt-4o too
    failed, ok = sorted((s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT),
                        key=lambda s: s.start_time or 0)
    root = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert root.parent is None
    for child in (failed, ok):
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
    start = 1_700_000_000 * NS
    assert root.start_time == start and root.end_time == start + 2 * NS
    # back to back, the successful one ending its wait at the upstream's first byte (700 ms)
    assert failed.start_time == start and failed.end_time == start + 300_000_000
    assert ok.start_time == start + 300_000_000 and ok.end_time == start + 2 * NS  # streamed to the end
    a = root.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o" and a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert a["gen_ai.usage.input_tokens"] == 100 and a["gen_ai.usage.output_tokens"] == 50
    assert a["corral.request_id"] == "req-7f3a" and a["corral.fallback"] == "b"
    assert "error.type" not in a and root.status.status_code == StatusCode.UNSET
    assert failed.attributes["error.type"] == "UpstreamUnavailable"
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["gen_ai.provider.name"] == "openai"
    assert ok.attributes["gen_ai.provider.name"] == "anthropic"
    assert ok.attributes["gen_ai.response.time_to_first_chunk"] == 0.4
    assert tracing.tracer_provider.resource.attributes["service.name"] == "corral"


def test_failed_request_span_carries_error_type(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    tracing.observe(rec(status="error", http_status=504, error_type="UpstreamTimeout",
                        attempts=[AttemptRecord("a", "openai-prod", "gpt-4o", "error", "UpstreamTimeout",
                                                900.0)]))
    root = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert root.attributes["error.type"] == "UpstreamTimeout"
    assert root.attributes["http.response.status_code"] == 504
    assert root.status.status_code == StatusCode.ERROR


def test_no_content_unless_capture_is_on(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    tracing.observe(two_attempts())
    for span in exporter.get_finished_spans():
        flat = json.dumps(dict(span.attributes or {}))
        assert "PROMPT-TEXT" not in flat and "RESPONSE-TEXT" not in flat and "alice@" not in flat
        assert "gen_ai.input.messages" not in flat


def test_content_with_capture_on(exporter: InMemorySpanExporter) -> None:
    t = Tracing(ObservabilitySettings(capture_content=True), span_exporter=exporter, batch=False)
    t.observe(rec(prompt=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "[EMAIL]"}],
                  response="RESPONSE-TEXT"))
    t.shutdown()
    (root,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert json.loads(str(root.attributes["gen_ai.input.messages"])) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "[EMAIL]"}]},
    ]
    assert json.loads(str(root.attributes["gen_ai.output.messages"])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "RESPONSE-TEXT"}]}]


def test_incoming_traceparent_becomes_the_parent(tracing: Tracing, exporter: InMemorySpanExporter) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    tracing.observe(rec(extras={"traceparent": f"00-{trace_id}-{parent_id}-01"}))
    root = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert root.context.trace_id == int(trace_id, 16)
    assert root.parent is not None and root.parent.span_id == int(parent_id, 16)


class _Exporter:
    def __init__(self) -> None:
        self.exported: list[Any] = []
        self.closed = False

    def export(self, data: Any) -> None:
        self.exported.append(data)

    def shutdown(self) -> None:
        self.closed = True


def _by_name(data: Any) -> dict[str, Any]:
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


async def test_otlp_metrics_are_the_prometheus_numbers(exporter: InMemorySpanExporter) -> None:
    metric_exporter = _Exporter()
    t = Tracing(ObservabilitySettings(metrics_export_interval_s=3600), span_exporter=exporter,
                metric_exporter=metric_exporter, batch=False)
    metrics = Metrics()
    metrics.register_gauge_source("record_sink", lambda: {"queued": 4, "dropped_total": 1})
    t.attach(metrics)
    metrics.observe(two_attempts())
    metrics.observe(two_attempts(latency_ms=500.0))
    await t.aclose()  # a last snapshot is exported on close
    assert metric_exporter.closed and len(metric_exporter.exported) == 1
    found = _by_name(metric_exporter.exported[0])
    duration = found["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    (point,) = duration.data.data_points
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS
    assert point.count == 2 and point.sum == 2.5 and point.min == 0.5 and point.max == 2.0
    assert sum(point.bucket_counts) == 2 and len(point.bucket_counts) == len(DURATION_BUCKETS) + 1
    assert dict(point.attributes) == {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                      "gen_ai.request.model": "gpt-4o",
                                      "gen_ai.response.model": "gpt-4o-2024-08-06"}  # no empty error.type
    assert point.start_time_unix_nano == metrics.started_ns
    assert found["corral.requests"].data.is_monotonic
    assert found["corral.requests"].data.data_points[0].value == 2
    assert found["corral.record_sink.queued"].data.data_points[0].value == 4
    assert found["corral.record_sink.dropped"].data.is_monotonic
    assert {"gen_ai.client.token.usage", "corral.cost.usd", "corral.attempt.errors",
            "corral.fallbacks"} <= set(found)


async def test_otlp_http_export_to_a_local_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    pb_trace = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    pb_metrics = pytest.importorskip("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    received: dict[str, list[Any]] = {"traces": [], "metrics": []}

    async def traces(request: web.Request) -> web.Response:
        msg = pb_trace.ExportTraceServiceRequest()
        msg.ParseFromString(await request.read())
        received["traces"].append(msg)
        return web.Response(body=pb_trace.ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    async def metrics_(request: web.Request) -> web.Response:
        msg = pb_metrics.ExportMetricsServiceRequest()
        msg.ParseFromString(await request.read())
        received["metrics"].append(msg)
        return web.Response(body=pb_metrics.ExportMetricsServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/metrics", metrics_)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        settings = ObservabilitySettings(otlp_endpoint=f"http://127.0.0.1:{port}", service_name="corral-test")
        tracing = Tracing.from_settings(settings)
        assert tracing is not None
        metrics = Metrics()
        tracing.attach(metrics)
        record = two_attempts()
        metrics.observe(record)
        tracing.observe(record)
        await asyncio.wait_for(tracing.aclose(), 30)  # exports metrics and flushes spans
    finally:
        await runner.cleanup()
    spans = [s for req in received["traces"] for rs in req.resource_spans for ss in rs.scope_spans
             for s in ss.spans]
    assert sorted(s.name for s in spans) == ["chat claude-sonnet", "chat gpt-4o", "chat gpt-4o"]
    service = {a.key: a.value.string_value for req in received["traces"] for rs in req.resource_spans
               for a in rs.resource.attributes}
    assert service["service.name"] == "corral-test"
    names = {m.name for req in received["metrics"] for rm in req.resource_metrics for sm in rm.scope_metrics
             for m in sm.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "corral.requests"} <= names
