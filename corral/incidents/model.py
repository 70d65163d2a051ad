"""What an incident is: its categories, severities, states and the moves between them.

States (docs/incidents.md draws them):

    open ──> triaged ──> resolved
      │         │
      └─────────┴──────> dismissed        resolved / dismissed ──reopen──> open

A report's category sets its default severity: ``harmful`` and ``data_leak`` are high (they go
to the escalation path), ``wrong`` is low; content-policy events are low. A reporter may ask for
another severity, but a report can only raise an open incident's severity, never lower it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from corral.core.errors import CorralError, InvalidRequest

CATEGORIES = ("harmful", "wrong", "data_leak")  # what a report may say (POST /v1/feedback)
POLICY_CATEGORY = "content_policy"  # incidents fed by content-policy events
SEVERITIES = ("low", "medium", "high", "critical")
STATES = ("open", "triaged", "resolved", "dismissed")
CLOSED = ("resolved", "dismissed")
DEFAULT_SEVERITY = {"harmful": "high", "data_leak": "high", "wrong": "low", POLICY_CATEGORY: "low"}
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("triaged", "resolved", "dismissed"),
    "triaged": ("open", "resolved", "dismissed"),
    "resolved": ("open",),
    "dismissed": ("open",),
}
MAX_NOTE_CHARS = 10_000


class Conflict(CorralError):
    """A state change the incident's current state does not allow (409)."""

    status_code = 409
    openai_type = "invalid_request_error"
    code = "invalid_state_transition"


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def choice(value: Any, allowed: tuple[str, ...], name: str) -> str:
    """``value`` when it is one of ``allowed``; a 400 naming the field and the choices otherwise."""
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value)[:60]
        raise InvalidRequest(f"'{name}' must be one of {', '.join(allowed)}; got {shown}.", param=name)
    return value


def check_transition(current: str, wanted: str) -> None:
    if wanted == current:
        return
    if wanted not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current])
        raise Conflict(f"An incident in state '{current}' cannot move to '{wanted}'; from '{current}' "
                       f"it can move to: {allowed}.", param="state")


@dataclass(slots=True)
class Incident:
    """One row of ``incidents`` (see corral.store.schema_incidents for the columns' meaning)."""

    id: str
    created_at: datetime
    updated_at: datetime
    source: str
    category: str
    severity: str
    state: str = "open"
    detail: str | None = None
    assignee: str | None = None
    group_key: str | None = None
    request_id: str | None = None
    response_id: str | None = None
    route: str | None = None
    team: str | None = None
    key_id: str | None = None
    end_user: str | None = None
    reporter_key_id: str | None = None
    reports: int = 1
    triaged_at: datetime | None = None
    resolved_at: datetime | None = None
    escalation: str = "none"  # none | pending | delivered | failed
    escalation_attempts: int = 0
    escalation_error: str | None = None
    escalated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # not stored: filled by readers

    @classmethod
    def from_row(cls, row: Any) -> Incident:
        return cls(**{name: row[name] for name in cls.__slots__ if name != "extra"})

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        del data["extra"]
        return data

    def to_dict(self) -> dict[str, Any]:
        """The JSON view: times as ISO 8601, and the triage time in seconds once triaged."""
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.row().items()}
        data.pop("group_key")
        data["object"] = "incident"
        first_look = self.triaged_at or self.resolved_at
        waited = None if first_look is None else (first_look - self.created_at).total_seconds()
        data["time_to_triage_s"] = waited
        return {**data, **self.extra}

    def public(self) -> dict[str, Any]:
        """What the escalation webhook receives: ids, labels and times, no personal data."""
        keep = ("id", "source", "category", "detail", "severity", "state", "route", "team", "reports",
                "request_id")
        view = {k: getattr(self, k) for k in keep}
        view["created_at"] = self.created_at.isoformat()
        return view
