"""Optional OpenTelemetry export over OTLP/HTTP: spans and metrics from finished records.

Off unless `observability.otlp_endpoint` is set. Spans are built after the request, from
its `RequestRecord` (start and end times taken from the record), so no span object lives
on the hot path and a request that is never exported costs nothing here. Each request
gives a `chat {route}` server span with one `chat {model}` client span per upstream
attempt, carrying the GenAI semantic-convention attributes (`gen_ai.*`, `error.type`).
Prompt and answer go into spans only when `capture_content` is on, and then only as the
record holds them: already redacted by the privacy stage.

Metrics reach OTLP from the same numbers as /metrics: every interval a snapshot of
`Metrics` (taken on the event loop) is converted and exported on a worker thread, so the
two views cannot disagree and OTLP adds nothing per request. (Recording each record into
OTel SDK instruments instead measured about 47 us per request against 2-3 us for `Metrics`.)

A request whose caller sent a valid W3C `traceparent` joins the caller's trace: its server
span is a child of the caller's span and carries the caller's `tracestate`
(corral.observe.tracecontext checks the headers when the record is built).

The SDK and the OTLP/HTTP exporter are installed with Corral; this module imports them only
when export is enabled, so a gateway without an endpoint loads none of it. If they are
missing anyway (an install with --no-deps), enabling export fails at start saying what to
install.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from corral.core.tasks import cancel_and_wait
from corral.observe.metrics import Metrics, Spec, provider_name
from corral.observe.record import AttemptRecord, RequestRecord
from corral.observe.settings import EnvHeader, ObservabilitySettings
from corral.observe.tracecontext import parse_traceparent, tracestate_members

log = logging.getLogger("corral.tracing")
# Corral depends on both; they are missing only from an install made with --no-deps.
INSTALL_HINT = "pip install 'opentelemetry-sdk>=1.27,<2' 'opentelemetry-exporter-otlp-proto-http>=1.27,<2'"


class OTLPUnavailable(RuntimeError):
    """OTLP export is configured but the OpenTelemetry SDK or exporter is not installed."""


class OTLPHeaderMissing(RuntimeError):
    """An `observability.otlp_headers` value names an environment variable that is not set."""


def _sdk() -> Any:
    """Import the exporters, or say exactly what to install."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise OTLPUnavailable(
            f"observability.otlp_endpoint is set, but the OpenTelemetry SDK is not installed "
            f"({exc.name} is missing; Corral depends on it, so this install skipped dependencies). "
            f"Install it with {INSTALL_HINT}, or reinstall Corral with its dependencies, or remove "
            "observability.otlp_endpoint to run without OTLP export."
        ) from None
    return OTLPSpanExporter, OTLPMetricExporter


