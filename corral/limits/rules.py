"""Which limits a request is held to, and the meters that count them.

A request answers to at most three rules: its key's (a rule for the key's id, else for its
name, else ``every_key``), its team's (``teams``, else ``every_team``) and its route's. A
rule named by key *name* is one budget for every key of that name, so it survives key
rotation; ``every_key`` gives each key its own.

Meter keys name the rule's subject, the metric and, for money, the period:
``lim:key:<id>:rpm``, ``lim:team:<team>:usd:d:2026-12-02``, ``lim:route:<route>:usd:m:2026-12``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from corral.core.context import Caller
from corral.limits.settings import LimitRule, LimitSettings, Metric
from corral.limits.spend import DOLLARS, Period
from corral.limits.spend import period_bounds as spend_period

Kind = Literal["key", "key-name", "team", "route"]
PERIOD_OF: dict[Metric, Period] = DOLLARS  # the dollar limits and their calendar periods
SETTLE_MARGIN_S = 86400.0  # a period counter outlives its period by a day: late settlements find it


@dataclass(frozen=True, slots=True)
class Subject:
    """A rule and whose traffic it counts."""

    kind: Kind
    name: str  # key id, key name, team or route
    rule: LimitRule

    @property
    def label(self) -> str:
        """How a person reads it in a message: key 'ci-bot', team 'research', route 'gpt-4o'."""
        return {"key": "key", "key-name": "keys named", "team": "team", "route": "route"}[self.kind] + \
            f" '{self.name}'"

    @property
    def setting(self) -> str:
        """Where in corral.yaml the rule lives, for messages that say what to change."""
        section = {"key": "keys", "key-name": "keys", "team": "teams", "route": "routes"}[self.kind]
        return f"limits.{section}.{self.name}"

    def key(self, metric: str) -> str:
        return f"lim:{self.kind}:{self.name}:{metric}"


def subjects_for(settings: LimitSettings, caller: Caller | None, route: str) -> tuple[Subject, ...]:
    """The rules that apply to a request by `caller` on `route` (public name), key first."""
    found: list[Subject] = []
    if caller is not None:
        if (rule := settings.keys.get(caller.key_id)) is not None:
            found.append(Subject("key", caller.key_id, rule))
        elif (rule := settings.keys.get(caller.key_name)) is not None:
            found.append(Subject("key-name", caller.key_name, rule))
        elif settings.every_key is not None:
            found.append(Subject("key", caller.key_id, settings.every_key))
        if (rule := settings.teams.get(caller.team)) is not None or (rule := settings.every_team) is not None:
            found.append(Subject("team", caller.team, rule))
    if (rule := settings.routes.get(route)) is not None:
        found.append(Subject("route", route, rule))
    return tuple(s for s in found if not s.rule.is_empty())


def period_bounds(period: Period, now: float) -> tuple[datetime, datetime]:
    """The UTC day or month holding `now` (unix seconds): [start, end)."""
    return spend_period(period, datetime.fromtimestamp(now, UTC))


def period_tag(period: Period, start: datetime) -> str:
    return f"d:{start:%Y-%m-%d}" if period == "day" else f"m:{start:%Y-%m}"
