"""The ``observability:`` and ``alerts:`` settings of corral.yaml.

Why a module of its own: `corral.config` composes these models, and the runtime they
configure (the alert engine with aiohttp and the store, the OTLP exporter) must not be
imported just to read a configuration file. They import nothing from Corral.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RuleKind = Literal["latency_p99", "ttft_p99", "error_rate", "cost_burn", "quality", "consistency"]


class ObservabilitySettings(BaseModel):
    """The `observability:` section of corral.yaml."""

    model_config = ConfigDict(extra="forbid")

    # OTLP/HTTP base URL of a collector, e.g. http://otel-collector:4318; traces go to
    # {endpoint}/v1/traces and metrics to {endpoint}/v1/metrics. None: no OTLP export.
    # Collector credentials: the standard OTEL_EXPORTER_OTLP_HEADERS variable, never the file.
    otlp_endpoint: str | None = None
    service_name: str = "corral"
    capture_content: bool = False  # prompts and answers in spans (as redacted by the privacy stage)
    metrics_public: bool = False  # GET /metrics without an admin key (for a scraper inside the network)
    metrics_export_interval_s: float = Field(30.0, gt=0)


class AlertRule(BaseModel):
    """One threshold. Units: ms for latency/TTFT, a 0-1 fraction for error_rate, USD per
    day for cost_burn (the window's spend extrapolated to 24 h, compared with the daily
    budget), a score for quality (the lowest rolling similarity to golden answers) and for
    consistency (the lowest rolling factual consistency of grounded answers with their
    sources); those two fire when the score drops *below* the threshold."""

    name: str
    kind: RuleKind
    threshold: float
    window_s: int = Field(300, ge=10)
    min_requests: int = Field(1, ge=0)  # too few requests -> no opinion (avoids 1-sample p99 noise)


class AlertSettings(BaseModel):
    """``alerts:`` in corral.yaml. No rules means no background task at all."""

    rules: list[AlertRule] = Field(default_factory=list)
    webhook_url: str | None = None
    interval_s: float = Field(30.0, gt=0)
    webhook_timeout_s: float = Field(5.0, gt=0)