class Tracing:
    """Turns finished records into spans, and exports `Metrics` snapshots, over OTLP.

    `provider_types` maps configured provider names (what attempts record) to their types,
    so attempt spans get a semconv `gen_ai.provider.name`. Tests pass an in-memory span
    exporter with `batch=False` (export on span end) and any object with `export(data)`.
    """

    def __init__(
        self,
        settings: ObservabilitySettings,
        *,
        span_exporter: Any,
        metric_exporter: Any = None,
        provider_types: Mapping[str, str] | None = None,
        batch: bool = True,
    ):
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from corral import __version__

        self.settings = settings
        self.provider_types = dict(provider_types or {})
        self.resource = Resource.create({"service.name": settings.service_name,
                                         "service.version": __version__})
        self.scope = InstrumentationScope("corral", __version__)
        self.tracer_provider = TracerProvider(resource=self.resource, shutdown_on_exit=False)
        processor = BatchSpanProcessor(span_exporter) if batch else SimpleSpanProcessor(span_exporter)
        self.tracer_provider.add_span_processor(processor)
        self.tracer = self.tracer_provider.get_tracer("corral", __version__)
        self.metric_exporter = metric_exporter
        self.metrics: Metrics | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, settings: ObservabilitySettings, *, provider_types: Mapping[str, str] | None = None
    ) -> Tracing | None:
        """OTLP/HTTP exporters for `settings.otlp_endpoint`; None when export is off."""
        if not settings.otlp_endpoint:
            return None
        span_exporter_cls, metric_exporter_cls = _sdk()
        base = settings.otlp_endpoint.rstrip("/")
        headers = export_headers(settings)
        metric_exporter = (metric_exporter_cls(endpoint=f"{base}/v1/metrics", headers=headers)
                           if settings.otlp_metrics else None)
        return cls(settings, span_exporter=span_exporter_cls(endpoint=f"{base}/v1/traces", headers=headers),
                   metric_exporter=metric_exporter, provider_types=provider_types)

    def attach(self, metrics: Metrics) -> None:
        """Export `metrics` every `metrics_export_interval_s`. Call from the running loop."""
        self.metrics = metrics
        if self.metric_exporter is not None and self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._export_loop(), name="corral-otlp-metrics")

    async def _export_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.metrics_export_interval_s)
            try:
                await self.export_metrics()
            except Exception:  # an unreachable collector must not stop later exports
                log.exception("tracing: metrics export failed")

    async def export_metrics(self) -> None:
        """Snapshot on the loop (no locks needed), convert and send on a worker thread."""
        if self.metrics is None or self.metric_exporter is None:
            return
        snapshot = self.metrics.snapshot()
        await asyncio.to_thread(lambda: self.metric_exporter.export(self.metrics_data(snapshot)))

    def metrics_data(self, snapshot: Any) -> Any:
        """OTLP `MetricsData` (cumulative since the gateway started) from `Metrics.snapshot()`."""
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality,
            Gauge,
            Histogram,
            HistogramDataPoint,
            Metric,
            MetricsData,
            NumberDataPoint,
            ResourceMetrics,
            ScopeMetrics,
            Sum,
        )

        families, gauges = snapshot
        now, cumulative = time.time_ns(), AggregationTemporality.CUMULATIVE
        start = self.metrics.started_ns if self.metrics is not None else now
        out = []
        for spec, series in families:
            if not series:
                continue
            data: Any
            if spec.kind == "counter":
                sums = [NumberDataPoint(_attrs(spec, key), start, now, state[0]) for key, state in series]
                data = Sum(sums, cumulative, is_monotonic=True)
            else:
                points = [HistogramDataPoint(_attrs(spec, key), start, now, count=int(sum(state[:-3])),
                                             sum=state[-3], bucket_counts=[int(c) for c in state[:-3]],
                                             explicit_bounds=list(spec.buckets), min=state[-2], max=state[-1])
                          for key, state in series]
                data = Histogram(points, cumulative)
            out.append(Metric(spec.otel_name, spec.description, spec.unit, data))
        for source, key, value in gauges:  # record_sink, queued -> corral.record_sink.queued
            otel_name = f"corral.{source}.{key.removesuffix('_total')}"
            point = [NumberDataPoint({}, start, now, value)]
            data = Sum(point, cumulative, is_monotonic=True) if key.endswith("_total") else Gauge(point)
            out.append(Metric(otel_name, "Reported by a gauge source.", "", data))
        scope = ScopeMetrics(self.scope, out, schema_url="")
        return MetricsData([ResourceMetrics(self.resource, [scope], schema_url="")])

    def observe(self, record: RequestRecord) -> None:
        """Export one finished request as spans. Never raises."""
        try:
            self._spans(record)
        except Exception:  # tracing must not fail the request that is being traced
            log.exception("tracing: could not export record %s", getattr(record, "request_id", "?"))

    def _spans(self, r: RequestRecord) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        parent = _caller_context(r.extras)
        start = int(r.created_at * 1e9)
        end = start + int(r.latency_ms * 1e6)
        span = self.tracer.start_span(f"{r.operation} {r.route}", context=parent, kind=SpanKind.SERVER,
                                      start_time=start, attributes=self._request_attributes(r))
        if not span.is_recording():  # not sampled (OTEL_TRACES_SAMPLER): skip the children's cost
            return
        if r.status == "error":
            span.set_status(Status(StatusCode.ERROR, r.error_type or "error"))
        ctx = trace.set_span_in_context(span)
        for attempt, (a_start, a_end) in zip(r.attempts, _attempt_times(r), strict=True):
            child = self.tracer.start_span(
                f"{r.operation} {attempt.model}", context=ctx, kind=SpanKind.CLIENT,
                start_time=start + int(a_start * 1e6), attributes=self._attempt_attributes(r, attempt))
            if attempt.status == "error":
                child.set_status(Status(StatusCode.ERROR, attempt.error_type or "error"))
            child.end(end_time=start + int(a_end * 1e6))
        span.end(end_time=end)

    def _request_attributes(self, r: RequestRecord) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": r.operation,
            "gen_ai.request.model": r.requested_model,
            "gen_ai.request.stream": r.stream,
            "gen_ai.usage.input_tokens": r.input_tokens,
            "gen_ai.usage.output_tokens": r.output_tokens,
            "http.response.status_code": r.http_status,
            "corral.request_id": r.request_id,
            "corral.route": r.route,
            "corral.status": r.status,
            "corral.cache_hit": r.cache_hit,
            "corral.usage_estimated": r.usage_estimated,
        }
        optional = {
            "gen_ai.provider.name": provider_name(r.provider_type, self.provider_types) if r.provider_type
            else None,
            "gen_ai.response.model": r.served_model,
            "gen_ai.usage.cache_read.input_tokens": r.cached_tokens or None,
            "gen_ai.usage.reasoning.output_tokens": r.reasoning_tokens or None,
            "error.type": (r.error_type or "_OTHER") if r.status == "error" else None,
            "corral.team": r.team,
            "corral.key_id": r.key_id,
            "corral.deployment": r.deployment,
            "corral.cost_usd": r.cost_usd,
            "corral.degraded": r.degraded,
            "corral.fallback": r.fallback,
            "corral.ttft_client_ms": r.ttft_client_ms,
            "corral.ttft_upstream_ms": r.ttft_upstream_ms,
        }
        if self.settings.capture_content:
            optional["corral.end_user"] = r.end_user
            if r.prompt is not None:
                optional["gen_ai.input.messages"] = _dumps(_input_messages(r.prompt))
            if r.response is not None:
                optional["gen_ai.output.messages"] = _dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": r.response}]}]
                )
        attrs.update((k, v) for k, v in optional.items() if v is not None)
        return attrs

    def _attempt_attributes(self, r: RequestRecord, a: AttemptRecord) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": r.operation,
            "gen_ai.provider.name": provider_name(a.provider, self.provider_types),
            "gen_ai.request.model": a.model,
            "corral.provider": a.provider,
            "corral.deployment": a.deployment,
            "corral.attempt.duration_ms": a.duration_ms,
        }
        if a.status == "error":
            attrs["error.type"] = a.error_type or "_OTHER"
        elif r.stream:
            attrs["gen_ai.response.time_to_first_chunk"] = a.duration_ms / 1000
        return attrs

    async def aclose(self) -> None:
        """Stop the export loop, send a last metrics snapshot, flush and stop the exporters."""
        await cancel_and_wait(self._task)
        self._task = None
        try:
            await self.export_metrics()
        finally:
            await asyncio.to_thread(self.shutdown)

    def shutdown(self) -> None:
        """Flush spans and stop the exporters (blocking; `aclose` runs it on a thread)."""
        self.tracer_provider.shutdown()
        if self.metric_exporter is not None:
            self.metric_exporter.shutdown()


