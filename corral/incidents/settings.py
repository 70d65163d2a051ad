"""``governance.escalation``: where high-severity incidents are sent (docs/incidents.md).

Imports nothing but pydantic: the configuration composes it, and reading a configuration must
not load the store or an HTTP client. The HMAC secret is never written here: ``secret_env``
names the environment variable that holds it (secrets never come from the file).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["low", "medium", "high", "critical"]


class EscalationSettings(BaseModel):
    """Webhook escalation of incidents at or above ``min_severity``; off without ``webhook_url``."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(None, pattern=r"^https?://\S+$")
    min_severity: Severity = "high"
    headers: dict[str, str] = Field(default_factory=dict)  # non-secret extra headers
    secret_env: str | None = None  # env var holding the HMAC-SHA256 key: x-corral-signature
    max_attempts: int = Field(8, ge=1, le=100)
    backoff_base_s: float = Field(1.0, ge=0)  # wait after the first failed attempt, doubled each time
    backoff_max_s: float = Field(300.0, ge=0)
    timeout_s: float = Field(5.0, gt=0)  # one attempt
    public_url: str | None = None  # base of the links in the payload (e.g. https://corral.example)

    @model_validator(mode="after")
    def _ordered(self) -> EscalationSettings:
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be at least backoff_base_s")
        return self
