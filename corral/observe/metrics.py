"""Prometheus metrics computed from finished request records.

Names follow the OpenTelemetry GenAI semantic conventions (open-telemetry/
semantic-conventions-genai, docs/gen-ai/gen-ai-metrics.md; `gen_ai.provider.name`, which
replaced `gen_ai.system` after semconv v1.36.0), with each convention's recommended
bucket boundaries. Prometheus names apply the OTel -> Prometheus mapping: dots become
underscores, the unit is appended as a word (`s` -> `_seconds`; `{token}`-style
annotations are dropped) and counters end in `_total`.

Why a hand-written exposition rather than `prometheus_client`: `observe` runs once per
request on the event loop, and the whole record (about ten updates) costs a few
microseconds here against several times that through `prometheus_client`'s per-call
`labels()` lookup and locks (numbers in docs/observability.md). Everything is updated and
rendered on the event loop's thread, so no locks are needed; call `observe` and `render`
from that thread only.

Cardinality stays bounded by construction: labels are model, provider, team, status and
error class names, never request ids, end users, key ids or content. Route names outside
the configured models fold into `_OTHER` (a client can send any model name), and every
family caps its series (`max_series`); past the cap, new label sets share one `_OTHER`
series and `corral_metrics_overflow_total` counts them.
"""

from __future__ import annotations

import logging
import math
import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from corral.observe.record import RequestRecord

log = logging.getLogger("corral.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "_OTHER"  # semconv's fallback value; also the overflow and unknown-model label

# Bucket boundaries, copied from the conventions' ExplicitBucketBoundaries advice.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
                 67108864)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)

# Corral provider types -> well-known `gen_ai.provider.name` values; others pass through.
PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini",
                  "azure": "azure.ai.openai", "bedrock": "aws.bedrock", "local": "corral.local"}

GaugeSource = Callable[[], Mapping[str, float]]


def provider_name(provider: str, provider_types: Mapping[str, str]) -> str:
    """`gen_ai.provider.name` for a provider type or a configured provider's name."""
    kind = provider_types.get(provider, provider)
    return PROVIDER_NAMES.get(kind, kind)


Point = tuple["Family", tuple[str, ...], float]
_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": "ratio"}


@dataclass(frozen=True, slots=True)
class Spec:
    """One instrument as OpenTelemetry names it; the Prometheus name is derived from it."""

    otel_name: str
    kind: str  # counter | histogram
    unit: str
    description: str
    attributes: tuple[str, ...]
    buckets: tuple[float, ...] = ()

    @property
    def prom_name(self) -> str:
        name = re.sub(r"[^a-zA-Z0-9_]", "_", self.otel_name)
        unit = "" if self.unit.startswith("{") else _UNIT_WORDS.get(self.unit, self.unit)
        if unit and not name.endswith("_" + unit):
            name += "_" + unit
        return name + "_total" if self.kind == "counter" else name

    @property
    def prom_labels(self) -> tuple[str, ...]:
        return tuple(a.replace(".", "_") for a in self.attributes)


_GENAI = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model")
DURATION = Spec("gen_ai.client.operation.duration", "histogram", "s", "GenAI operation duration.",
                (*_GENAI, "error.type"), DURATION_BUCKETS)
TOKENS = Spec("gen_ai.client.token.usage", "histogram", "{token}", "Number of input and output tokens used.",
              (*_GENAI, "gen_ai.token.type"), TOKEN_BUCKETS)
TTFT = Spec("gen_ai.server.time_to_first_token", "histogram", "s",
            "Time to generate first token for successful responses.", _GENAI, TTFT_BUCKETS)
TPOT = Spec("gen_ai.server.time_per_output_token", "histogram", "s",
            "Time per output token generated after the first token for successful responses.",
            _GENAI, TPOT_BUCKETS)
REQUESTS = Spec("corral.requests", "counter", "{request}", "Requests finished, by outcome.",
                ("corral.route", "corral.team", "corral.status"))