def export_headers(settings: ObservabilitySettings,
                   environ: Mapping[str, str] = os.environ) -> dict[str, str] | None:
    """The headers of every export: the standard OTEL_EXPORTER_OTLP_HEADERS, then `otlp_headers`
    (which win), their secrets read from the environment now, so a missing one stops the start.
    None without `otlp_headers`: the exporters read the standard variables themselves."""
    if not settings.otlp_headers:
        return None
    from opentelemetry.util.re import parse_env_headers

    headers = dict(parse_env_headers(environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""), liberal=True))
    for name, value in settings.otlp_headers.items():
        headers[name.lower()] = value if isinstance(value, str) else _from_env(name, value, environ)
    return headers


def _from_env(name: str, header: EnvHeader, environ: Mapping[str, str]) -> str:
    variables = [header.env] if header.env is not None else list(header.basic_env or ())
    missing = [v for v in variables if not environ.get(v)]
    if missing:
        raise OTLPHeaderMissing(
            f"observability.otlp_headers.{name} is read from the environment variable "
            f"{' and '.join(missing)}, which is not set: export it before starting Corral, or remove "
            f"the header from observability.otlp_headers."
        )
    if header.env is not None:
        return environ[header.env]
    user, password = (environ[v] for v in variables)
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _caller_context(extras: Mapping[str, Any]) -> Any:
    """The OTel context of the caller's span from the record's `traceparent` and `tracestate`
    (None: no valid caller trace, so the request starts its own)."""
    traceparent = extras.get("traceparent")
    parsed = parse_traceparent(traceparent) if isinstance(traceparent, str) else None
    if parsed is None:
        return None
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    trace_id, span_id, flags = parsed
    state = extras.get("tracestate")
    members = tracestate_members(state) if isinstance(state, str) else None
    caller = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags),
                         trace_state=TraceState(members or None))
    return trace.set_span_in_context(NonRecordingSpan(caller))


