"""The ``privacy:`` settings and their resolution into the policy for one request.

A policy is one of, from weakest to strictest:

    off        nothing is detected or changed
    log-only   the provider sees the prompt; records use a redacted copy
    redact     the provider sees placeholders; the answer gets the values back
    block      a request with personal data is refused (400 pii_detected)

Resolution. The route's rule comes from ``models.<name>.privacy`` (or
``privacy.routes``), else ``privacy.default``. A key's rule comes from
``privacy.keys`` under the key id, else the key name, else ``team:<team>`` (first
hit wins). A key's rule may only make things stricter: the stricter policy wins,
entity lists are unioned, and the lower score threshold wins. Only an admin setting
``allow_weaker: true`` on the key's rule lets it replace the route's rule outright
(e.g. a trusted internal key on a redacting route). All of this lives in the
configuration file, which only operators write.

Why a module of its own: `corral.config` composes these models, so they import nothing
from the configuration nor from the privacy runtime (detectors, the stage); the types
they name for annotations (`Caller`, `Span`) are plain values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from corral.core.context import Caller
    from corral.privacy.types import Span

Policy = Literal["off", "log-only", "redact", "block"]
STRICTNESS: dict[str, int] = {"off": 0, "log-only": 1, "redact": 2, "block": 3}
DEFAULT_MIN_SCORE = 0.5
# Languages with detection rules (corral.privacy.detect.languages.LANGUAGES; a test keeps them equal).
DETECTION_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl")
# Characters one request may hand the detector (its texts joined; about 4,000 tokens, which most
# chat turns fit). With the models on 2 cores, detection takes 1.3 s for 8,192 characters, 2.3 s
# for 16,384 and 4.9 s for 32,768 (bench/pii_budget.py): each 8,000 more cost about a second of
# latency for that request and of a detection thread for everyone's.
DEFAULT_MAX_DETECT_CHARS = 16_384


def _upper(names: list[str]) -> list[str]:
    return [n.strip().upper() for n in names if n.strip()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrivacyRule(_Strict):
    """One route's (or the default) treatment of personal data."""

    policy: Policy = "off"
    entities: list[str] | None = None  # None: every type the detector reports
    min_score: float = Field(DEFAULT_MIN_SCORE, ge=0, le=1)
    thresholds: dict[str, float] = Field(default_factory=dict)  # per entity type, overrides min_score

    @field_validator("entities")
    @classmethod
    def _entities_upper(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _upper(value)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_valid(cls, value: dict[str, float]) -> dict[str, float]:
        for name, score in value.items():
            if not 0 <= score <= 1:
                raise ValueError(f"threshold for {name} must be between 0 and 1")
        return {k.strip().upper(): v for k, v in value.items()}


class KeyPrivacyRule(PrivacyRule):
    """A key's rule; it only tightens the route's unless an admin allows otherwise."""

    allow_weaker: bool = False


class PrivacySettings(_Strict):
    """The top-level ``privacy:`` block (route rules are merged in by `privacy_settings_from`)."""

    default: PrivacyRule = Field(default_factory=PrivacyRule)
    routes: dict[str, PrivacyRule] = Field(default_factory=dict)  # public model name or alias
    keys: dict[str, KeyPrivacyRule] = Field(default_factory=dict)  # key id, key name or team:<team>
    max_detect_chars: int = Field(DEFAULT_MAX_DETECT_CHARS, ge=1)  # larger requests: 413, undetected
    # Languages whose detection rules run besides English (the models are English and always run):
    # de, fr, es, it, nl, pl. Each adds its address, name and phone rules (docs/privacy-detection.md).
    languages: list[str] = Field(default_factory=lambda: ["en"])

    @field_validator("languages")
    @classmethod
    def _languages_known(cls, value: list[str]) -> list[str]:
        codes = [code.strip().lower() for code in value]
        unknown = sorted(set(codes) - set(DETECTION_LANGUAGES))
        if unknown:
            raise ValueError(f"unknown languages {unknown}: detection knows {', '.join(DETECTION_LANGUAGES)}")
        return sorted(set(codes) | {"en"}, key=DETECTION_LANGUAGES.index)

    @model_validator(mode="before")
    @classmethod
    def _removed_settings(cls, data: Any) -> Any:
        """A setting that no longer does anything is an error, not silently ignored."""
        if isinstance(data, dict) and "offload_chars" in data:
            raise ValueError("privacy.offload_chars was removed: detection always runs on the "
                             "detection threads, whatever the size; delete the setting "
                             "(privacy.max_detect_chars bounds the work per request)")
        return data

    def lowest_score(self) -> float:
        """The lowest threshold any rule uses: build the detector to report down to it."""
        rules = [self.default, *self.routes.values(), *self.keys.values()]
        return min(min([r.min_score, *r.thresholds.values()]) for r in rules)

    def route_rule(self, model: str) -> tuple[PrivacyRule, str]:
        rule = self.routes.get(model)
        return (rule, "route") if rule is not None else (self.default, "default")

    def key_rule(self, caller: Caller | None) -> KeyPrivacyRule | None:
        if caller is None or not self.keys:
            return None
        for ref in (caller.key_id, caller.key_name, f"team:{caller.team}"):
            rule = self.keys.get(ref)
            if rule is not None:
                return rule
        return None

    def resolve(self, model: str, caller: Caller | None) -> EffectivePolicy:
        """The policy for a request to `model` (as the client named it) by `caller`."""
        route, source = self.route_rule(model)
        key = self.key_rule(caller)
        if key is None:
            return EffectivePolicy.of(route, source)
        if key.allow_weaker or route.policy == "off":
            return EffectivePolicy.of(key, "key")
        if key.policy == "off":
            return EffectivePolicy.of(route, source)
        return EffectivePolicy.of(route, source).tightened_by(EffectivePolicy.of(key, "key"))

    def resolve_serving(self, models: Sequence[str], caller: Caller | None) -> EffectivePolicy:
        """The strictest policy of every route that may serve the request (`models[0]` as
        the client named it, then its fallbacks): a fallback route's provider must never
        receive what that route's own policy would have kept from it."""
        requested = self.resolve(models[0], caller)
        result = requested
        for model in models[1:]:
            other = self.resolve(model, caller)
            if other.policy == "off":
                continue
            if result.policy == "off":
                result = dataclasses.replace(other, source=f"fallback:{model}")
            else:
                result = result.tightened_by(dataclasses.replace(other, source=f"fallback:{model}"))
        return result


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """A resolved rule: what to do, and which detected spans count."""

    policy: Policy
    entities: frozenset[str] | None = None
    min_score: float = DEFAULT_MIN_SCORE
    thresholds: dict[str, float] = field(default_factory=dict)
    source: str = "default"  # route | key | route+key | default

    @classmethod
    def of(cls, rule: PrivacyRule, source: str) -> EffectivePolicy:
        entities = None if rule.entities is None else frozenset(rule.entities)
        return cls(rule.policy, entities, rule.min_score, dict(rule.thresholds), source)

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity.upper(), self.min_score)

    def accepts(self, span: Span) -> bool:
        """Whether the policy acts on this span (type selected, score high enough)."""
        entity = span.entity.upper()
        if self.entities is not None and entity not in self.entities:
            return False
        return span.score >= self.threshold(entity)

    def tightened_by(self, other: EffectivePolicy) -> EffectivePolicy:
        """The stricter combination: stricter policy, union of types, lower thresholds."""
        policy = self.policy if STRICTNESS[self.policy] >= STRICTNESS[other.policy] else other.policy
        entities = None if self.entities is None or other.entities is None else self.entities | other.entities
        names = set(self.thresholds) | set(other.thresholds)
        thresholds = {n: min(self.threshold(n), other.threshold(n)) for n in names}
        return EffectivePolicy(policy, entities, min(self.min_score, other.min_score), thresholds,
                               f"{self.source}+{other.source}")
