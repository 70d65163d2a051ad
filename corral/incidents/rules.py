"""Input rules: literals or bounded regexes that flag or block prompts before the provider call.

ReDoS guard, three layers: a regex is at most ``MAX_REGEX_CHARS`` long; at creation it is run
against adversarial probes under a timeout and refused when it backtracks past it; every match
in the request path runs with the ``regex`` module's ``timeout`` (a dependency of tiktoken,
always installed), and a rule that times out is skipped for that request and counted, so one
bad rule can slow a request by ``MATCH_TIMEOUT_S`` at most, never hang it. Literals are
case-insensitive substring checks. The text checked is capped at ``MAX_SCAN_CHARS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import regex  # type: ignore[import-untyped]  # tiktoken's dependency; no stubs installed
from sqlalchemy import desc, select, update

from corral.core.errors import InvalidRequest
from corral.incidents.model import choice
from corral.incidents.store import new_id
from corral.store.db import Database
from corral.store.schema import input_rules, utcnow

log = logging.getLogger("corral.incidents")

KINDS = ("literal", "regex")
ACTIONS = ("flag", "block")
MAX_LITERAL_CHARS = 500
MAX_REGEX_CHARS = 200
MAX_SCAN_CHARS = 100_000
MATCH_TIMEOUT_S = 0.05
PROBE_TIMEOUT_S = 0.05
MAX_PROBE_CHARS = 12  # distinct characters of a pattern probed (each probe is bounded by the timeout)
_PROBES = ("a" * 3000 + "!", "ab" * 1500 + "!", "0" * 3000 + "x", " " * 3000 + "x", "aaaa@" * 600 + "!")


@dataclass(frozen=True, slots=True)
class InputRule:
    id: str
    pattern: str
    kind: str
    action: str
    created_at: datetime
    created_by: str
    route: str | None = None
    team: str | None = None
    note: str | None = None
    source: str | None = None
    enabled: bool = True
    retired_at: datetime | None = None
    retired_by: str | None = None
    hits: int = 0
    last_hit_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> InputRule:
        return cls(**{name: row[name] for name in cls.__slots__})

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        return {"object": "input_rule",
                **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}}

    def applies(self, route: str, team: str | None) -> bool:
        return (self.route is None or self.route == route) and (self.team is None or self.team == team)


def compile_rule(pattern: Any, kind: Any, *, probe: bool = True) -> Any:
    """The compiled matcher of a new rule, or a 400 saying what is wrong with it. ``probe=False``
    (loading stored rules) skips the adversarial probes: they ran when the rule was created."""
    kind = choice(kind, KINDS, "kind")
    if not isinstance(pattern, str) or not pattern.strip() or "\x00" in pattern:
        raise InvalidRequest("'pattern' must be a non-empty string without NUL characters.", param="pattern")
    if kind == "literal":
        if len(pattern) > MAX_LITERAL_CHARS:
            raise InvalidRequest(f"'pattern' is too long (a literal holds at most {MAX_LITERAL_CHARS} "
                                 "characters).", param="pattern")
        return pattern.casefold()
    if len(pattern) > MAX_REGEX_CHARS:
        raise InvalidRequest(f"'pattern' is too long (a regex holds at most {MAX_REGEX_CHARS} characters).",
                             param="pattern")
    try:
        compiled = regex.compile(pattern, regex.IGNORECASE | regex.V0)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise InvalidRequest(f"'pattern' is not a valid regex: {exc}.", param="pattern") from None
    for text in _probes(pattern) if probe else ():
        try:
            compiled.search(text, timeout=PROBE_TIMEOUT_S)
        except TimeoutError:
            raise InvalidRequest(
                "'pattern' backtracks catastrophically (it took over "
                f"{PROBE_TIMEOUT_S * 1000:.0f} ms on a {len(text)}-character probe); avoid nested "
                "quantifiers such as (a+)+ or (a|a)*, or use kind 'literal'.", param="pattern") from None
    return compiled


def _probes(pattern: str) -> list[str]:
    """Generic adversarial inputs, plus long runs of the pattern's own characters (``(x+x+)+y``
    backtracks on ``xxxx...`` only), each ending in a character that makes the match fail late."""
    own = [c for c in dict.fromkeys(pattern) if c.isalnum()][:MAX_PROBE_CHARS]
    return [*_PROBES, *(c * 3000 + "\u0000" for c in own)]


@dataclass
class Compiled:
    rule: InputRule
    matcher: Any  # a casefolded literal (str) or a compiled regex

    def matches(self, text: str, folded: str) -> bool:
        """Whether the rule matches; raises TimeoutError when a regex runs past its bound."""
        if isinstance(self.matcher, str):
            return self.matcher in folded
        return self.matcher.search(text, timeout=MATCH_TIMEOUT_S) is not None


class RuleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, *, pattern: str, kind: str, action: str, created_by: str, route: str | None,
                     team: str | None, note: str | None, source: str | None) -> InputRule:
        rule = InputRule(id=new_id("rule"), pattern=pattern, kind=kind, action=action, created_at=utcnow(),
                         created_by=created_by, route=route, team=team, note=note, source=source)
        await self.db.execute(input_rules.insert().values(**{n: getattr(rule, n) for n in rule.__slots__}))
        return rule

    async def get(self, rule_id: str) -> InputRule | None:
        row = await self.db.fetch_one(select(input_rules).where(input_rules.c.id == rule_id))
        return None if row is None else InputRule.from_row(row)

    async def list(self, *, include_retired: bool = False) -> list[InputRule]:
        query = select(input_rules)
        if not include_retired:
            query = query.where(input_rules.c.enabled.is_(True))
        rows = await self.db.fetch_all(query.order_by(desc(input_rules.c.created_at)).limit(1000))
        return [InputRule.from_row(r) for r in rows]

    async def retire(self, rule_id: str, actor: str) -> None:
        await self.db.execute(update(input_rules).where(input_rules.c.id == rule_id).values(
            enabled=False, retired_at=utcnow(), retired_by=actor[:200]))

    async def add_hits(self, hits: Counter[str]) -> None:
        now = utcnow()
        async with self.db.transaction() as tx:
            for rule_id, n in sorted(hits.items()):
                await tx.execute(update(input_rules).where(input_rules.c.id == rule_id).values(
                    hits=input_rules.c.hits + n, last_hit_at=now))


@dataclass
class RuleCache:
    """Enabled rules, compiled, refreshed every ``ttl_s`` in the background (single flight).

    Only the first request waits for the load; after that a request uses the rules it finds and
    a stale set triggers a refresh, which also writes the hit counts gathered since the last one.
    A failed load keeps the last good set (logged), or none when there was none yet, retried
    after ``ttl_s``: a database outage neither fails requests nor makes each one wait on the
    database (rules are not enforced until they can be read; docs/incidents.md).
    """

    db: Database
    ttl_s: float = 5.0
    rules: list[Compiled] | None = None
    loaded_at: float = 0.0
    hits: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    _refresh: asyncio.Task[None] | None = None

    async def current(self) -> list[Compiled]:
        if self.rules is None:  # the first load (or after invalidate): one query, shared
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.create_task(self.refresh())
            await asyncio.shield(self._refresh)
        elif time.monotonic() - self.loaded_at > self.ttl_s and (
                self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self.refresh())
        return self.rules or []

    def invalidate(self) -> None:
        """After a change on this replica: the next request loads the rules before it is checked."""
        self.rules = None

    async def refresh(self) -> None:
        hits, self.hits = self.hits, Counter()
        try:
            if hits:
                await RuleStore(self.db).add_hits(hits)
            loaded = await RuleStore(self.db).list()
        except Exception as exc:  # noqa: BLE001 - keep serving the last good rules
            self.hits.update(hits)
            log.warning("input rules: refresh failed, keeping %d rules: %s", len(self.rules or []), exc)
            # With no good set yet, serve with none until the next try (after ttl_s): otherwise
            # every request would wait on the database that just failed.
            self.rules, self.loaded_at = self.rules or [], time.monotonic()
            return
        compiled = []
        for rule in loaded:
            try:
                compiled.append(Compiled(rule, compile_rule(rule.pattern, rule.kind, probe=False)))
            except InvalidRequest as exc:  # a rule stored by another version: skip it, say so
                log.warning("input rule %s skipped: %s", rule.id, exc.message)
        self.rules, self.loaded_at = compiled, time.monotonic()