def _attrs(spec: Spec, key: tuple[str, ...]) -> dict[str, str]:
    """OTel attributes from Prometheus label values: an empty value is an absent attribute."""
    return {name: v for name, v in zip(spec.attributes, key, strict=True) if v}


def _attempt_times(r: RequestRecord) -> list[tuple[float, float]]:
    """(start, end) of each attempt in ms from request start.

    Records keep each attempt's duration but not its start, so attempts are laid back to
    back, the last one ending when the upstream's first byte arrived (or at the request's
    end when none did): exact for one attempt, and gaps such as retry backoff show as
    earlier starts. A streamed answer's attempt lasts until the stream ends. An attempt
    record that carries `started_ms` is placed exactly.
    """
    anchor = r.ttft_upstream_ms if r.ttft_upstream_ms is not None else r.latency_ms
    times: list[tuple[float, float]] = []
    cursor = anchor
    for a in reversed(r.attempts):
        began = getattr(a, "started_ms", None)
        a_start = max(0.0, began if began is not None else cursor - a.duration_ms)
        a_end = a_start + a.duration_ms
        if a.status == "ok" and r.stream:
            a_end = max(a_end, r.latency_ms)
        times.append((a_start, a_end))
        cursor = a_start
    times.reverse()
    return times


def _input_messages(prompt: Any) -> list[dict[str, Any]]:
    """The semconv `gen_ai.input.messages` shape: [{role, parts: [{type: text, content}]}]."""
    if isinstance(prompt, str):
        return [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
    if not isinstance(prompt, Sequence):
        return [{"role": "user", "parts": [{"type": "text", "content": str(prompt)}]}]
    messages = []
    for m in prompt:
        role = m.get("role") if isinstance(m, Mapping) else getattr(m, "role", None)
        content = m.get("content") if isinstance(m, Mapping) else getattr(m, "content", None)
        text_of = getattr(m, "text", None)
        if not isinstance(content, str | None) and callable(text_of):
            content = text_of()
        messages.append({"role": role or "user", "parts": [{"type": "text", "content": content}]})
    return messages


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
