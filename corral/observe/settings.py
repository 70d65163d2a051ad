"""The ``observability:`` and ``alerts:`` settings of corral.yaml.

Why a module of its own: `corral.config` composes these models, and the runtime they
configure (the alert engine with aiohttp and the store, the OTLP exporter) must not be
imported just to read a configuration file. They import nothing from Corral.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RuleKind = Literal["latency_p99", "ttft_p99", "error_rate", "cost_burn", "quality", "consistency", "budget"]


class EnvHeader(BaseModel):
    """A header value read from the environment when the gateway starts, so that the file,
    which is committed and shared, never holds the credential itself."""

    model_config = ConfigDict(extra="forbid")

    env: str | None = None  # the variable holding the whole value, e.g. "Basic cGstbGYt..."
    basic_env: tuple[str, str] | None = None  # (user variable, password variable): HTTP basic auth

    @model_validator(mode="after")
    def _one_source(self) -> EnvHeader:
        if (self.env is None) == (self.basic_env is None):
            raise ValueError("give exactly one of env (a variable holding the header's value) or "
                             "basic_env (the variables holding the user and the password)")
        return self


class ObservabilitySettings(BaseModel):
    """The `observability:` section of corral.yaml."""

    model_config = ConfigDict(extra="forbid")

    # OTLP/HTTP base URL of a collector, e.g. http://otel-collector:4318; traces go to
    # {endpoint}/v1/traces and metrics to {endpoint}/v1/metrics. None: no OTLP export.
    otlp_endpoint: str | None = None
    # Headers sent with every export, added to the standard OTEL_EXPORTER_OTLP_HEADERS variable's.
    # A credential is never written in the file: {env: VAR} or {basic_env: [USER_VAR, PASSWORD_VAR]}.
    otlp_headers: dict[str, str | EnvHeader] = Field(default_factory=dict)
    otlp_metrics: bool = True  # false: traces only (a backend without /v1/metrics, such as Langfuse)
    service_name: str = "corral"
    capture_content: bool = False  # prompts and answers in spans (as redacted by the privacy stage)
    metrics_public: bool = False  # GET /metrics without an admin key (for a scraper inside the network)
    metrics_export_interval_s: float = Field(30.0, gt=0)


class AlertRule(BaseModel):
    """One threshold. Units: ms for latency/TTFT, a 0-1 fraction for error_rate, USD per
    day for cost_burn (the window's spend extrapolated to 24 h, compared with the daily
    budget), a score for quality (the lowest rolling similarity to golden answers) and for
    consistency (the lowest rolling factual consistency of grounded answers with their
    sources); those two fire when the score drops *below* the threshold. budget: the largest
    spent/soft ratio of the `limits:` dollar budgets (spent/hard where a budget has no soft
    level), firing when it *reaches* the threshold, 1.0 unless given (docs/limits.md); its
    window_s and min_requests do not apply (a budget's window is its day or month)."""

    name: str
    kind: RuleKind
    threshold: float
    window_s: int = Field(300, ge=10)
    min_requests: int = Field(1, ge=0)  # too few requests -> no opinion (avoids 1-sample p99 noise)

    @model_validator(mode="before")
    @classmethod
    def _budget_threshold(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "budget" and "threshold" not in data:
            return {**data, "threshold": 1.0}  # at the soft level
        return data


class AlertSettings(BaseModel):
    """``alerts:`` in corral.yaml. No rules means no background task at all."""

    rules: list[AlertRule] = Field(default_factory=list)
    webhook_url: str | None = None
    interval_s: float = Field(30.0, gt=0)
    webhook_timeout_s: float = Field(5.0, gt=0)
