"""``webhooks:`` in corral.yaml: where the events of background responses and batches go.

Imports nothing but pydantic: the configuration composes it. A signing secret is never written
in the file: ``secret: {env: VARIABLE}`` names the environment variable that holds it, in the
``whsec_<base64>`` form OpenAI and the Standard Webhooks specification use. Its form is checked
when the configuration is read (when the variable is set) and its presence when a gateway or a
worker starts (corral.webhooks.wiring), so a typo fails at start, not at the first delivery.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RESPONSE_EVENTS = ("response.completed", "response.failed", "response.cancelled", "response.incomplete")
BATCH_EVENTS = ("batch.completed", "batch.failed", "batch.expired", "batch.cancelled")
EVENT_TYPES: tuple[str, ...] = RESPONSE_EVENTS + BATCH_EVENTS
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24  # the Standard Webhooks specification: 24 to 64 random bytes
GENERATE = "python -c \"import base64,os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""


def decode_secret(variable: str, value: str | None) -> bytes:
    """The HMAC key a ``whsec_`` secret holds; ValueError saying what is wrong (never the value)."""
    if value is None or not value.strip():
        raise ValueError(f"the environment variable {variable} is not set; it must hold the endpoint's "
                         f"signing secret (whsec_...). Generate one with: {GENERATE}")
    value = value.strip()
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"the environment variable {variable} must hold a secret of the form "
                         f"whsec_<base64>, as OpenAI's webhooks use. Generate one with: {GENERATE}")
    try:
        key = base64.b64decode(value.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the environment variable {variable}: the part after whsec_ is not valid "
                         "base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the environment variable {variable}: the secret is {len(key)} bytes; use at "
                         f"least {MIN_SECRET_BYTES} random bytes. Generate one with: {GENERATE}")
    return key


class SecretRef(BaseModel):
    """``{env: VARIABLE}``: the variable holding the secret."""

    model_config = ConfigDict(extra="forbid")

    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _usable(self) -> SecretRef:
        if self.env in os.environ:  # its form now; its presence when a gateway starts
            self.key()
        return self

    def key(self) -> bytes:
        return decode_secret(self.env, os.environ.get(self.env))


class WebhookEndpoint(BaseModel):
    """One receiver: which events of which teams it gets, and how hard Corral tries."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://\S+$")
    secret: SecretRef
    events: list[str] = Field(default_factory=lambda: list(EVENT_TYPES), min_length=1)
    # Whose events: a list of team names, or "*" for every team (an operator's own receiver).
    # Required: a team's events must never reach a receiver nobody decided should get them.
    teams: list[str] | Literal["*"] | None = None
    max_attempts: int = Field(8, ge=1, le=100)
    timeout_s: float = Field(5.0, gt=0, le=60)  # one attempt; a receiver that hangs is cut here
    backoff_base_s: float = Field(1.0, ge=0)  # wait after the first failed attempt, doubled each time
    backoff_max_s: float = Field(300.0, ge=0)

    @field_validator("secret", mode="before")
    @classmethod
    def _env_reference(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("write the secret as {env: VARIABLE}, naming the environment variable "
                             "that holds it; secrets are never written in the file")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: list[str]) -> list[str]:
        unknown = [e for e in events if e not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event {', '.join(repr(e) for e in unknown)}; Corral sends "
                             f"{', '.join(EVENT_TYPES)}")
        return list(dict.fromkeys(events))

    @field_validator("teams")
    @classmethod
    def _some_teams(cls, teams: list[str] | str | None) -> list[str] | str | None:
        if isinstance(teams, list) and (not teams or not all(t.strip() for t in teams)):
            raise ValueError("list the teams whose events this endpoint receives, or write \"*\" "
                             "for every team")
        return teams

    @model_validator(mode="after")
    def _checks(self) -> WebhookEndpoint:
        if self.teams is None:
            raise ValueError("teams is required: list the teams whose events this endpoint receives, "
                             "or write \"*\" for every team")
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be at least backoff_base_s")
        return self

    def accepts(self, event_type: str, team: str) -> bool:
        """Whether this endpoint receives `event_type` of `team`'s object."""
        return event_type in self.events and (self.teams == "*" or team in (self.teams or ()))


class WebhookSettings(BaseModel):
    """``webhooks:`` in corral.yaml; no endpoints means no event is ever queued."""

    model_config = ConfigDict(extra="forbid")

    endpoints: dict[str, WebhookEndpoint] = Field(default_factory=dict)

    @field_validator("endpoints")
    @classmethod
    def _names(cls, endpoints: dict[str, WebhookEndpoint]) -> dict[str, WebhookEndpoint]:
        for name in endpoints:
            if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
                raise ValueError(f"endpoint name {name[:80]!r}: use 1 to 64 letters, digits, '-' or '_'")
        return endpoints
