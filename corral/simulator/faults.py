"""Fault kinds and the per-run fault schedule of the simulator.

A gateway's retry, fallback and circuit-breaker logic can only be tested
against an upstream that misbehaves on demand, reproducibly. A schedule is an
ordered list of rules; each rule counts the requests that match its filters
and fires when all of its conditions hold. The first firing rule wins. The
``x-sim-fault`` request header always wins over the schedule.

Rule fields (all but ``fault`` optional)::

    - fault: rate_limit        # one of FAULT_KINDS
      model: "gpt-*"           # fnmatch glob on the request's model
      dialect: openai          # openai | anthropic | gemini
      endpoint: chat           # one of ENDPOINTS (chat, embeddings, completions, moderations, ...)
      after: 2                 # ignore the first 2 matching requests
      first: 3                 # then fire on the next 3 only
      every: 2                 # on every 2nd of those (counted after `after`)
      probability: 0.5         # with this chance (seeded RNG)
"""

from __future__ import annotations

import fnmatch
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Faults answered with an HTTP error status before any body is sent.
STATUS_FAULTS = frozenset(
    {"rate_limit", "server_error", "unavailable", "overloaded", "content_policy", "context_length"}
)
#: Faults that change how the body is delivered.
DELIVERY_FAULTS = frozenset({"hang", "reset", "malformed_sse", "stream_error"})
FAULT_KINDS = STATUS_FAULTS | DELIVERY_FAULTS

#: HTTP status per status fault (content_policy is 200 for Gemini, see dialect).
FAULT_STATUS = {
    "rate_limit": 429,
    "server_error": 500,
    "unavailable": 503,
    "overloaded": 529,
    "content_policy": 400,
    "context_length": 400,
}

DIALECTS = frozenset({"openai", "anthropic", "gemini", "azure", "bedrock"})
# Every endpoint a simulated call names (`Call.endpoint`), so a schedule can target any of them.
ENDPOINTS = frozenset({
    "chat", "embeddings", "completions", "moderations", "rerank",
    "images.generations", "images.edits", "images.variations",
    "audio.speech", "audio.transcriptions", "audio.translations",
})
_RULE_KEYS = {"fault", "model", "dialect", "endpoint", "probability", "every", "first", "after"}


@dataclass
class FaultRule:
    """One schedule entry; ``seen`` counts the requests matching its filters."""

    fault: str
    model: str | None = None
    dialect: str | None = None
    endpoint: str | None = None
    probability: float | None = None
    every: int | None = None
    first: int | None = None
    after: int = 0
    seen: int = field(default=0, compare=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FaultRule:
        """Validate one rule from YAML/JSON; ValueError says what is wrong."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"a fault rule must be a mapping, got {raw!r}")
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        kind = raw.get("fault")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        dialect = raw.get("dialect")
        if dialect is not None and dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}")
        endpoint = raw.get("endpoint")
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINTS)}")
        prob = raw.get("probability")
        if prob is not None and not (isinstance(prob, (int, float)) and 0 <= prob <= 1):
            raise ValueError(f"probability must be within 0..1, got {prob!r}")
        every, first, after = raw.get("every"), raw.get("first"), raw.get("after", 0)
        for name, value, low in (("every", every, 1), ("first", first, 0), ("after", after, 0)):
            if value is not None and (not isinstance(value, int) or value < low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        model = raw.get("model")
        return cls(
            fault=kind,
            model=None if model is None else str(model),
            dialect=dialect,
            endpoint=endpoint,
            probability=None if prob is None else float(prob),
            every=every,
            first=first,
            after=after or 0,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fault": self.fault}
        for name in ("model", "dialect", "endpoint", "probability", "every", "first"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.after:
            out["after"] = self.after
        return out

    def matches(self, dialect: str, model: str, endpoint: str) -> bool:
        if self.dialect is not None and self.dialect != dialect:
            return False
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        return self.model is None or fnmatch.fnmatchcase(model, self.model)

    def fires(self, rng: random.Random) -> bool:
        """Count one matching request and say whether the fault applies."""
        self.seen += 1
        k = self.seen - self.after
        if k <= 0:
            return False
        if self.first is not None and k > self.first:
            return False
        if self.every is not None and k % self.every:
            return False
        return self.probability is None or rng.random() < self.probability


class FaultSchedule:
    """Ordered fault rules plus a seeded RNG; not thread-safe (one event loop)."""

    def __init__(self, rules: Iterable[FaultRule | Mapping[str, Any]] = (), seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        self.replace(rules)

    @classmethod
    def parse(cls, data: Any, seed: int = 0) -> FaultSchedule:
        """Build from a list of rules or a mapping with ``faults``/``rules``."""
        if data is None:
            data = []
        if isinstance(data, Mapping):
            data = data.get("faults", data.get("rules"))
        if not isinstance(data, list):
            raise ValueError("a fault schedule is a list of rules (or {faults: [...]})")
        return cls([FaultRule.from_dict(r) for r in data], seed=seed)

    @classmethod
    def from_file(cls, path: str | Path, seed: int = 0) -> FaultSchedule:
        """Load a YAML or JSON schedule file (JSON if it ends in .json)."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        return cls.parse(data, seed=seed)

    def replace(self, rules: Iterable[FaultRule | Mapping[str, Any]]) -> None:
        """Swap in new rules and restart counters and RNG."""
        self.rules = [r if isinstance(r, FaultRule) else FaultRule.from_dict(r) for r in rules]
        self.reset()

    def reset(self) -> None:
        """Zero every rule's counter and re-seed, so runs are reproducible."""
        for rule in self.rules:
            rule.seen = 0
        self.rng.seed(self.seed)

    def decide(self, dialect: str, model: str, endpoint: str = "chat") -> str | None:
        """Return the fault for this request, or None.

        Every matching rule counts the request (so ``every: 3`` means every
        third matching request even if an earlier rule fired on some).
        """
        chosen: str | None = None
        for rule in self.rules:
            if rule.matches(dialect, model, endpoint) and rule.fires(self.rng) and chosen is None:
                chosen = rule.fault
        return chosen

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rules]
