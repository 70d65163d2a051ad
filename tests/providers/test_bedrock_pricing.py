"""Bedrock model ids, inference profiles and ARNs find their catalog prices (provider type `bedrock`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from corral.cost.catalog import PriceCatalog

DAY = date(2026, 12, 3)


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog.load()


@pytest.mark.parametrize(("model", "entry", "price_in", "price_out"), [
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5", "3", "15"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5", "3.3", "16.5"),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5", "3.3", "16.5"),
    ("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0",
     "anthropic.claude-haiku-4-5", "1.1", "5.5"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4", "3", "15"),
    ("global.anthropic.claude-opus-4-5-20251101-v1:0", "global.anthropic.claude-opus-4-5", "5", "25"),
    ("amazon.nova-pro-v1:0", "amazon.nova-pro", "0.8", "3.2"),
    ("us.amazon.nova-micro-v1:0", "amazon.nova-micro", "0.035", "0.14"),
    ("meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct", "0.72", "0.72"),
    ("us.meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-8b-instruct", "0.22", "0.22"),
])
def test_bedrock_ids_resolve(catalog: PriceCatalog, model: str, entry: str, price_in: str,
                             price_out: str) -> None:
    price = catalog.price_for("bedrock", model, DAY)
    assert price is not None and price.model == entry
    assert (price.rates.input, price.rates.output) == (Decimal(price_in), Decimal(price_out))


def test_unknown_variants_stay_unpriced_and_other_types_do_not_see_bedrock_prices(
    catalog: PriceCatalog,
) -> None:
    assert catalog.price_for("bedrock", "anthropic.claude-sonnet-4-5-custom-v1:0", DAY) is None
    assert catalog.price_for("bedrock", "cohere.command-r-v1:0", DAY) is None
    assert catalog.price_for("anthropic", "anthropic.claude-sonnet-4-5", DAY) is None


def test_cache_reads_are_a_tenth_of_input_for_claude(catalog: PriceCatalog) -> None:
    price = catalog.price_for("bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0", DAY)
    assert price is not None and price.rates.cached_input == Decimal("0.11")
