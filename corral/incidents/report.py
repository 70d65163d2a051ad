"""The report fields of ``POST /v1/feedback``: ``category`` and an optional ``severity``.

A reporter may say ``low``, ``medium`` or ``high``; ``critical`` is a reviewer's call. A report
with no rating, score or text counts as a thumbs down, so the feedback row still says what the
user thought of the answer.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from corral.core.errors import InvalidRequest
from corral.incidents.model import CATEGORIES, choice
from corral.incidents.store import Attached

REPORTER_SEVERITIES = ("low", "medium", "high")
_SIGNALS = ("rating", "score", "comment", "correction")


def report_fields(data: MutableMapping[str, Any]) -> tuple[str | None, str | None]:
    """(category, severity) popped from the body, validated; ``rating`` defaults to down for a report."""
    category = data.pop("category", None)
    severity = data.pop("severity", None)
    if category is None:
        if severity is not None:
            raise InvalidRequest("'severity' applies to a report: send 'category' (harmful, wrong or "
                                 "data_leak) with it.", param="category")
        return None, None
    category = choice(category, CATEGORIES, "category")
    if severity is not None:
        severity = choice(severity, REPORTER_SEVERITIES, "severity")
    if all(data.get(name) is None for name in _SIGNALS):
        data["rating"] = "down"
    return category, severity


def reported(attached: Attached) -> dict[str, Any]:
    """What the reporter sees of the incident: enough to quote it, nothing of others' reports."""
    incident = attached.incident
    return {"id": incident.id, "object": "incident", "opened": attached.opened, "state": incident.state,
            "severity": incident.severity, "category": incident.category, "escalation": incident.escalation}
