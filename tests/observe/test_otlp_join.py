"""Traces that join, end to end: the official SDKs send a W3C `traceparent` through Corral (in
front of the simulator) and a real OTLP/HTTP receiver decodes what Corral exports."""

from __future__ import annotations

import base64
import gzip
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from corral.api.app import create_app
from corral.simulator import SimSettings, SimulatorThread, sim_text
from tests.conftest import RunningServer, serve_in_thread, settings_for

SIM_KEY = "sim-upstream-secret"
PROMPT = "Tell me about corrals please"
USER, PASSWORD = "pk-lf-test", "sk-lf-test"  # the collector's basic auth, from the environment
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@dataclass
class Receiver:
    """An OTLP/HTTP collector: decodes every protobuf export, keeps spans, metric names, headers."""

    url: str = ""
    spans: list[Span] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> bytes | None:
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        with self.lock:
            self.headers.append(headers)
            if path == "/v1/traces":
                traces = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                self.spans += [s for rs in traces.resource_spans for ss in rs.scope_spans for s in ss.spans]
                return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            if path == "/v1/metrics":
                metrics = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                self.metric_names |= {m.name for rm in metrics.resource_metrics for sm in rm.scope_metrics
                                      for m in sm.metrics}
                return metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        return None

    def request_spans(self, request_id: str, timeout: float = 15.0) -> tuple[Span, list[Span]]:
        """The server span of `request_id` and its attempt spans, once they have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                servers = [s for s in self.spans if s.kind == Span.SPAN_KIND_SERVER
                           and attrs(s).get("corral.request_id") == request_id]
                if servers:
                    children = [s for s in self.spans if s.parent_span_id == servers[0].span_id]
                    if children:
                        return servers[0], children
            time.sleep(0.05)
        raise AssertionError(f"no spans for {request_id} reached the receiver in {timeout} s")


def attrs(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = None
            if headers.get("content-type") == "application/x-protobuf":
                answer = found.handle(self.path, headers, body)
            self.send_response(200 if answer is not None else 400)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer or b"")))
            self.end_headers()
            self.wfile.write(answer or b"")

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def corral(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Corral in front of the simulator, exporting to `receiver` with basic auth from the environment."""
    mp = pytest.MonkeyPatch()
    for var in PROXY_VARS:  # the exporter's HTTP client honours proxies; the receiver is local
        mp.delenv(var, raising=False)
    mp.setenv("NO_PROXY", "127.0.0.1,localhost")
    mp.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # ms: spans leave within a moment, not 5 s
    mp.delenv("OTEL_TRACES_SAMPLER", raising=False)
    mp.setenv("SIM_KEY", SIM_KEY)
    mp.setenv("TEST_OTLP_USER", USER)
    mp.setenv("TEST_OTLP_PASSWORD", PASSWORD)
    common = {"api_key_env": "SIM_KEY", "read_timeout_s": 5}
    plain = {"retry": {"max_attempts": 1}, "cache_fallback": False}
    try:
        with SimulatorThread(SimSettings(output_tokens=8, require_key=SIM_KEY)) as sim:
            settings = settings_for(
                tmp_path_factory.mktemp("corral"),
                {"oa": {"type": "openai", "base_url": f"{sim.url}/v1", **common},
                 "an": {"type": "anthropic", "base_url": sim.url, **common}},
                {"gpt-sim": {"deployments": [{"provider": "oa", "model": "gpt-sim"}], **plain},
                 "claude-sim": {"deployments": [{"provider": "an", "model": "claude-sim"}], **plain}},
                observability={
                    "otlp_endpoint": receiver.url, "service_name": "corral-join-test",
                    "metrics_export_interval_s": 0.2,
                    "otlp_headers": {"authorization": {"basic_env": ["TEST_OTLP_USER", "TEST_OTLP_PASSWORD"]},
                                     "x-tenant": "join-test"},
                },
            )
            yield from serve_in_thread(create_app(settings, warmup=False))
    finally:
        mp.undo()


