"""The `limits:` section: rate limits and spending budgets per key, team and route.

    limits:
      keys:                      # by key id (key_...) or key name
        key_ab12cd: {rpm: 600, tpm: 200000, usd_per_day: 5}
      teams:
        research: {usd_per_month: {soft: 400, hard: 500}}
      routes:
        gpt-4o: {rpm: 3000}
      every_key: {rpm: 120}      # each key without a rule of its own gets this one, separately
      every_team: {}             # likewise for teams
      background_share: 0.9      # batch lines and background responses stop at 90% of a limit

A limit given as a number is hard (a request that would cross it gets a 429) and its soft
threshold is ``soft_at`` of it (an alert and a warning header). As a mapping, ``soft`` and
``hard`` are set apart; a mapping with only ``soft`` alerts and never rejects. Windows:
``rpm`` and ``tpm`` over any sliding minute, dollars over the UTC day and the UTC month.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Metric = Literal["rpm", "tpm", "usd_per_day", "usd_per_month"]
METRICS: tuple[Metric, ...] = ("rpm", "tpm", "usd_per_day", "usd_per_month")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Threshold(_Strict):
    """Soft (alert) and hard (reject) levels of one limit; either may be left out."""

    soft: float | None = Field(None, gt=0)
    hard: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_level_at_least(self) -> Threshold:
        if self.soft is None and self.hard is None:
            raise ValueError("give 'soft', 'hard' or both")
        if self.soft is not None and self.hard is not None and self.soft > self.hard:
            raise ValueError(f"soft ({self.soft:g}) is above hard ({self.hard:g}): the alert would "
                             "come after the rejections")
        return self


Level = float | Threshold


class LimitRule(_Strict):
    """Limits for one key, team or route. Unset limits do not apply."""

    rpm: Level | None = None  # requests per sliding minute
    tpm: Level | None = None  # prompt + answer tokens per sliding minute
    usd_per_day: Level | None = None  # spend per UTC day
    usd_per_month: Level | None = None  # spend per UTC month
    soft_at: float = Field(0.8, gt=0, le=1)  # soft threshold of a limit given as a number

    @model_validator(mode="after")
    def _positive(self) -> LimitRule:
        for metric in METRICS:
            value = getattr(self, metric)
            if isinstance(value, float | int) and value <= 0:
                raise ValueError(f"{metric} must be positive (leave it out for no limit)")
        return self

    def hard(self, metric: Metric) -> float | None:
        """The level above which requests are refused, None when there is none."""
        value = getattr(self, metric)
        return value.hard if isinstance(value, Threshold) else value

    def soft(self, metric: Metric) -> float | None:
        """The level above which an alert fires, None when there is none."""
        value = getattr(self, metric)
        if isinstance(value, Threshold):
            return value.soft
        return None if value is None else value * self.soft_at

    def is_empty(self) -> bool:
        return all(getattr(self, m) is None for m in METRICS)


class LimitSettings(_Strict):
    keys: dict[str, LimitRule] = Field(default_factory=dict)
    teams: dict[str, LimitRule] = Field(default_factory=dict)
    routes: dict[str, LimitRule] = Field(default_factory=dict)
    every_key: LimitRule | None = None
    every_team: LimitRule | None = None
    # Batch lines and background responses may fill a limit only up to this share, so live
    # traffic always has the rest.
    background_share: float = Field(0.9, gt=0, le=1)
    # Output tokens reserved for a chat request that sets no max_tokens (its real count is
    # settled when it ends): what an answer usually stays under.
    default_output_tokens: int = Field(1024, ge=1)
    # When the shared counters (Redis) cannot be reached: serve unlimited ("open", logged and
    # counted) or refuse with a 503 ("closed").
    on_counter_outage: Literal["open", "closed"] = "open"

    def configured(self) -> bool:
        """Whether any limit is set anywhere (else the stage is not built at all)."""
        rules = [*self.keys.values(), *self.teams.values(), *self.routes.values(), self.every_key,
                 self.every_team]
        return any(rule is not None and not rule.is_empty() for rule in rules)