ERRORS = Spec("corral.errors", "counter", "{request}", "Requests that ended in an error, by error class.",
              ("corral.route", "corral.team", "error.type"))
ATTEMPT_ERRORS = Spec("corral.attempt.errors", "counter", "{attempt}",
                      "Failed upstream attempts (retried or not), by deployment and error class.",
                      ("corral.deployment", "corral.provider", "error.type"))
FALLBACKS = Spec("corral.fallbacks", "counter", "{request}", "Requests answered by a fallback model or "
                 "deployment.", ("corral.route", "corral.fallback"))
DEGRADED = Spec("corral.degraded", "counter", "{request}", "Degraded answers (cached answer, configured "
                "message, content-policy fallback).", ("corral.route", "corral.degraded"))
CACHE_HITS = Spec("corral.cache.hits", "counter", "{request}", "Requests answered from Corral's cache.",
                  ("corral.route",))
CACHE_MISSES = Spec("corral.cache.misses", "counter", "{request}",
                    "Requests a route with cache.exact looked up and the model answered.", ("corral.route",))
CACHE_SAVED = Spec("corral.cache.saved.usd", "counter", "{USD}",
                   "What exact-cache hits saved: the replayed answers' tokens at their model's price.",
                   ("corral.route",))
COST = Spec("corral.cost.usd", "counter", "{USD}", "Estimated spend in US dollars (priced requests only).",
            ("corral.route", "gen_ai.response.model", "corral.team"))
UNPRICED = Spec("corral.requests.unpriced", "counter", "{request}",
                "Requests that used tokens but could not be priced (their cost is unknown, not zero).",
                ("corral.route", "gen_ai.response.model", "corral.team"))
WEBHOOK_DELIVERIES = Spec("corral.webhook.deliveries", "counter", "{delivery}",
                          "Webhook delivery attempts (corral.webhooks), by event type and outcome.",
                          ("event", "outcome"))
SPECS = (DURATION, TOKENS, TTFT, TPOT, REQUESTS, ERRORS, ATTEMPT_ERRORS, FALLBACKS, DEGRADED, CACHE_HITS,
         CACHE_MISSES, CACHE_SAVED, COST, UNPRICED, WEBHOOK_DELIVERIES)


