"""docs/grafana/corral-dashboard.json queries only what /metrics exports: every PromQL
expression names metrics that corral/observe/metrics.py defines, with their own labels."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corral.observe.metrics import SPECS

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "corral-dashboard.json"
# metric -> its labels, as /metrics renders them (histograms as _bucket, _sum and _count series).
EXPORTED: dict[str, frozenset[str]] = {"corral_metrics_overflow_total": frozenset({"metric"}),
                                       "corral_metrics_gauge_source_errors_total": frozenset({"source"})}
for spec in SPECS:
    labels = frozenset(spec.prom_labels)
    if spec.kind == "histogram":
        EXPORTED |= {f"{spec.prom_name}_bucket": labels | {"le"}, f"{spec.prom_name}_sum": labels,
                     f"{spec.prom_name}_count": labels}
    else:
        EXPORTED[spec.prom_name] = labels

_SELECTOR = re.compile(r"\{([^{}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^()]*)\)")
_MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"[^\"]*\"\s*")
_IDENT = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*\b")
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)")


def _expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and templating query."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query":
            yield f"${variable['name']}", query["query"] if isinstance(query, dict) else query


def _metrics_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """The metric names an expression reads and the label names it selects or groups by."""
    if found := _LABEL_VALUES.fullmatch(expr.strip()):
        return {found[1]}, {found[2]}
    labels: set[str] = set()
    for selector in _SELECTOR.findall(expr):
        matchers = [m for m in selector.split(",") if m.strip()]
        for matcher in matchers:
            parsed = _MATCHER.fullmatch(matcher)
            assert parsed is not None, f"cannot read the matcher {matcher!r} in {expr}"
            labels.add(parsed[1])
    for grouping in _GROUPING.findall(expr):
        labels |= {name.strip() for name in grouping.split(",") if name.strip()}
    rest = _GROUPING.sub(" ", _SELECTOR.sub(" ", re.sub(r'"[^"]*"', " ", expr)))
    rest = re.sub(r"\[[^\]]*\]", " ", rest)  # range durations such as [$__rate_interval]
    metrics = {name for name in _IDENT.findall(rest) if name.startswith(("corral_", "gen_ai_"))}
    return metrics, labels


def test_every_query_names_only_exported_metrics_and_their_labels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    seen: set[str] = set()
    expressions = list(_expressions(dashboard))
    assert len(expressions) > 20
    for where, expr in expressions:
        metrics, labels = _metrics_and_labels(expr)
        assert metrics, f"{where}: no Corral metric in {expr}"
        unknown = metrics - EXPORTED.keys()
        assert not unknown, f"{where}: {sorted(unknown)} are not defined in corral/observe/metrics.py"
        allowed = frozenset().union(*(EXPORTED[m] for m in metrics))
        assert labels <= allowed, f"{where}: labels {sorted(labels - allowed)} are not on {sorted(metrics)}"
        seen |= metrics
    # what the dashboard promises: rate, latency, TTFT, tokens, cost, cache, errors, fallbacks
    assert {"corral_requests_total", "gen_ai_client_operation_duration_seconds_bucket",
            "gen_ai_server_time_to_first_token_seconds_bucket", "gen_ai_client_token_usage_sum",
            "corral_cost_usd_total", "corral_cache_hits_total", "corral_errors_total",
            "corral_fallbacks_total"} <= seen


def test_the_checker_catches_a_wrong_name() -> None:
    typo = 'sum by (corral_route) (rate(corral_request_total{corral_team=~"$team"}[5m]))'
    assert _metrics_and_labels(typo) == ({"corral_request_total"}, {"corral_route", "corral_team"})
    assert "corral_request_total" not in EXPORTED  # so the test above would name it
    assert _metrics_and_labels("label_values(corral_requests_total, corral_route)") == (
        {"corral_requests_total"}, {"corral_route"})


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "corral-gateway" and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
