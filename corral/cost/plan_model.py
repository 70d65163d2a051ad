"""The cost plan as a typed, strict document: what a team writes in YAML and reviews.

Why strict: a plan is an argument for spending money; a misspelt key (`replica: 2`) that
silently fell back to a default would make the figures wrong without anyone noticing. So
unknown keys are errors, every number has a sane range, and `load_plan` reports each
problem with the key path that holds it (`candidates.1.self_hosted.utilization: ...`).

Why token means, not percentiles: a day's bill is the sum over its requests, so the mean
prompt and response length is what prices it; the spread that matters for a budget is
day to day (`peak_to_typical`), and for sizing GPUs hour to hour (`peak_hour_share`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from corral.cost.settings import RateSettings


class PlanError(ValueError):
    """A plan file that cannot be read or does not validate; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Traffic(_Strict):
    """How many requests a typical (P50) day has, and how much busier peaks are.

    Either users x sessions x prompts, or `requests_per_day` directly (a plan derived
    from request records states the observed median day).
    """

    daily_active_users: int | None = Field(None, gt=0)
    sessions_per_user: float | None = Field(None, gt=0)  # per user per day
    prompts_per_session: float | None = Field(None, gt=0)
    requests_per_day: float | None = Field(None, gt=0)
    peak_to_typical: float = Field(2.0, ge=1, le=1000)  # P99 day / P50 day
    peak_hour_share: float = Field(0.1, gt=0, le=1)  # busiest hour's share of a day's requests

    @model_validator(mode="after")
    def _one_volume(self) -> Traffic:
        users = (self.daily_active_users, self.sessions_per_user, self.prompts_per_session)
        given = sum(v is not None for v in users)
        if self.requests_per_day is not None and given:
            raise ValueError("give either requests_per_day or daily_active_users, sessions_per_user and "
                             "prompts_per_session, not both")
        if self.requests_per_day is None and given != 3:
            raise ValueError("needs requests_per_day, or all of daily_active_users, sessions_per_user and "
                             "prompts_per_session")
        return self

    @property
    def typical_requests_per_day(self) -> float:
        if self.requests_per_day is not None:
            return self.requests_per_day
        assert self.daily_active_users and self.sessions_per_user and self.prompts_per_session
        return self.daily_active_users * self.sessions_per_user * self.prompts_per_session


class Tokens(_Strict):
    """Mean tokens per request, and the share of prompt tokens the provider serves from its cache."""

    prompt_tokens: float = Field(gt=0)  # whole prompt, cached part included
    response_tokens: float = Field(ge=0)
    cache_hit_rate: float = Field(0.0, ge=0, le=1)  # billed at the cached-input price


class SelfHosted(_Strict):
    """A GPU deployment: paid per hour and replica, busy or idle."""

    gpu_per_hour_usd: float = Field(gt=0)  # one replica (all its GPUs) per hour
    tokens_per_second: float = Field(gt=0)  # one replica's measured or stated throughput
    utilization: float = Field(0.7, gt=0, le=1)  # the share of that throughput planned for
    replicas: int = Field(1, ge=1)  # the minimum kept running
    throughput_counts: Literal["all", "output"] = "all"  # all: prompt + generated tokens


class Candidate(_Strict):
    """One option to compare: an API model from the catalog (`model`) or `self_hosted`."""

    name: str | None = Field(None, min_length=1)  # label; defaults to the model name
    model: str | None = Field(None, min_length=1)
    provider_type: str | None = None  # openai | anthropic | gemini; default: any
    price: RateSettings | None = None  # a negotiated or uncatalogued price, instead of the catalog
    batch: bool = False  # through the provider's batch API: its share of the price (prices.json `batch`)
    self_hosted: SelfHosted | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Candidate:
        if (self.model is None) == (self.self_hosted is None):
            raise ValueError("a candidate needs exactly one of model (an API model) or self_hosted")
        if self.self_hosted is not None and self.name is None:
            raise ValueError("a self_hosted candidate needs a name")
        if self.self_hosted is not None and (self.price is not None or self.batch):
            raise ValueError("price and batch apply to API models; self_hosted is priced per GPU hour")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.model}{' (batch)' if self.batch else ''}"


class WhatIf(_Strict):
    """Savings to show: a higher provider cache hit rate, a shorter (RAG) prompt."""

    cache_hit_rate: float = Field(0.5, ge=0, le=1)
    prompt_factor: float = Field(0.7, gt=0, le=10)  # 0.7: the prompt (retrieved context) 30% shorter


class Plan(_Strict):
    """A cost plan: traffic, tokens, candidates and what-ifs, priced at `price_date`."""

    name: str = "plan"
    price_date: date | None = None  # catalog prices of that day; default: today
    traffic: Traffic
    tokens: Tokens
    candidates: list[Candidate] = Field(min_length=1)
    what_if: WhatIf = WhatIf()
    source: dict[str, Any] = Field(default_factory=dict)  # where the figures came from (records, window)

    @model_validator(mode="after")
    def _unique_labels(self) -> Plan:
        labels = [c.label for c in self.candidates]
        if dupes := sorted({x for x in labels if labels.count(x) > 1}):
            raise ValueError(f"candidate names must be unique; repeated: {', '.join(dupes)}")
        return self


def validation_message(exc: ValidationError, source: str) -> str:
    """One line per problem, each naming the key path, as `corral.config` reports settings."""
    lines = [f"Invalid plan in {source}:"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (see docs/cost.md, Planning)"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def parse_plan(data: Any, source: str = "plan") -> Plan:
    if not isinstance(data, dict):
        raise PlanError(f"{source}: a plan must be a mapping (traffic, tokens, candidates, ...)")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(validation_message(exc, source)) from None


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; PlanError says which key is wrong and why."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"{file} is not valid YAML: {exc}") from None
    return parse_plan(data, str(file))


def plan_yaml(plan: Plan) -> str:
    """The plan as reviewable YAML, in declaration order, unset keys left out; the traffic
    shape is always written, so a reviewer sees the peak assumptions."""
    data = plan.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    traffic = plan.traffic.model_dump(mode="json", exclude_none=True)
    data["traffic"] = traffic
    return yaml.safe_dump(_plain_numbers(data), sort_keys=False, allow_unicode=True)


def _plain_numbers(value: Any) -> Any:
    """6.0 -> 6: whole numbers read as counts in a review."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    return value