def _caller() -> tuple[str, str, str]:
    """A caller's trace id and span id, and their sampled `traceparent`."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def _oa(corral: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=corral.url + "/v1", api_key=corral.app_key, max_retries=0)


def _assert_joined(server: Span, children: list[Span], trace_id: str, span_id: str) -> None:
    assert server.trace_id.hex() == trace_id, "the server span continues the caller's trace"
    assert server.parent_span_id.hex() == span_id, "the caller's span is the server span's parent"
    (attempt,) = children
    assert attempt.kind == Span.SPAN_KIND_CLIENT
    assert attempt.trace_id == server.trace_id and attempt.parent_span_id == server.span_id
    assert server.start_time_unix_nano <= attempt.start_time_unix_nano <= attempt.end_time_unix_nano
    assert attempt.end_time_unix_nano <= server.end_time_unix_nano


def test_chat_completion_joins_the_callers_trace(corral: RunningServer, receiver: Receiver) -> None:
    trace_id, span_id, traceparent = _caller()
    raw = _oa(corral).chat.completions.with_raw_response.create(
        model="gpt-sim", messages=[{"role": "user", "content": PROMPT}], max_tokens=6,
        extra_headers={"traceparent": traceparent, "tracestate": "caller=abc,other=1"})
    assert raw.parse().choices[0].message.content == sim_text(PROMPT, 6)
    server, children = receiver.request_spans(raw.headers["x-request-id"])
    _assert_joined(server, children, trace_id, span_id)
    assert server.trace_state == "caller=abc,other=1", "tracestate is carried on"
    assert server.name == "chat gpt-sim"
    a = attrs(server)
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "gpt-sim"
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.response.model"]
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] == 6
    assert a["gen_ai.request.stream"] is False and a["http.response.status_code"] == 200
    b = attrs(children[0])
    assert b["gen_ai.operation.name"] == "chat" and b["gen_ai.request.model"] == "gpt-sim"
    assert b["gen_ai.provider.name"] == "openai" and b["corral.provider"] == "oa"
    # the exporter authenticated with the configured headers (basic auth from the environment)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with receiver.lock:
        assert all(h.get("authorization") == expected and h.get("x-tenant") == "join-test"
                   for h in receiver.headers)


def test_streamed_chat_joins_the_callers_trace(corral: RunningServer, receiver: Receiver) -> None:
    trace_id, span_id, traceparent = _caller()
    with _oa(corral).chat.completions.with_streaming_response.create(
            model="gpt-sim", messages=[{"role": "user", "content": PROMPT}], stream=True,
            extra_headers={"traceparent": traceparent}) as response:
        request_id = response.headers["x-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert text == sim_text(PROMPT, 8)
    server, children = receiver.request_spans(request_id)
    _assert_joined(server, children, trace_id, span_id)
    assert server.trace_state == ""
    assert attrs(server)["gen_ai.request.stream"] is True
    assert attrs(server)["gen_ai.usage.output_tokens"] == 8
    assert "gen_ai.response.time_to_first_chunk" in attrs(children[0])


def test_anthropic_messages_join_the_callers_trace(corral: RunningServer, receiver: Receiver) -> None:
    trace_id, span_id, traceparent = _caller()
    client = anthropic.Anthropic(base_url=corral.url, api_key=corral.app_key, max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="claude-sim", max_tokens=6, messages=[{"role": "user", "content": PROMPT}],
        extra_headers={"traceparent": traceparent})
    assert raw.parse().content[0].text == sim_text(PROMPT, 6)  # type: ignore[union-attr]
    server, children = receiver.request_spans(raw.headers["request-id"])
    _assert_joined(server, children, trace_id, span_id)
    a = attrs(server)
    assert a["gen_ai.request.model"] == "claude-sim" and a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] == 6


@pytest.mark.parametrize("traceparent", [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # uppercase
    "not-a-traceparent",
])
def test_an_invalid_traceparent_starts_a_new_trace(corral: RunningServer, receiver: Receiver,
                                                   traceparent: str) -> None:
    raw = _oa(corral).chat.completions.with_raw_response.create(
        model="gpt-sim", messages=[{"role": "user", "content": PROMPT}], max_tokens=2,
        extra_headers={"traceparent": traceparent, "tracestate": "caller=abc"})
    server, children = receiver.request_spans(raw.headers["x-request-id"])
    assert server.parent_span_id == b"", "no parent: the request's own trace"
    assert server.trace_id.hex() not in traceparent.lower() and server.trace_id != bytes(16)
    assert server.trace_state == "", "an invalid traceparent's tracestate is dropped with it"
    assert children[0].trace_id == server.trace_id and children[0].parent_span_id == server.span_id


def test_metrics_reach_the_receiver(corral: RunningServer, receiver: Receiver) -> None:
    _oa(corral).chat.completions.create(model="gpt-sim", messages=[{"role": "user", "content": PROMPT}],
                                        max_tokens=2)
    deadline = time.monotonic() + 15
    wanted = {"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "corral.requests"}
    while time.monotonic() < deadline:
        with receiver.lock:
            if wanted <= receiver.metric_names:
                return
        time.sleep(0.1)
    raise AssertionError(f"metrics at the receiver: {sorted(receiver.metric_names)}")
