"""`pricing:` configuration: catalog overrides and self-hosted deployment prices.

Why overrides: negotiated discounts, prices the catalog does not know yet, fine-tunes,
and models behind gateways (`openai-compatible`) that bill at their own rates. Why
per-deployment prices: a GPU box costs the same per hour whether it is busy or idle, so
its per-token cost is the hourly rate spread over the tokens it serves (docs/cost.md,
"Self-hosted"); a hosted open-model API instead bills per token like the big vendors.

This module imports nothing from `corral.config` nor from the cost runtime (the catalog,
the pricer), only the `Rates` value: `Settings` composes it as the `pricing:` key, and the
catalog imports it, without a cycle either way.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corral.cost.rates import Rates

MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RateSettings(_Strict):
    """USD per 1M tokens, as vendors publish them."""

    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)
    cached_input_per_mtok: Decimal | None = Field(None, ge=0)  # default: the input price
    reasoning_per_mtok: Decimal | None = Field(None, ge=0)  # default: the output price
    cache_write_per_mtok: Decimal | None = Field(None, ge=0)  # default: the input price
    cache_write_1h_per_mtok: Decimal | None = Field(None, ge=0)  # default: cache_write

    def rates(self) -> Rates:
        return Rates(
            input=self.input_per_mtok,
            output=self.output_per_mtok,
            cached_input=self.cached_input_per_mtok,
            reasoning=self.reasoning_per_mtok,
            cache_write=self.cache_write_per_mtok,
            cache_write_1h=self.cache_write_1h_per_mtok,
        )


class TierSettings(RateSettings):
    """Rates for every token of a request whose prompt exceeds `above_input_tokens`."""

    above_input_tokens: int = Field(gt=0)


class ModelPriceSettings(RateSettings):
    """One dated price for a model name (matched like catalog names, version stamps too)."""

    effective_from: date | None = None  # default: always (until a later entry)
    provider_types: list[str] = Field(default_factory=list)  # default: every provider type
    tiers: list[TierSettings] = Field(default_factory=list)
    note: str | None = None


class DeploymentPriceSettings(_Strict):
    """A deployment priced by the hour (amortized over throughput) or per token.

    Keyed by deployment name (`<provider>/<model>`, as in request records) or by provider
    name (every model of that provider). Either `per_hour_usd`, or `input_per_mtok` and
    `output_per_mtok`, or `price_as`: the catalog name of the model behind it (an Azure
    OpenAI deployment is named by its owner, `prod-chat` for a gpt-4o-mini).
    """

    price_as: str | None = Field(None, min_length=1)

    per_hour_usd: Decimal | None = Field(None, ge=0)
    tokens_per_second: float | None = Field(None, gt=0)  # None: use the measured throughput
    utilization: float = Field(1.0, gt=0, le=1)  # share of the hour the throughput is achieved
    throughput_counts: Literal["all", "output"] = "all"  # which tokens tokens_per_second counts
    input_per_mtok: Decimal | None = Field(None, ge=0)
    output_per_mtok: Decimal | None = Field(None, ge=0)
    cached_input_per_mtok: Decimal | None = Field(None, ge=0)
    reasoning_per_mtok: Decimal | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_way_of_pricing(self) -> DeploymentPriceSettings:
        hourly = self.per_hour_usd is not None
        per_token = self.input_per_mtok is not None or self.output_per_mtok is not None
        if self.price_as is not None:
            if hourly or per_token or self.tokens_per_second is not None or self.utilization != 1.0:
                raise ValueError("price_as names a catalog model: give no rates with it")
            return self
        if hourly == per_token:
            raise ValueError("give either per_hour_usd, or input_per_mtok and output_per_mtok")
        if per_token and (self.input_per_mtok is None or self.output_per_mtok is None):
            raise ValueError("per-token pricing needs both input_per_mtok and output_per_mtok")
        if not hourly and (self.tokens_per_second is not None or self.utilization != 1.0):
            raise ValueError("tokens_per_second and utilization only apply with per_hour_usd")
        return self

    def rates(self, measured_tokens_per_second: float | None = None) -> Rates | None:
        """Per-1M-token rates; None when hourly but no throughput is configured or measured.

        Hourly: USD per 1M tokens = per_hour_usd * 1e6 / (3600 * tokens_per_second *
        utilization). With `throughput_counts: all` every token (prompt, cached, output)
        carries that rate; with `output` only generated tokens do, prompt processing being
        folded into the output rate. None with `price_as` too (the catalog prices it).
        """
        if self.price_as is not None:
            return None
        if self.per_hour_usd is None:
            assert self.input_per_mtok is not None and self.output_per_mtok is not None
            return Rates(
                input=self.input_per_mtok,
                output=self.output_per_mtok,
                cached_input=self.cached_input_per_mtok,
                reasoning=self.reasoning_per_mtok,
            )
        tps = self.tokens_per_second or measured_tokens_per_second
        if not tps or tps <= 0:
            return None
        tokens_per_hour = SECONDS_PER_HOUR * Decimal(str(tps)) * Decimal(str(self.utilization))
        per_mtok = self.per_hour_usd * MILLION / tokens_per_hour
        if self.throughput_counts == "output":
            return Rates(input=Decimal(0), output=per_mtok, cached_input=Decimal(0))
        return Rates(input=per_mtok, output=per_mtok, cached_input=per_mtok)


class PricingSettings(_Strict):
    """The `pricing:` section of corral.yaml."""

    use_catalog: bool = True  # false: only configured prices count (everything else unpriced)
    models: dict[str, ModelPriceSettings | list[ModelPriceSettings]] = Field(default_factory=dict)
    deployments: dict[str, DeploymentPriceSettings] = Field(default_factory=dict)
    # Share of the standard price a request answered by the provider's batch API costs
    # (`batch: native` routes), by provider type; overrides the catalog's (0.5 for openai,
    # anthropic, gemini). An OpenAI-compatible server's batch price is its own: set it here.
    batch_price_factor: dict[str, Decimal] = Field(default_factory=dict)
