"""W3C trace context: parsing, what the record keeps, every edge that reads it, and the OTLP
export's headers (secrets from the environment)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from corral.config import ConfigError, load_settings
from corral.observe.builder import build_record
from corral.observe.settings import ObservabilitySettings
from corral.observe.tracecontext import (
    parse_traceparent,
    trace_headers,
    traceparent_of,
    tracestate_of,
)
from corral.observe.tracing import OTLPHeaderMissing, Tracing, export_headers
from tests.conftest import RunningServer
from tests.observe.test_metrics import rec
from tests.observe.test_sink_support import make_ctx

TRACE, SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{SPAN}-01"


@pytest.mark.parametrize("value", [
    f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
    f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
    f"ff-{TRACE}-{SPAN}-01",  # version ff is forbidden
    f"00-{TRACE.upper()}-{SPAN}-01",  # hex must be lowercase
    f"00-{TRACE}-{SPAN}-01-extra",  # version 00 is exactly 55 characters
    f"00-{TRACE[:-1]}-{SPAN}-01",  # short trace id
    f"00-{TRACE}-{SPAN}-1",  # short flags
    f"0-{TRACE}-{SPAN}-01",
    f"00_{TRACE}_{SPAN}_01",
    f"cc-{TRACE}-{SPAN}-01x",  # a later version: the 55 characters must end there or at "-"
    "", "garbage",
])
def test_invalid_traceparents_are_rejected(value: str) -> None:
    assert parse_traceparent(value) is None and traceparent_of(value) is None


def test_valid_traceparents() -> None:
    assert parse_traceparent(VALID) == (int(TRACE, 16), int(SPAN, 16), 1)
    assert traceparent_of(f" {VALID} ") == VALID
    assert traceparent_of(f"00-{TRACE}-{SPAN}-00") == f"00-{TRACE}-{SPAN}-00"
    # a later version is read by its first 55 characters, and only the sampled flag is kept
    assert traceparent_of(f"cc-{TRACE}-{SPAN}-ff-more-fields") == f"00-{TRACE}-{SPAN}-01"
    assert traceparent_of(f"01-{TRACE}-{SPAN}-02") == f"00-{TRACE}-{SPAN}-00"


def test_tracestate_rules() -> None:
    spaced = "congo=t61rcWkgMzE , rojo=00f067aa0ba902b7"  # spaces around a comma are not the value's
    assert tracestate_of(spaced) == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    assert tracestate_of("tenant@vendor=x,,a=b") == "tenant@vendor=x,a=b"  # empty members are skipped
    assert tracestate_of("a=1,a=2") is None  # duplicate key
    assert tracestate_of("Upper=1") is None  # keys are lowercase
    assert tracestate_of("a=has=equals") is None
    assert tracestate_of("a=tab\there") is None  # a value is printable ASCII
    assert tracestate_of(",".join(f"k{i}=v" for i in range(33))) is None  # more than 32 members
    assert tracestate_of("a=" + "x" * 600) is None  # over 512 characters
    assert tracestate_of("") is None and tracestate_of(None) is None


def test_trace_headers_from_raw_asgi_headers() -> None:
    raw = [(b"host", b"x"), (b"traceparent", VALID.encode()), (b"tracestate", b"a=1"),
           (b"tracestate", b"b=2")]
    assert trace_headers(raw) == (VALID, "a=1,b=2")
    assert trace_headers([(b"traceparent", VALID.encode())] * 2) == ("", None)  # repeated: invalid
    assert trace_headers([(b"host", b"x")]) == (None, None)


def _record_extras(trace_parent: str | None, trace_state: str | None = None) -> dict[str, object]:
    ctx = make_ctx()
    ctx.trace_parent, ctx.trace_state = trace_parent, trace_state
    record = build_record(ctx, http_status=200, error=None, client_first_byte_at=None,
                          finished_at=ctx.started + 0.1, capture_content=False)
    return record.extras


def test_the_record_keeps_only_a_valid_trace_context() -> None:
    extras = _record_extras(f" {VALID}", "vendor=abc")
    assert extras["traceparent"] == VALID and extras["tracestate"] == "vendor=abc"
    assert "tracestate" not in _record_extras(VALID, "Bad Key=1")
    invalid = _record_extras(f"00-{'0' * 32}-{SPAN}-01", "vendor=abc")  # dropped with its tracestate
    assert "traceparent" not in invalid and "tracestate" not in invalid
    assert "traceparent" not in _record_extras(None, "vendor=abc")


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]


def test_span_carries_the_callers_tracestate_and_respects_not_sampled(exporter: InMemorySpanExporter) -> None:
    t = Tracing(ObservabilitySettings(), span_exporter=exporter, batch=False)
    t.observe(rec(extras={"traceparent": VALID, "tracestate": "vendor=abc,other=1"}))
    (root,) = _server_spans(exporter)
    assert root.context.trace_id == int(TRACE, 16)
    assert root.parent.span_id == int(SPAN, 16) and root.parent.is_remote
    assert root.context.trace_state.to_header() == "vendor=abc,other=1"
    exporter.clear()
    t.observe(rec(extras={"traceparent": f"00-{TRACE}-{SPAN}-00"}))  # the caller did not sample it
    assert exporter.get_finished_spans() == ()
    t.observe(rec(extras={"traceparent": f"00-{'0' * 32}-{SPAN}-01"}))  # invalid: a trace of its own
    (root,) = _server_spans(exporter)
    assert root.parent is None and root.context.trace_id != 0
    t.shutdown()


@pytest.fixture
def traced(fake_server: RunningServer, exporter: InMemorySpanExporter) -> Iterator[RunningServer]:
    """The fake server with its records turned into spans in memory."""
    recorder = fake_server.gateway.recorder
    recorder.tracing = Tracing(ObservabilitySettings(), span_exporter=exporter, batch=False)
    yield fake_server
    recorder.tracing.shutdown()
    recorder.tracing = None


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"model": "echo", "messages": HI}),
    ("/v1/chat/completions", {"model": "echo", "messages": HI, "stream": True}),
    ("/v1/messages", {"model": "echo", "max_tokens": 5, "messages": HI}),
    ("/v1/responses", {"model": "echo", "input": "hi"}),
    ("/v1/embeddings", {"model": "echo", "input": "hi"}),
])
async def test_every_edge_joins_the_callers_trace(traced: RunningServer, exporter: InMemorySpanExporter,
                                                  path: str, body: dict[str, object]) -> None:
    headers = {"authorization": f"Bearer {traced.app_key}", "traceparent": VALID, "tracestate": "vendor=abc"}
    async with aiohttp.ClientSession() as s, s.post(traced.url + path, json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        await r.read()
    for _ in range(100):  # a stream is recorded just after its last byte
        if _server_spans(exporter):
            break
        await asyncio.sleep(0.02)
    (root,) = _server_spans(exporter)
    assert root.context.trace_id == int(TRACE, 16)
    assert root.parent.span_id == int(SPAN, 16)
    assert root.context.trace_state.to_header() == "vendor=abc"


def test_export_headers_read_secrets_from_the_environment() -> None:
    settings = ObservabilitySettings(otlp_endpoint="http://collector:4318", otlp_headers={
        "x-langfuse-ingestion-version": "4",
        "Authorization": {"basic_env": ["LF_PUBLIC", "LF_SECRET"]},
        "x-token": {"env": "COLLECTOR_TOKEN"},
    })
    env = {"LF_PUBLIC": "pk-lf-1", "LF_SECRET": "sk-lf-2", "COLLECTOR_TOKEN": "t0k",
           "OTEL_EXPORTER_OTLP_HEADERS": "x-from-env=1,x-token=overridden"}
    assert export_headers(settings, env) == {
        "x-from-env": "1", "x-token": "t0k", "x-langfuse-ingestion-version": "4",
        "authorization": "Basic " + base64.b64encode(b"pk-lf-1:sk-lf-2").decode(),
    }
    with pytest.raises(OTLPHeaderMissing, match=r"otlp_headers\.Authorization .* LF_SECRET, which is not"):
        export_headers(settings, {"LF_PUBLIC": "pk", "COLLECTOR_TOKEN": "t"})
    assert export_headers(ObservabilitySettings(), env) is None  # the exporters read the variables


def test_traces_only_export_and_missing_secret_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_TEST_OTLP_TOKEN", raising=False)
    traces_only = Tracing.from_settings(ObservabilitySettings(otlp_endpoint="http://127.0.0.1:9",
                                                              otlp_metrics=False))
    assert traces_only is not None and traces_only.metric_exporter is None
    traces_only.shutdown()
    with pytest.raises(OTLPHeaderMissing, match="export it before starting Corral"):
        Tracing.from_settings(ObservabilitySettings(
            otlp_endpoint="http://127.0.0.1:9", otlp_headers={"x-token": {"env": "CORRAL_TEST_OTLP_TOKEN"}}))


def test_a_credential_in_the_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "corral.yaml"
    file.write_text("observability:\n  otlp_endpoint: http://c:4318\n"
                    "  otlp_headers: {Authorization: 'Basic cGstbGYtMTIzOnNrLWxmLTQ1Ng=='}\n")
    with pytest.raises(ConfigError, match=r"observability\.otlp_headers\.Authorization"):
        load_settings(file)
    file.write_text("observability:\n  otlp_endpoint: http://c:4318\n"
                    "  otlp_headers: {Authorization: {basic_env: [LF_PUBLIC, LF_SECRET]}}\n")
    header = load_settings(file).observability.otlp_headers["Authorization"]
    assert not isinstance(header, str) and header.basic_env == ("LF_PUBLIC", "LF_SECRET")
