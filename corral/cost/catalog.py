"""Model prices: the bundled catalog (`prices.json`) and the operator's overrides.

Why a data file: vendors change prices more often than Corral changes code, and every
figure must say where it came from and when it was last checked, so a reviewer can
re-verify it. Why effective dates: a price cut (o3 lost 80% on 2025-06-10) must not
re-price yesterday's requests, so each entry applies from its `effective_from` until a
later entry for the same name takes over.

Lookup, `price_for(provider_type, model, at)`:

1. the name is normalized: lower case, anything up to the last "/" dropped
   (`models/gemini-2.5-pro`, `openai/gpt-4o`);
2. an entry matches when the name *is* its model (or an alias), or is it followed only
   by a version stamp: a date (`-2024-08-06`, `-20250929`, `@20250929`), a build number
   (`-001`), `-latest`, `-v2:0`, `-preview[-MM-DD]`, `-exp`. The longest matching entry
   name wins (`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`, not `gpt-4o`). Anything else
   after the name (`gpt-4o-audio-preview`, `claude-opus-4-7` against `claude-opus-4`,
   `ft:...`) does not match: an unknown variant is reported *unpriced* rather than
   silently priced like its family;
3. among the entries of the winning name, the one with the latest `effective_from`
   that is not after `at` applies;
4. overrides (configuration) are searched first and win whenever one applies at `at`;
   the catalog answers otherwise.

Catalog entries apply to one provider *type* (`openai`, `anthropic`, `gemini`): the same
model behind an `openai-compatible` gateway is billed by someone else, at their price, so
it is unpriced until configured. Overrides may name provider types or apply to all. The
catalog's `same_prices` lets a type share another's entries (`azure` bills OpenAI's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from corral.cost.rates import Rates  # also imported from here (corral.cost, pricing.py)
from corral.cost.settings import ModelPriceSettings, PricingSettings

CATALOG_FILE = "prices.json"
_MEMO_LIMIT = 4096
RATE_FIELDS = ("input", "output", "cached_input", "reasoning", "cache_write", "cache_write_1h")

_SUFFIX_PART = r"(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest|v\d+(?::\d+)?|(?:preview|exp)(?:-\d{2,4})*)"
_VERSION_SUFFIX = re.compile(rf"(?:[-@]{_SUFFIX_PART})*")


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Rates for the whole request when its prompt exceeds `above_input_tokens`."""

    above_input_tokens: int
    rates: Rates


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One dated price of one model (or, for self-hosted deployments, of one deployment)."""

    model: str
    effective_from: date
    rates: Rates
    tiers: tuple[PriceTier, ...] = ()
    provider_types: tuple[str, ...] = ()  # empty: any provider type
    aliases: tuple[str, ...] = ()
    origin: str = "catalog"  # catalog | override | deployment
    source: str | None = None
    checked: date | None = None
    note: str | None = None

    def rates_for(self, input_tokens: int) -> Rates:
        """The rates for a request with this many prompt tokens (cached ones included).

        Tiered vendors (Gemini 2.5 Pro above 200k, Claude Sonnet 4.x above 200k) bill
        *every* token of a long request at the higher tier, not just the excess.
        """
        chosen = self.rates
        for tier in sorted(self.tiers, key=lambda t: t.above_input_tokens):
            if input_tokens > tier.above_input_tokens:
                chosen = tier.rates
        return chosen

    @property
    def names(self) -> tuple[str, ...]:
        return (self.model, *self.aliases)


def normalize_model(model: str) -> str:
    """'models/gemini-2.5-pro' -> 'gemini-2.5-pro'; case-insensitive."""
    return model.strip().lower().rsplit("/", 1)[-1]


def name_matches(name: str, candidate: str) -> bool:
    """True if `name` is `candidate` itself or `candidate` plus only a version stamp."""
    return name.startswith(candidate) and _VERSION_SUFFIX.fullmatch(name[len(candidate):]) is not None


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def rates_from(data: Mapping[str, Any], suffix: str = "") -> Rates:
    """Rates from a mapping with keys `input`, `output`, ... each followed by `suffix`."""
    values = {name: _dec(data.get(name + suffix)) for name in RATE_FIELDS}
    if values["input"] is None or values["output"] is None:
        raise ValueError(f"a price needs input{suffix} and output{suffix}: {dict(data)}")
    units = {str(k): Decimal(str(v)) for k, v in (data.get("units" + suffix) or {}).items()}
    return Rates(**values, units=units)  # type: ignore[arg-type]


def _entry(raw: Mapping[str, Any]) -> ModelPrice:
    tiers = tuple(
        PriceTier(int(t["above_input_tokens"]), rates_from(t)) for t in raw.get("tiers") or ()
    )
    return ModelPrice(
        model=normalize_model(raw["model"]),
        effective_from=date.fromisoformat(raw["effective_from"]),
        rates=rates_from(raw),
        tiers=tiers,
        provider_types=(raw["provider"],),
        aliases=tuple(normalize_model(a) for a in raw.get("aliases") or ()),
        origin="catalog",
        source=raw.get("source"),
        checked=date.fromisoformat(raw["checked"]) if raw.get("checked") else None,
        note=raw.get("note"),
    )


def load_catalog_entries(text: str | None = None) -> list[ModelPrice]:
    """Entries of `prices.json` (or of `text`, for tests and alternative catalogs)."""
    if text is None:
        text = resources.files("corral.cost").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    data = json.loads(text, parse_float=Decimal)
    entries = [_entry(raw) for raw in data["prices"]]
    # `same_prices`: a provider type billed at another's prices (Azure OpenAI at OpenAI's).
    for alias, spec in (data.get("same_prices") or {}).items():
        if isinstance(spec, dict) and spec.get("as"):
            entries = [replace(e, provider_types=(*e.provider_types, alias))
                       if spec["as"] in e.provider_types else e for e in entries]
    return entries


def load_batch_factors(text: str | None = None) -> dict[str, Decimal]:
    """`prices.json`'s share of the standard price a provider's batch API bills, by provider type."""
    if text is None:
        text = resources.files("corral.cost").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    data = json.loads(text, parse_float=Decimal).get("batch") or {}
    return {name: _dec(entry["factor"]) or Decimal(1) for name, entry in data.items()
            if isinstance(entry, dict) and "factor" in entry}


def override_entries(settings: PricingSettings | None) -> list[ModelPrice]:
    """The `pricing.models` overrides of the configuration as catalog-shaped entries."""
    if settings is None:
        return []
    out: list[ModelPrice] = []
    for model, configured in settings.models.items():
        for item in configured if isinstance(configured, list) else [configured]:
            out.append(_override(model, item))
    return out


def _override(model: str, item: ModelPriceSettings) -> ModelPrice:
    return ModelPrice(
        model=normalize_model(model),
        effective_from=item.effective_from or date.min,
        rates=item.rates(),
        tiers=tuple(PriceTier(t.above_input_tokens, t.rates()) for t in item.tiers),
        provider_types=tuple(item.provider_types),
        origin="override",
        note=item.note,
    )


@dataclass
class _Index:
    """Entries by name, oldest first, for one layer (overrides or catalog)."""

    by_name: dict[str, list[ModelPrice]] = field(default_factory=dict)
    resolved: dict[tuple[str | None, str], str | None] = field(default_factory=dict)  # memo, bounded

    def add(self, entry: ModelPrice) -> None:
        for name in entry.names:
            bucket = self.by_name.setdefault(name, [])
            bucket.append(entry)
            bucket.sort(key=lambda e: e.effective_from)
        self.resolved.clear()

    def _resolve(self, provider_type: str | None, name: str) -> str | None:
        """The longest entry name `name` matches for `provider_type` (memoized: hot path)."""
        key = (provider_type, name)
        if key in self.resolved:
            return self.resolved[key]
        best: str | None = None
        for candidate, entries in self.by_name.items():
            if best is not None and len(candidate) <= len(best):
                continue
            if name_matches(name, candidate) and any(_serves(e, provider_type) for e in entries):
                best = candidate
        if len(self.resolved) >= _MEMO_LIMIT:
            self.resolved.clear()
        self.resolved[key] = best
        return best

    def lookup(self, provider_type: str | None, name: str, at: date) -> ModelPrice | None:
        best = self._resolve(provider_type, name)
        if best is None:
            return None
        dated = [e for e in self.by_name[best] if _serves(e, provider_type) and e.effective_from <= at]
        return dated[-1] if dated else None


def _serves(entry: ModelPrice, provider_type: str | None) -> bool:
    return provider_type is None or not entry.provider_types or provider_type in entry.provider_types


class PriceCatalog:
    """The catalog plus overrides; answers "what did this model cost on that day"."""

    def __init__(self, entries: Iterable[ModelPrice], overrides: Iterable[ModelPrice] = ()) -> None:
        self._catalog = _Index()
        self._overrides = _Index()
        self._entries = list(entries)
        for entry in self._entries:
            self._catalog.add(entry)
        for entry in overrides:
            self._overrides.add(entry)

    @classmethod
    def load(
        cls,
        overrides: PricingSettings | Iterable[ModelPrice] | None = None,
        *,
        catalog_text: str | None = None,
    ) -> PriceCatalog:
        """The bundled catalog (unless `pricing.use_catalog` is false) plus overrides."""
        if isinstance(overrides, PricingSettings):
            entries = load_catalog_entries(catalog_text) if overrides.use_catalog else []
            return cls(entries, override_entries(overrides))
        return cls(load_catalog_entries(catalog_text), overrides or ())

    def price_for(
        self, provider_type: str | None, model: str | None, at: date | None = None
    ) -> ModelPrice | None:
        """The price of `model` served by a provider of `provider_type` on day `at`, or None.

        `provider_type` None matches entries of every provider type.
        """
        if not model:
            return None
        name = normalize_model(model)
        day = at or datetime.now(UTC).date()
        found = self._overrides.lookup(provider_type, name, day)
        return found or self._catalog.lookup(provider_type, name, day)

    def entries(self) -> list[ModelPrice]:
        """Every bundled entry (for listings and coverage checks)."""
        return list(self._entries)
