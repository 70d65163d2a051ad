"""Prometheus metrics from request records: names, buckets, labels, exposition."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from corral.api.metrics import metrics_endpoint
from corral.core.errors import AuthError, PermissionDenied
from corral.observe.metrics import DURATION_BUCKETS, TOKEN_BUCKETS, TPOT_BUCKETS, TTFT_BUCKETS, Metrics
from corral.observe.record import AttemptRecord, RequestRecord
from corral.observe.tracing import ObservabilitySettings

GENAI = {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model"}
FORBIDDEN = {"request_id", "key_id", "end_user", "user", "prompt", "response", "content"}


def rec(**kw: Any) -> RequestRecord:
    base: dict[str, Any] = dict(
        request_id="req-7f3a", created_at=1_700_000_000.0, key_id="key-secret-id", team="search",
        end_user="alice@example.com", route="gpt-4o", requested_model="gpt-4o",
        served_model="gpt-4o-2024-08-06", deployment="openai-main", provider_type="openai", status="ok",
        http_status=200, error_type=None, stream=False, input_tokens=100, output_tokens=50,
        latency_ms=1000.0, cost_usd=0.002, priced=True,
        attempts=[AttemptRecord("openai-main", "openai-prod", "gpt-4o-2024-08-06", "ok", None, 900.0)],
        prompt=[{"role": "user", "content": "PROMPT-TEXT"}], response="RESPONSE-TEXT",
    )
    base.update(kw)
    return RequestRecord(**base)


# A small parser for the 0.0.4 text format: every line must be HELP, TYPE or a sample of
# a declared family, so a malformed exposition fails here.
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


@dataclass
class Exposition:
    types: dict[str, str]
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def get(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def series(self, name: str) -> list[dict[str, str]]:
        return [dict(lbl) for (n, lbl) in self.samples if n == name]


def parse(body: bytes) -> Exposition:
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    assert body == b"" or body.endswith(b"\n")
    for line in body.decode().splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram") and name not in types
            types[name] = kind
            continue
        m = _SAMPLE.match(line)
        assert m, f"bad line {line!r}"
        name, raw, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample {name} without TYPE"
        labels = frozenset(_LABEL.findall(raw or ""))
        assert ",".join(f'{k}="{v}"' for k, v in sorted(labels)) or not raw
        samples[(name, labels)] = float(value)
    return Exposition(types, samples)


def test_names_types_and_buckets_follow_the_conventions() -> None:
    m = Metrics(models=["gpt-4o"])
    m.observe(rec(stream=True, latency_ms=1000.0, ttft_client_ms=200.0, output_tokens=51))
    exp = parse(m.render())
    assert exp.types["gen_ai_client_operation_duration_seconds"] == "histogram"
    assert exp.types["gen_ai_client_token_usage"] == "histogram"
    assert exp.types["gen_ai_server_time_to_first_token_seconds"] == "histogram"
    assert exp.types["gen_ai_server_time_per_output_token_seconds"] == "histogram"
    assert exp.types["corral_cost_usd_total"] == "counter"
    for name, buckets in (("gen_ai_client_operation_duration_seconds", DURATION_BUCKETS),
                          ("gen_ai_client_token_usage", TOKEN_BUCKETS),
                          ("gen_ai_server_time_to_first_token_seconds", TTFT_BUCKETS),
                          ("gen_ai_server_time_per_output_token_seconds", TPOT_BUCKETS)):
        les = [s["le"] for s in exp.series(f"{name}_bucket") if s.get("gen_ai_token_type") in (None, "input")]
        assert [float(le) for le in les] == [*map(float, buckets), float("inf")]
    assert DURATION_BUCKETS[-1] == 81.92 and TOKEN_BUCKETS[-1] == 67108864 and TTFT_BUCKETS[0] == 0.001
    genai = dict(gen_ai_operation_name="chat", gen_ai_provider_name="openai", gen_ai_request_model="gpt-4o",
                 gen_ai_response_model="gpt-4o-2024-08-06")
    d = "gen_ai_client_operation_duration_seconds"
    assert exp.get(f"{d}_bucket", **genai, error_type="", le="0.64") == 0
    assert exp.get(f"{d}_bucket", **genai, error_type="", le="1.28") == 1
    assert exp.get(f"{d}_sum", **genai, error_type="") == 1.0
    assert exp.get(f"{d}_count", **genai, error_type="") == 1
    t = "gen_ai_client_token_usage"
    assert exp.get(f"{t}_bucket", **genai, gen_ai_token_type="input", le="64.0") == 0
    assert exp.get(f"{t}_bucket", **genai, gen_ai_token_type="input", le="256.0") == 1
    assert exp.get(f"{t}_sum", **genai, gen_ai_token_type="output") == 51
    assert exp.get("gen_ai_server_time_to_first_token_seconds_sum", **genai) == pytest.approx(0.2)
    # (1.0 s - 0.2 s) over the 50 tokens after the first
    assert exp.get("gen_ai_server_time_per_output_token_seconds_sum", **genai) == pytest.approx(0.016)


def test_bucket_upper_bounds_are_inclusive_and_cumulative() -> None:
    m = Metrics()
    for ms in (10.0, 320.0, 320.0, 100_000.0):
        m.observe(rec(latency_ms=ms))
    exp = parse(m.render())
    counts = {s["le"]: exp.samples[("gen_ai_client_operation_duration_seconds_bucket", frozenset(s.items()))]
              for s in exp.series("gen_ai_client_operation_duration_seconds_bucket")}
    assert counts["0.01"] == 1 and counts["0.16"] == 1 and counts["0.32"] == 3 and counts["81.92"] == 3
    assert counts["+Inf"] == 4


def test_labels_are_the_specified_sets_and_never_identify_callers_or_content() -> None:
    m = Metrics()
    m.observe(rec(stream=True, ttft_client_ms=100.0, fallback="gpt-4o-mini", cache_hit=False))
    m.observe(rec(status="error", http_status=504, error_type="UpstreamTimeout", cost_usd=None,
                  attempts=[AttemptRecord("openai-main", "openai-prod", "gpt-4o", "error",
                                          "UpstreamTimeout", 5.0)]))
    body = m.render()
    for secret in (b"req-7f3a", b"key-secret-id", b"alice@example.com", b"PROMPT-TEXT", b"RESPONSE-TEXT"):
        assert secret not in body
    exp = parse(body)
    expected = {
        "gen_ai_client_operation_duration_seconds_count": GENAI | {"error_type"},
        "gen_ai_client_token_usage_count": GENAI | {"gen_ai_token_type"},
        "gen_ai_server_time_to_first_token_seconds_count": GENAI,
        "corral_requests_total": {"corral_route", "corral_team", "corral_status"},
        "corral_errors_total": {"corral_route", "corral_team", "error_type"},
        "corral_attempt_errors_total": {"corral_deployment", "corral_provider", "error_type"},
        "corral_fallbacks_total": {"corral_route", "corral_fallback"},
        "corral_cost_usd_total": {"corral_route", "gen_ai_response_model", "corral_team"},
    }
    for name, labels in expected.items():
        assert exp.series(name) and all(set(s) == labels for s in exp.series(name)), name
    for (_, labels) in exp.samples:
        assert not {k for k, _ in labels} & FORBIDDEN


def test_errors_degraded_fallbacks_and_cache_hits_are_counted() -> None:
    m = Metrics()
    m.observe(rec(status="error", http_status=429, error_type="RateLimited", attempts=[], cost_usd=None,
                  input_tokens=0, output_tokens=0, provider_type=None, served_model=None))
    m.observe(rec(status="error", http_status=502, error_type="AllProvidersFailed", attempts=[
        AttemptRecord("a", "p1", "m", "error", "UpstreamUnavailable", 10.0),
        AttemptRecord("b", "p2", "m", "error", "UpstreamTimeout", 20.0)]))
    m.observe(rec(status="degraded", degraded="cache", cache_hit=True, cost_usd=None, input_tokens=0,
                  output_tokens=0))
    m.observe(rec(status="degraded", degraded="message", cost_usd=None, input_tokens=0, output_tokens=0))
    m.observe(rec(fallback="claude"))
    m.observe(rec(cache_hit=True, cost_usd=None))
    exp = parse(m.render())
    assert exp.get("corral_errors_total", corral_route="gpt-4o", corral_team="search",
                   error_type="RateLimited") == 1
    assert exp.get("corral_attempt_errors_total", corral_deployment="b", corral_provider="p2",
                   error_type="UpstreamTimeout") == 1
    assert exp.get("corral_degraded_total", corral_route="gpt-4o", corral_degraded="cache") == 1
    assert exp.get("corral_degraded_total", corral_route="gpt-4o", corral_degraded="message") == 1
    assert exp.get("corral_fallbacks_total", corral_route="gpt-4o", corral_fallback="claude") == 1
    assert exp.get("corral_cache_hits_total", corral_route="gpt-4o") == 2
    assert exp.get("corral_requests_total", corral_route="gpt-4o", corral_team="search",
                   corral_status="error") == 2
    assert exp.get("corral_requests_total", corral_route="gpt-4o", corral_team="search",
                   corral_status="degraded") == 2
    # The failed request without a provider call: duration with error.type, no provider label value.
    assert exp.get("gen_ai_client_operation_duration_seconds_count", gen_ai_operation_name="chat",
                   gen_ai_provider_name="", gen_ai_request_model="gpt-4o", gen_ai_response_model="",
                   error_type="RateLimited") == 1
    # Token usage only for answers a provider produced: the fallback and the degraded message.
    tokens = exp.series("gen_ai_client_token_usage_count")
    assert sum(exp.get("gen_ai_client_token_usage_count", **s) for s in tokens) == 4


def test_cost_is_summed_and_unpriced_requests_are_counted_apart() -> None:
    m = Metrics()
    m.observe(rec(cost_usd=0.25))
    m.observe(rec(cost_usd=0.5))
    m.observe(rec(cost_usd=None, priced=False, team="ads"))
    m.observe(rec(cost_usd=None, priced=False, team="ads", input_tokens=0, output_tokens=0))  # nothing used
    exp = parse(m.render())
    assert exp.get("corral_cost_usd_total", corral_route="gpt-4o", gen_ai_response_model="gpt-4o-2024-08-06",
                   corral_team="search") == 0.75
    assert exp.get("corral_requests_unpriced_total", corral_route="gpt-4o",
                   gen_ai_response_model="gpt-4o-2024-08-06", corral_team="ads") == 1
    assert len(exp.series("corral_cost_usd_total")) == 1  # the unpriced requests add no $0 series


def test_unknown_models_and_series_past_the_cap_fold_into_other() -> None:
    m = Metrics(models=["gpt-4o"], max_series=3)
    m.observe(rec(route="made-up-by-a-client"))
    for team in ("a", "b", "c", "d", "e"):
        m.observe(rec(team=team))
    exp = parse(m.render())
    routes = {s["corral_route"] for s in exp.series("corral_requests_total")}
    assert routes == {"_OTHER", "gpt-4o"}
    assert len(exp.series("corral_requests_total")) == 4  # 3 series, then one overflow series
    assert exp.get("corral_requests_total", corral_route="_OTHER", corral_team="_OTHER",
                   corral_status="_OTHER") == 3
    assert exp.get("corral_metrics_overflow_total", metric="corral_requests_total") == 3


def test_provider_label_uses_semconv_names_for_types_and_configured_names() -> None:
    m = Metrics(provider_types={"claude-prod": "anthropic", "gem": "gemini"})
    for ptype in ("openai", "claude-prod", "gem", "my-vllm"):
        m.observe(rec(provider_type=ptype))
    exp = parse(m.render())
    names = {s["gen_ai_provider_name"] for s in exp.series("gen_ai_client_operation_duration_seconds_count")}
    assert names == {"openai", "anthropic", "gcp.gemini", "my-vllm"}


def test_ttft_and_tpot_only_for_streamed_successes() -> None:
    m = Metrics()
    m.observe(rec(stream=False, ttft_client_ms=900.0))
    m.observe(rec(stream=True, status="error", error_type="UpstreamTimeout", ttft_client_ms=90.0))
    m.observe(rec(stream=True, ttft_client_ms=None, ttft_upstream_ms=40.0, output_tokens=1))
    exp = parse(m.render())
    assert [exp.get("gen_ai_server_time_to_first_token_seconds_count", **s)
            for s in exp.series("gen_ai_server_time_to_first_token_seconds_count")] == [1]
    assert exp.get("gen_ai_server_time_to_first_token_seconds_sum",
                   **exp.series("gen_ai_server_time_to_first_token_seconds_sum")[0]) == 0.04
    assert "gen_ai_server_time_per_output_token_seconds" not in exp.types  # one token: nothing after it


def test_gauge_sources_render_at_scrape_and_a_broken_one_is_counted() -> None:
    m = Metrics()
    stats = {"queued": 3, "spooled": 0, "dropped_total": 2, "flush_lag_seconds": 0.25, "written": 10}
    m.register_gauge_source("record_sink", lambda: stats, counters={"written"})
    m.register_gauge_source("broken", lambda: 1 / 0)  # type: ignore[arg-type,return-value]
    exp = parse(m.render())
    assert exp.types["corral_record_sink_queued"] == "gauge"
    assert exp.types["corral_record_sink_dropped_total"] == "counter"
    assert exp.types["corral_record_sink_written_total"] == "counter"
    assert exp.get("corral_record_sink_flush_lag_seconds") == 0.25
    stats["queued"] = 9
    exp = parse(m.render())
    assert exp.get("corral_record_sink_queued") == 9
    assert exp.get("corral_metrics_gauge_source_errors_total", source="broken") == 2
    with pytest.raises(ValueError, match="must match"):
        m.register_gauge_source("record-sink", lambda: stats)


def test_label_values_are_escaped() -> None:
    m = Metrics()
    m.observe(rec(team='q"uo\\te\nnl'))
    body = m.render()
    assert b'corral_team="q\\"uo\\\\te\\nnl"' in body
    parse(body)


def test_prometheus_client_parser_accepts_the_exposition() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    m = Metrics()
    m.observe(rec(stream=True, ttft_client_ms=100.0, output_tokens=20, fallback="x", degraded=None))
    m.observe(rec(status="error", error_type="UpstreamTimeout"))
    m.register_gauge_source("record_sink", lambda: {"queued": 1})
    families = {f.name: f for f in parser.text_string_to_metric_families(m.render().decode())}
    assert families["gen_ai_client_operation_duration_seconds"].type == "histogram"
    assert families["corral_requests"].type == "counter"
    assert families["corral_record_sink_queued"].type == "gauge"


def test_a_bad_record_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    m = Metrics()
    m.observe(rec(latency_ms=None))  # type: ignore[arg-type]
    assert "could not observe" in caplog.text
    assert m.render() == b""  # points are computed before any update: nothing half-counted


def test_observe_stays_cheap() -> None:
    m = Metrics(models=["gpt-4o"])
    records = [rec(team=f"t{i % 5}", stream=bool(i % 2), ttft_client_ms=120.0) for i in range(100)]
    n = 20_000
    began = time.perf_counter()
    for i in range(n):
        m.observe(records[i % 100])
    per_call_us = (time.perf_counter() - began) / n * 1e6
    assert per_call_us < 100, per_call_us  # ~3 us on the dev machine; generous for slow CI


def _request(app: Starlette, key: str | None) -> Request:
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    return Request({"type": "http", "method": "GET", "path": "/metrics", "headers": headers,
                    "query_string": b"", "app": app})


class _Keys:
    async def verify(self, raw: str) -> Any:
        scopes = {"admin-key": frozenset({"admin"}), "app-key": frozenset({"inference"})}.get(raw)
        return SimpleNamespace(id=raw, name=raw, team="t", scopes=scopes) if scopes else None


def _app(public: bool) -> Starlette:
    app = Starlette()
    metrics = Metrics()
    metrics.observe(rec())
    app.state.gateway = SimpleNamespace(
        keys=_Keys(), metrics=metrics,
        settings=SimpleNamespace(observability=ObservabilitySettings(metrics_public=public),
                                 ownership="team"))
    return app


async def test_endpoint_needs_an_admin_key_unless_public() -> None:
    app = _app(public=False)
    with pytest.raises(AuthError):
        await metrics_endpoint(_request(app, None))
    with pytest.raises(PermissionDenied):
        await metrics_endpoint(_request(app, "app-key"))
    response = await metrics_endpoint(_request(app, "admin-key"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert parse(bytes(response.body)).get("corral_requests_total", corral_route="gpt-4o",
                                           corral_team="search", corral_status="ok") == 1
    public = await metrics_endpoint(_request(_app(public=True), None))
    assert public.status_code == 200
