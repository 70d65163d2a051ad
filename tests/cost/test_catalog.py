"""The price catalog: name matching, effective dates, provider scoping, overrides, data hygiene."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from corral.cost import PriceCatalog, PricingSettings
from corral.cost.catalog import load_catalog_entries, name_matches

DAY = date(2026, 3, 1)


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog.load()


@pytest.mark.parametrize(
    ("provider_type", "model", "entry"),
    [
        ("openai", "gpt-4o", "gpt-4o"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # the snapshot priced apart wins
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # longest name, not gpt-4o
        ("openai", "GPT-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("openai", "openai/gpt-5-mini", "gpt-5-mini"),
        ("openai", "gpt-5-2025-08-07", "gpt-5"),
        ("openai", "gpt-5-chat-latest", "gpt-5-chat"),
        ("openai", "o3-2025-04-16", "o3"),
        ("openai", "o4-mini-2025-04-16", "o4-mini"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4"),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("anthropic", "claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("anthropic", "claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("anthropic", "claude-haiku-4-5@20251001", "claude-haiku-4-5"),  # Vertex spelling
        ("gemini", "models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini", "gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
        ("gemini", "gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
        ("gemini", "gemini-embedding-001", "gemini-embedding-001"),
    ],
)
def test_versioned_names_match_their_entry(
    catalog: PriceCatalog, provider_type: str, model: str, entry: str
) -> None:
    price = catalog.price_for(provider_type, model, DAY)
    assert price is not None and price.model == entry


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-audio-preview",  # a variant priced differently: not a version stamp
        "gpt-4o-realtime-preview-2024-12-17",
        "ft:gpt-4o-mini-2024-07-18:org::abc",  # fine-tunes cost more than the base model
        "claude-opus-4-10",  # must not fall back to claude-opus-4 (or -4-1)
        "claude-sonnet-9",
        "llama-3.1-8b-instruct",
        "",
    ],
)
def test_unknown_names_are_unpriced(catalog: PriceCatalog, model: str) -> None:
    assert catalog.price_for(None, model, DAY) is None


def test_name_matching_accepts_only_version_stamps() -> None:
    assert name_matches("gpt-4o-2024-08-06", "gpt-4o")
    assert name_matches("claude-3-5-haiku-latest", "claude-3-5-haiku")
    assert name_matches("gemini-1.5-pro-002", "gemini-1.5-pro")
    assert not name_matches("gpt-4o-mini", "gpt-4o")
    assert not name_matches("gpt-4.1", "gpt-4")
    assert not name_matches("claude-sonnet-4-5-20250929", "claude-sonnet-4")


def test_effective_date_switches_on_the_day_of_the_change(catalog: PriceCatalog) -> None:
    # o3 launched at $10 / $40 and was cut to $2 / $8 on 2025-06-10.
    before = catalog.price_for("openai", "o3", date(2025, 6, 9))
    after = catalog.price_for("openai", "o3", date(2025, 6, 10))
    assert before is not None and (before.rates.input, before.rates.output) == (Decimal(10), Decimal(40))
    assert after is not None and (after.rates.input, after.rates.output) == (Decimal(2), Decimal(8))
    # before the model's first price there is nothing to apply
    assert catalog.price_for("openai", "o3", date(2025, 1, 1)) is None


def test_catalog_prices_are_scoped_to_the_vendor_provider_type(catalog: PriceCatalog) -> None:
    assert catalog.price_for("openai", "gpt-4o", DAY) is not None
    assert catalog.price_for("anthropic", "gpt-4o", DAY) is None
    # the same name behind a gateway is billed by the gateway, at its price
    assert catalog.price_for("openai-compatible", "gpt-4o", DAY) is None
    assert catalog.price_for("vllm", "gpt-4o", DAY) is None


def test_overrides_win_from_their_effective_date() -> None:
    settings = PricingSettings.model_validate({"models": {"gpt-4o": [
        {"input_per_mtok": 2.0, "output_per_mtok": 8.0, "effective_from": "2026-01-01"},
        {"input_per_mtok": 1.5, "output_per_mtok": 6.0, "effective_from": "2026-06-01"},
    ]}})
    catalog = PriceCatalog.load(settings)
    old = catalog.price_for("openai", "gpt-4o-2024-08-06", date(2025, 12, 31))
    assert old is not None and old.origin == "catalog" and old.rates.input == Decimal("2.5")
    jan = catalog.price_for("openai", "gpt-4o-2024-08-06", date(2026, 1, 1))
    assert jan is not None and jan.origin == "override" and jan.rates.input == Decimal("2.0")
    july = catalog.price_for("openai", "gpt-4o", date(2026, 7, 1))
    assert july is not None and july.rates.output == Decimal("6.0")


def test_overrides_can_price_any_provider_type_or_only_some() -> None:
    settings = PricingSettings.model_validate({"models": {
        "llama-3.1-70b": {"input_per_mtok": 0.88, "output_per_mtok": 0.88,
                          "provider_types": ["openai-compatible"]},
        "my-model": {"input_per_mtok": 1, "output_per_mtok": 2},
    }})
    catalog = PriceCatalog.load(settings)
    assert catalog.price_for("openai-compatible", "llama-3.1-70b", DAY) is not None
    assert catalog.price_for("vllm", "llama-3.1-70b", DAY) is None
    assert catalog.price_for("vllm", "my-model", DAY) is not None
    assert catalog.price_for("openai", "my-model-2026-01-01", DAY) is not None


def test_use_catalog_false_leaves_only_configured_prices() -> None:
    settings = PricingSettings.model_validate({"use_catalog": False, "models": {"x": {
        "input_per_mtok": 1, "output_per_mtok": 1}}})
    catalog = PriceCatalog.load(settings)
    assert catalog.price_for("openai", "gpt-4o", DAY) is None
    assert catalog.price_for("openai", "x", DAY) is not None


REQUIRED = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini",
               "gpt-5-nano", "o3", "o4-mini", "text-embedding-3-small", "text-embedding-3-large",
               "text-embedding-ada-002"],
    "anthropic": ["claude-opus-4-6", "claude-opus-4-5", "claude-opus-4-1", "claude-opus-4",
                  "claude-sonnet-4-6", "claude-sonnet-4-5", "claude-sonnet-4", "claude-haiku-4-5",
                  "claude-3-7-sonnet", "claude-3-5-haiku"],
    "gemini": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-embedding-001"],
}


@pytest.mark.parametrize("provider_type", sorted(REQUIRED))
def test_catalog_covers_the_current_models(catalog: PriceCatalog, provider_type: str) -> None:
    for model in REQUIRED[provider_type]:
        assert catalog.price_for(provider_type, model, date(2026, 11, 27)) is not None, model


def test_every_catalog_entry_is_sourced_dated_and_sane() -> None:
    entries = load_catalog_entries()
    assert len(entries) >= 30
    for e in entries:
        assert e.source and e.source.startswith("https://"), e.model
        assert e.checked is not None and e.effective_from <= e.checked, e.model
        assert e.provider_types and e.provider_types[0] in {"openai", "anthropic", "gemini", "bedrock"}
        rates = [e.rates, *(t.rates for t in e.tiers)]
        for r in rates:
            assert r.input >= 0 and r.output >= 0
            if r.cached_input is not None:
                assert r.cached_input <= r.input, e.model  # a cache read is never dearer
        for tier in e.tiers:
            assert tier.rates.input > e.rates.input, e.model
    keys = [(e.provider_types, e.model, e.effective_from) for e in entries]
    assert len(keys) == len(set(keys)), "two entries for the same model and day"


def test_tiers_are_modelled_where_vendors_publish_them(catalog: PriceCatalog) -> None:
    pro = catalog.price_for("gemini", "gemini-2.5-pro", DAY)
    assert pro is not None
    assert pro.rates_for(200_000).input == Decimal("1.25")
    assert pro.rates_for(200_001).input == Decimal("2.5")
    assert pro.rates_for(200_001).output == Decimal("15")
    sonnet = catalog.price_for("anthropic", "claude-sonnet-4-5", DAY)
    assert sonnet is not None and sonnet.rates_for(250_000).output == Decimal("22.5")
