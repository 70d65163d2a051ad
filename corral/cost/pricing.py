"""The cost of one request, from its record: exact, dated, and honest about what is unknown.

Why Decimal: prices such as $0.075 per 1M tokens are not exact in binary floating point
and costs are summed over millions of requests; each request is computed exactly in
Decimal and rounded once, to 1e-8 USD, when it becomes a float for the record.

Token accounting (the same for every vendor because the provider adapters normalize it):

* `input_tokens` is the whole prompt, cached tokens included (OpenAI `prompt_tokens`,
  Gemini `promptTokenCount`, Anthropic `input_tokens + cache_read + cache_creation`).
  Uncached input = input - cached - cache writes, at the input price; `cached_tokens` at
  the cached-input price (the input price if the model has none).
* `output_tokens` includes reasoning: OpenAI reports reasoning inside completion tokens,
  Gemini's thoughts are added to output by the adapter, Anthropic bills thinking as output.
  So reasoning is billed at the output price unless the price has a separate `reasoning`
  rate, in which case those tokens move from the output line to the reasoning line.
* Anthropic cache *writes* cost 1.25x (5 min) or 2x (1 h) the input price: `cache_write_tokens`
  and `cache_write_1h_tokens` (inside input, apart from each other; `Usage` has them from
  Anthropic's `cache_creation`) are priced at the `cache_write` / `cache_write_1h` rates. A
  request record keeps them in its extras (no columns of their own), read from there when the
  record or row has no such field (docs/cost.md).

Which failures are billed: a request is billed when the upstream produced output. An
error after tokens were generated (a stream that broke midway) is billed for the tokens
reported, or estimated by Corral. An error with no output (429, 5xx, timeout before the
first token, a 4xx rejection) is not: $0, priced. Answers served from Corral's cache or
as a configured degraded message never reached a provider: $0, priced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from corral.cost.catalog import ModelPrice, PriceCatalog, load_batch_factors
from corral.cost.rates import Rates
from corral.cost.settings import DeploymentPriceSettings, PricingSettings
from corral.cost.units import Units, unit_rate

MILLION = Decimal(1_000_000)
QUANTUM = Decimal("0.00000001")  # 1e-8 USD: far below a cent, above float noise
_FREE_DEGRADED = frozenset({"cache", "message"})
_FIELDS = (
    "created_at", "status", "cache_hit", "degraded", "deployment", "provider_type", "served_model", "model",
    "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens",
    "cache_write_1h_tokens", "extras",
)


def _view(record: Any) -> dict[str, Any]:
    """The fields pricing reads, from a RequestRecord-like object or a mapping (a row)."""
    if type(record) is dict:
        return record
    if isinstance(record, Mapping):
        return {name: record.get(name) for name in _FIELDS}
    return {name: getattr(record, name, None) for name in _FIELDS}


def _count(view: Mapping[str, Any], name: str) -> int:
    value = view.get(name)
    return max(0, int(value)) if value else 0


def _writes(view: Mapping[str, Any], name: str) -> int:
    """Cache writes: a field of the record (or row), else the record's extras (where the request
    record keeps them)."""
    if view.get(name) is not None:
        return _count(view, name)
    extras = view.get("extras")
    return _count(extras, name) if isinstance(extras, Mapping) else 0


def record_day(record: Any) -> date:
    """The UTC day the request started (prices are dated by day)."""
    created = _view(record).get("created_at")
    if isinstance(created, str):  # a stored row rendered as JSON (ISO 8601)
        created = datetime.fromisoformat(created)
    if isinstance(created, datetime):
        aware = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
        return aware.astimezone(UTC).date()
    if isinstance(created, int | float) and created > 0:
        return datetime.fromtimestamp(created, UTC).date()
    return datetime.now(UTC).date()


def is_billed(record: Any) -> bool:
    """Did the provider charge for this request? See the module docstring for the rules."""
    view = _view(record)
    if view.get("cache_hit") or view.get("degraded") in _FREE_DEGRADED:
        return False
    if view.get("status") == "error":
        return _count(view, "output_tokens") > 0
    return True


@dataclass(frozen=True, slots=True)
class CostLine:
    kind: str  # input | cached_input | cache_write | cache_write_1h | output | reasoning
    tokens: int
    usd_per_mtok: Decimal
    usd: Decimal


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """How a cost was reached (for explanations, tests and the admin API)."""

    billed: bool
    price: ModelPrice | None
    lines: tuple[CostLine, ...] = ()
    total: Decimal | None = None

    @property
    def priced(self) -> bool:
        return self.total is not None

    @property
    def cost_usd(self) -> float | None:
        return None if self.total is None else float(self.total.quantize(QUANTUM, ROUND_HALF_EVEN))


def price_tokens(
    rates: Rates,
    *,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
) -> tuple[CostLine, ...]:
    """Split the tokens by kind and price each kind exactly (see the module docstring)."""
    cached = min(cached_tokens, input_tokens)
    writes = min(cache_write_tokens, input_tokens - cached)
    writes_1h = min(cache_write_1h_tokens, input_tokens - cached - writes)
    uncached = input_tokens - cached - writes - writes_1h
    reasoning = min(reasoning_tokens, output_tokens) if rates.reasoning is not None else 0
    write_rate = _or(rates.cache_write, rates.input)
    parts = [
        ("input", uncached, rates.input),
        ("cached_input", cached, _or(rates.cached_input, rates.input)),
        ("cache_write", writes, write_rate),
        ("cache_write_1h", writes_1h, _or(rates.cache_write_1h, write_rate)),
        ("output", output_tokens - reasoning, rates.output),
        ("reasoning", reasoning, _or(rates.reasoning, rates.output)),
    ]
    return tuple(
        CostLine(kind, tokens, rate, Decimal(tokens) * rate / MILLION)
        for kind, tokens, rate in parts
        if tokens
    )


def _or(rate: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if rate is None else rate


@dataclass
class Pricer:
    """Prices request records with a catalog (and overrides) plus self-hosted deployments."""

    catalog: PriceCatalog
    deployments: Mapping[str, DeploymentPriceSettings] = field(default_factory=dict)
    measured_tokens_per_second: dict[str, float] = field(default_factory=dict)
    batch_factors: Mapping[str, Decimal] = field(default_factory=dict)  # provider type -> share of price

    @classmethod
    def from_settings(cls, settings: PricingSettings | None = None) -> Pricer:
        settings = settings or PricingSettings()
        factors = {**(load_batch_factors() if settings.use_catalog else {}), **settings.batch_price_factor}
        return cls(PriceCatalog.load(settings), dict(settings.deployments), batch_factors=factors)

    def set_measured_throughput(self, deployment: str, tokens_per_second: float | None) -> None:
        """Record a measured throughput (e.g. from `totals.throughput`) for hourly pricing."""
        if tokens_per_second and tokens_per_second > 0:
            self.measured_tokens_per_second[deployment] = tokens_per_second
        else:
            self.measured_tokens_per_second.pop(deployment, None)

    def _deployment_price(
        self, deployment: str | None, day: date, provider_type: str | None = None
    ) -> tuple[bool, ModelPrice | None]:
        """(configured, price): configured True means the deployment's own price decides."""
        if not deployment:
            return False, None
        for key in (deployment, deployment.split("/", 1)[0]):
            configured = self.deployments.get(key)
            if configured is None:
                continue
            if configured.price_as:  # the operator names the model: its price for this type, else any
                return True, (self.catalog.price_for(provider_type, configured.price_as, day)
                              or self.catalog.price_for(None, configured.price_as, day))
            measured = self.measured_tokens_per_second
            rates = configured.rates(measured.get(deployment) or measured.get(key))
            if rates is None:
                return True, None
            return True, ModelPrice(model=deployment, effective_from=day, rates=rates, origin="deployment")
        return False, None

    def price_for_record(self, record: Any) -> ModelPrice | None:
        """Deployment pricing first (most specific), then overrides, then the catalog."""
        view = _view(record)
        day = record_day(view)
        configured, price = self._deployment_price(view.get("deployment"), day, view.get("provider_type"))
        if configured:
            return price
        model = view.get("served_model") or view.get("model")
        return self.catalog.price_for(view.get("provider_type"), model, day)

    def breakdown(self, record: Any) -> CostBreakdown:
        view = _view(record)
        if not is_billed(view):
            return CostBreakdown(billed=False, price=None, total=Decimal(0))
        price = self.price_for_record(view)
        if price is None:
            return CostBreakdown(billed=True, price=None)
        input_tokens = _count(view, "input_tokens")
        lines = price_tokens(
            price.rates_for(input_tokens),
            input_tokens=input_tokens,
            output_tokens=_count(view, "output_tokens"),
            cached_tokens=_count(view, "cached_tokens"),
            reasoning_tokens=_count(view, "reasoning_tokens"),
            cache_write_tokens=_writes(view, "cache_write_tokens"),
            cache_write_1h_tokens=_writes(view, "cache_write_1h_tokens"),
        )
        extras = view.get("extras")
        units = Units.from_record(extras.get("units")) if isinstance(extras, Mapping) else None
        if units is not None:  # billed per image, character or audio second (corral.cost.units)
            rate = unit_rate(price.rates.units, units)
            if rate is None:
                return CostBreakdown(billed=True, price=price)  # no rate for it: unpriced, not $0
            count = Decimal(str(units.count))
            kind = ":".join((units.unit, *units.variant))  # a unit line: its rate is USD per 1M units
            lines = (*lines, CostLine(kind, 0, rate * MILLION, count * rate))
        factor = self._batch_factor(view)
        if factor is not None:
            lines = tuple(CostLine(line.kind, line.tokens, line.usd_per_mtok * factor, line.usd * factor)
                          for line in lines)
        total = sum((line.usd for line in lines), Decimal(0))
        return CostBreakdown(billed=True, price=price, lines=lines, total=total)

    def _batch_factor(self, view: Mapping[str, Any]) -> Decimal | None:
        """The batch price's share for a request the provider's batch API answered (its record's
        extras name that batch), None for any other request, or when the type has no batch price."""
        extras = view.get("extras")
        if not isinstance(extras, Mapping) or not extras.get("native_batch"):
            return None
        return self.batch_factors.get(str(view.get("provider_type")))

    def cost_of(self, record: Any) -> tuple[float | None, bool]:
        """(cost_usd, priced): (None, False) when unpriced, never a misleading 0.0."""
        result = self.breakdown(record)
        return result.cost_usd, result.priced


_default: Pricer | None = None


def default_pricer() -> Pricer:
    """The bundled catalog with no configuration (built once per process)."""
    global _default
    if _default is None:
        _default = Pricer.from_settings(None)
    return _default


def cost_of(record_like: Any, pricer: Pricer | None = None) -> tuple[float | None, bool]:
    """(cost_usd rounded to 1e-8, priced) for a RequestRecord, a row mapping, or alike."""
    return (pricer or default_pricer()).cost_of(record_like)