def _fmt(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if value != value:
        return "NaN"
    return repr(float(value))


def _key(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Family:
    """The series of one instrument: label values -> counter value or histogram state.

    A histogram series is one list: a count per bucket, the +Inf bucket, then sum, min and
    max (min and max for OTLP); `bisect_left` over the boundaries puts a value in the first
    bucket whose `le` holds it.
    """

    __slots__ = ("_label_text", "_le", "max_series", "overflow", "series", "spec")

    def __init__(self, spec: Spec, max_series: int):
        self.spec = spec
        self.max_series = max_series
        self.overflow = 0
        self.series: dict[tuple[str, ...], list[float]] = {}
        self._label_text: dict[tuple[str, ...], str] = {}
        self._le = [_fmt(b) for b in spec.buckets] + ["+Inf"]

    def _new(self, key: tuple[str, ...]) -> list[float]:
        if len(self.series) >= self.max_series:
            self.overflow += 1
            key = (OTHER,) * len(key)
            if key in self.series:
                return self.series[key]
        buckets = self.spec.buckets
        state = [0.0] * (len(buckets) + 1) + [0.0, math.inf, -math.inf] if buckets else [0.0]
        self.series[key] = state
        self._label_text[key] = ",".join(
            f'{n}="{_escape(v)}"' for n, v in zip(self.spec.prom_labels, key, strict=True)
        )
        return state

    def update(self, key: tuple[str, ...], value: float) -> None:
        state = self.series.get(key) or self._new(key)
        if self.spec.buckets:
            state[bisect_left(self.spec.buckets, value)] += 1
            state[-3] += value
            if value < state[-2]:
                state[-2] = value
            if value > state[-1]:
                state[-1] = value
        else:
            state[0] += value

    def render(self, out: list[str]) -> None:
        spec, name = self.spec, self.spec.prom_name
        out.append(f"# HELP {name} {spec.description}\n# TYPE {name} {spec.kind}\n")
        for key, state in self.series.items():
            labels = self._label_text[key]
            if not spec.buckets:
                out.append(f"{name}{{{labels}}} {_fmt(state[0])}\n")
                continue
            sep = "," if labels else ""
            total = 0.0
            for le, count in zip(self._le, state, strict=False):
                total += count
                out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {_fmt(total)}\n')
            out.append(f"{name}_sum{{{labels}}} {_fmt(state[-3])}\n{name}_count{{{labels}}} {_fmt(total)}\n")


class Metrics:
    """Prometheus metrics for the gateway: `observe` each finished record, `render` on scrape.

    `models`: the configured public model names (aliases resolved); a record's route outside
    them is labelled `_OTHER`. None trusts every route (tests, or a fixed route table).
    `provider_types`: configured provider name -> type, since a record may name its provider
    by configuration name rather than type.
    `snapshot` gives the same numbers to the OTLP exporter in `corral.observe.tracing`.
    """

    def __init__(self, models: Iterable[str] | None = None, *,
                 provider_types: Mapping[str, str] | None = None, max_series: int = 2000):
        self.models = frozenset(models) if models is not None else None
        self.provider_types = dict(provider_types or {})
        self._providers: dict[str, str] = {}  # record value -> label, so the lookup happens once
        self.families = {spec: Family(spec, max_series) for spec in SPECS}
        f = self.families
        self._duration, self._tokens, self._ttft, self._tpot = f[DURATION], f[TOKENS], f[TTFT], f[TPOT]
        self._requests, self._errors, self._attempt_errors = f[REQUESTS], f[ERRORS], f[ATTEMPT_ERRORS]
        self._fallbacks, self._degraded, self._cache_hits = f[FALLBACKS], f[DEGRADED], f[CACHE_HITS]
        self._cost, self._unpriced = f[COST], f[UNPRICED]
        self._cache_misses, self._cache_saved = f[CACHE_MISSES], f[CACHE_SAVED]
        self._sources: dict[str, tuple[GaugeSource, frozenset[str]]] = {}
        self._source_errors: dict[str, int] = {}
        self.started_ns = time.time_ns()  # the start of every cumulative series, for OTLP

    def register_gauge_source(self, name: str, source: GaugeSource, *, counters: Iterable[str] = ()) -> None:
        """Report `source()`'s numbers as gauges `corral_{name}_{key}` at every scrape.

        Keys named in `counters` (cumulative counts, such as records written) are reported
        as counters `corral_{name}_{key}_total`, as is any key already ending in `_total`.
        The source runs on the scrape, on the event loop: it must be cheap and not block.
        """
        if not _NAME_RE.match(name):
            raise ValueError(f"gauge source name {name!r} must match {_NAME_RE.pattern}")
        self._sources[name] = (source, frozenset(counters))

    def points(self, r: RequestRecord) -> list[Point]:
        """The updates one record makes: (family, label values, amount)."""
        route = r.route if self.models is None or r.route in self.models else OTHER
        provider = ""
        if r.provider_type:
            provider = self._providers.get(r.provider_type) or self._providers.setdefault(
                r.provider_type, provider_name(r.provider_type, self.provider_types))
        served = r.served_model or ""
        team = r.team or ""
        failed = r.status == "error"
        genai = (r.operation, provider, route, served)
        pts: list[Point] = [
            (self._duration, (*genai, (r.error_type or OTHER) if failed else ""), r.latency_ms / 1000),
            (self._requests, (route, team, r.status), 1),
        ]
        if failed:
            pts.append((self._errors, (route, team, r.error_type or OTHER), 1))
        for a in r.attempts:
            if a.status == "error":
                pts.append((self._attempt_errors, (a.deployment, a.provider, a.error_type or OTHER), 1))
        if r.fallback:
            pts.append((self._fallbacks, (route, r.fallback), 1))
        if r.degraded:
            pts.append((self._degraded, (route, r.degraded), 1))
        if r.cache_hit:
            pts.append((self._cache_hits, (route,), 1))
            if saved := r.extras.get("cache_saved_usd"):
                pts.append((self._cache_saved, (route,), saved))
        elif provider and not failed:  # billable tokens of a provider call; none for cache hits
            pts.append((self._tokens, (*genai, "input"), r.input_tokens))
            pts.append((self._tokens, (*genai, "output"), r.output_tokens))
        if r.extras.get("cache") == "miss":
            pts.append((self._cache_misses, (route,), 1))
        if r.cost_usd is not None:
            pts.append((self._cost, (route, served, team), r.cost_usd))
        elif not r.cache_hit and (r.input_tokens or r.output_tokens):
            pts.append((self._unpriced, (route, served, team), 1))
        if r.status == "ok" and r.stream and r.degraded is None and not r.cache_hit:
            ttft_ms = r.ttft_client_ms if r.ttft_client_ms is not None else r.ttft_upstream_ms
            if ttft_ms is not None:
                pts.append((self._ttft, genai, ttft_ms / 1000))
                if r.output_tokens > 1:
                    tpot = (r.latency_ms - ttft_ms) / 1000 / (r.output_tokens - 1)
                    pts.append((self._tpot, genai, max(tpot, 0.0)))
        return pts

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request. Never raises: metrics must not fail a request."""
        try:
            pts = self.points(record)
            for family, key, value in pts:
                family.update(key, value)
        except Exception:  # a bad record is logged, the request goes on
            log.exception("metrics: could not observe record %s", getattr(record, "request_id", "?"))

    def count_webhook_delivery(self, event: str, outcome: str) -> None:
        """One webhook delivery attempt (delivered, retried, failed, skipped)."""
        self.families[WEBHOOK_DELIVERIES].update((event, outcome), 1)

    def snapshot(self) -> tuple[list[tuple[Spec, list[tuple[tuple[str, ...], list[float]]]]],
                                list[tuple[str, str, float]]]:
        """A copy of every series and gauge, taken on the loop's thread for export elsewhere."""
        families = [(f.spec, [(k, list(v)) for k, v in f.series.items()]) for f in self.families.values()]
        return families, self.gauges()

    def gauges(self) -> list[tuple[str, str, float]]:
        """(source, key, value) of every gauge source, read now; a failing source is counted."""
        values: list[tuple[str, str, float]] = []
        for name, (source, counters) in self._sources.items():
            try:
                values.extend(sorted((name, _key(k + "_total" if k in counters else k), float(v))
                                     for k, v in source().items()))
            except Exception:  # one broken source must not break the scrape
                log.exception("metrics: gauge source %r failed", name)
                self._source_errors[name] = self._source_errors.get(name, 0) + 1
        return values

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of every family and gauge source."""
        out: list[str] = []
        for family in self.families.values():
            if family.series:
                family.render(out)
        for source, key, value in self.gauges():
            metric = f"corral_{source}_{key}"
            kind = "counter" if metric.endswith("_total") else "gauge"
            out.append(f"# HELP {metric} Reported by a gauge source.\n# TYPE {metric} {kind}\n"
                       f"{metric} {_fmt(value)}\n")
        overflow = [(f.spec.prom_name, f.overflow) for f in self.families.values() if f.overflow]
        errors = sorted(self._source_errors.items())
        for metric, help_text, rows, label in (
            ("corral_metrics_overflow_total", "Observations folded into _OTHER by the series cap.", overflow,
             "metric"),
            ("corral_metrics_gauge_source_errors_total", "Gauge sources that raised on a scrape.", errors,
             "source"),
        ):
            if rows:
                out.append(f"# HELP {metric} {help_text}\n# TYPE {metric} counter\n")
                out.extend(f'{metric}{{{label}="{_escape(k)}"}} {_fmt(v)}\n' for k, v in rows)
        return "".join(out).encode()
