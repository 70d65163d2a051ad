"""Policy resolution: route rules, key rules that only tighten, admin-allowed loosening."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from corral.core.context import Caller
from corral.privacy.policy import EffectivePolicy, PrivacyRule, PrivacySettings, privacy_settings_from
from corral.privacy.types import Span

ALICE = Caller("key_a1", "billing-app", "growth", frozenset({"inference"}))
BOB = Caller("key_b2", "support-bot", "support", frozenset({"inference"}))


def settings(**data: object) -> PrivacySettings:
    return PrivacySettings.model_validate(data)


def test_routes_fall_back_to_the_default() -> None:
    s = settings(default={"policy": "log-only"}, routes={"gpt": {"policy": "redact", "entities": ["email"]}})
    p = s.resolve("gpt", None)
    assert (p.policy, p.entities, p.source) == ("redact", frozenset({"EMAIL"}), "route")
    assert s.resolve("claude", ALICE).policy == "log-only"
    assert PrivacySettings().resolve("gpt", ALICE).policy == "off"


def test_key_rule_is_found_by_id_then_name_then_team() -> None:
    s = settings(keys={
        "key_a1": {"policy": "block"}, "billing-app": {"policy": "redact"},
        "team:growth": {"policy": "log-only"},
        "support-bot": {"policy": "redact"}, "team:support": {"policy": "block"},
    })
    assert s.resolve("gpt", ALICE).policy == "block"
    assert s.resolve("gpt", BOB).policy == "redact"
    assert s.resolve("gpt", Caller("key_c", "other", "growth", frozenset())).policy == "log-only"


@pytest.mark.parametrize(("route", "key", "expected"), [
    ("redact", "log-only", "redact"),  # a key cannot loosen the route...
    ("redact", "off", "redact"),
    ("log-only", "block", "block"),  # ...but may tighten it
    ("off", "redact", "redact"),
    ("block", "redact", "block"),
])
def test_a_key_only_tightens(route: str, key: str, expected: str) -> None:
    s = settings(routes={"gpt": {"policy": route}}, keys={"key_a1": {"policy": key}})
    assert s.resolve("gpt", ALICE).policy == expected


def test_an_admin_may_let_a_key_loosen_the_route() -> None:
    s = settings(routes={"gpt": {"policy": "block"}},
                 keys={"key_a1": {"policy": "log-only", "allow_weaker": True, "entities": ["SECRET"]}})
    p = s.resolve("gpt", ALICE)
    assert (p.policy, p.entities, p.source) == ("log-only", frozenset({"SECRET"}), "key")
    assert s.resolve("gpt", BOB).policy == "block"


def test_tightening_unions_entities_and_takes_lower_thresholds() -> None:
    s = settings(
        routes={"gpt": {"policy": "redact", "entities": ["EMAIL", "PERSON"], "min_score": 0.6,
                        "thresholds": {"PERSON": 0.9}}},
        keys={"key_a1": {"policy": "redact", "entities": ["PHONE"], "min_score": 0.8,
                         "thresholds": {"person": 0.7}}},
    )
    p = s.resolve("gpt", ALICE)
    assert p.entities == frozenset({"EMAIL", "PERSON", "PHONE"}) and p.source == "route+key"
    assert p.threshold("PERSON") == 0.7 and p.threshold("EMAIL") == 0.6 and p.min_score == 0.6
    everything = settings(routes={"gpt": {"policy": "redact"}},
                          keys={"key_a1": {"policy": "redact", "entities": ["PHONE"]}})
    assert everything.resolve("gpt", ALICE).entities is None  # "all types" stays all types


def test_accepts_filters_by_type_and_score() -> None:
    p = EffectivePolicy.of(PrivacyRule(policy="redact", entities=["EMAIL", "PERSON"], min_score=0.5,
                                       thresholds={"PERSON": 0.8}), "route")
    assert p.accepts(Span(0, 1, "email", 0.5))
    assert not p.accepts(Span(0, 1, "EMAIL", 0.49))
    assert not p.accepts(Span(0, 1, "PERSON", 0.7)) and p.accepts(Span(0, 1, "PERSON", 0.8))
    assert not p.accepts(Span(0, 1, "PHONE", 1.0))


def test_lowest_score_covers_every_rule() -> None:
    assert PrivacySettings().lowest_score() == 0.5
    s = settings(routes={"gpt": {"policy": "redact", "thresholds": {"PERSON": 0.3}}},
                 keys={"k": {"policy": "block", "min_score": 0.4}})
    assert s.lowest_score() == 0.3


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        settings(default={"policy": "mask"})
    with pytest.raises(ValidationError):
        settings(default={"thresholds": {"EMAIL": 1.5}})
    with pytest.raises(ValidationError):
        settings(default={"policy": "redact", "typo": 1})
    with pytest.raises(ValidationError):
        settings(routes={"gpt": {"allow_weaker": True}})  # only key rules carry it


def test_settings_from_models_cover_aliases() -> None:
    rule = PrivacyRule(policy="redact")
    config = SimpleNamespace(
        privacy=settings(default={"policy": "log-only"}, routes={"old": {"policy": "block"}}),
        models={"gpt": SimpleNamespace(privacy=rule, aliases=["gpt-4o", "best"]),
                "local": SimpleNamespace(aliases=[])},  # before wiring: no privacy field at all
    )
    s = privacy_settings_from(config)  # type: ignore[arg-type]
    assert s.routes == {"old": PrivacyRule(policy="block"), "gpt": rule, "gpt-4o": rule, "best": rule}
    assert s.resolve("best", None).policy == "redact" and s.resolve("local", None).policy == "log-only"
    bare = SimpleNamespace(models={})
    assert privacy_settings_from(bare) == PrivacySettings()  # type: ignore[arg-type]
