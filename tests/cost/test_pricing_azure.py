"""Azure OpenAI prices: the catalog's `same_prices` (Azure bills OpenAI's Global Standard list
prices) and `pricing.deployments.<provider/deployment>.price_as` for deployments whose name is
not a model name."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from corral.cost import Pricer, PricingSettings
from corral.cost.catalog import PriceCatalog, load_catalog_entries
from tests.cost.test_pricing import cents_exact, rec

DAY = date(2026, 3, 1)
M = 1_000_000


def pricer(**pricing: Any) -> Pricer:
    return Pricer.from_settings(PricingSettings.model_validate(pricing))


def test_azure_is_priced_at_openais_catalog_entries() -> None:
    catalog = PriceCatalog.load()
    for model in ("gpt-4o-mini", "gpt-4.1-2025-04-14", "o3", "text-embedding-3-small"):
        azure, openai = catalog.price_for("azure", model, DAY), catalog.price_for("openai", model, DAY)
        assert azure is not None and azure == openai, model
    assert catalog.price_for("azure", "claude-sonnet-4", DAY) is None
    assert catalog.price_for("openai-compatible", "gpt-4o", DAY) is None, "other types stay unpriced"


def test_same_prices_extends_only_the_named_type() -> None:
    text = ('{"prices": [{"provider": "openai", "model": "m", "effective_from": "2025-01-01", '
            '"input": 1, "output": 2}, {"provider": "gemini", "model": "g", "effective_from": "2025-01-01", '
            '"input": 1, "output": 2}], "same_prices": {"_about": "x", "azure": {"as": "openai"}}}')
    entries = load_catalog_entries(text)
    assert [e.provider_types for e in entries] == [("openai", "azure"), ("gemini",)]


def test_a_deployment_named_like_its_model_needs_no_configuration() -> None:
    record = rec("gpt-4o-mini", provider_type="azure", input_tokens=1_000_000, output_tokens=100_000)
    cost, priced = pricer().cost_of(record)
    assert priced
    cents_exact(cost, 1_000_000 * 0.15 / M + 100_000 * 0.6 / M)


def test_price_as_names_the_model_behind_a_deployment() -> None:
    record = rec("prod-chat", provider_type="azure", deployment="az/prod-chat",
                 input_tokens=2_000, cached_tokens=1_000, output_tokens=500)
    assert pricer().cost_of(record) == (None, False), "an arbitrary deployment name is unpriced"
    configured = pricer(deployments={"az/prod-chat": {"price_as": "gpt-4o-mini"}})
    price = configured.price_for_record(record)
    assert price is not None and price.model == "gpt-4o-mini" and price.rates.input == Decimal("0.15")
    cost, priced = configured.cost_of(record)
    assert priced
    cents_exact(cost, 1_000 * 0.15 / M + 1_000 * 0.075 / M + 500 * 0.6 / M)


def test_price_as_by_provider_name_and_for_any_provider_type() -> None:
    by_provider = pricer(deployments={"az": {"price_as": "gpt-4.1"}})
    price = by_provider.price_for_record(rec("anything", provider_type="azure", deployment="az/anything"))
    assert price is not None and price.model == "gpt-4.1"
    gateway = pricer(deployments={"gw/fast": {"price_as": "gpt-4o"}})
    price = gateway.price_for_record(rec("fast", provider_type="openai-compatible", deployment="gw/fast"))
    assert price is not None and price.model == "gpt-4o", "an explicit price_as applies to any type"


def test_price_as_an_unknown_model_is_unpriced_not_zero() -> None:
    configured = pricer(deployments={"az/prod-chat": {"price_as": "gpt-99"}})
    record = rec("prod-chat", provider_type="azure", deployment="az/prod-chat", input_tokens=10)
    assert configured.cost_of(record) == (None, False)


@pytest.mark.parametrize("extra", [{"input_per_mtok": 1, "output_per_mtok": 1}, {"per_hour_usd": 2},
                                   {"utilization": 0.5}])
def test_price_as_takes_no_rates(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="price_as"):
        PricingSettings.model_validate({"deployments": {"az/x": {"price_as": "gpt-4o", **extra}}})
