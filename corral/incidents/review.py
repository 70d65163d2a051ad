"""A reviewer's change to an incident: validated, applied and audited in one transaction.

``PATCH /admin/incidents/{id}`` accepts ``state``, ``assignee``, ``severity`` and ``note``;
anything else is refused by name. State moves follow corral.incidents.model.TRANSITIONS (409
otherwise). The first move out of ``open`` stamps ``triaged_at`` (time to triage); closing
stamps ``resolved_at`` and reopening clears it. The audit entry (``incident.update``, before
and after of the changed fields) commits with the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from corral.core.errors import InvalidRequest, NotFound
from corral.governance.audit import AuditLog
from corral.incidents.model import (
    CLOSED,
    MAX_NOTE_CHARS,
    SEVERITIES,
    STATES,
    Incident,
    check_transition,
    choice,
)
from corral.incidents.store import IncidentStore
from corral.store.db import Database
from corral.store.schema import incident_notes, incidents, utcnow

FIELDS = ("state", "assignee", "severity", "note")
MAX_ASSIGNEE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Change:
    values: dict[str, Any]  # columns to set
    note: str | None


def parse_change(data: Mapping[str, Any]) -> Change:
    """The PATCH body as column values; 400 naming unknown fields or bad values."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}. An incident change may set "
                             f"{', '.join(FIELDS)}.", param=unknown[0])
    values: dict[str, Any] = {}
    if "state" in data:
        values["state"] = choice(data["state"], STATES, "state")
    if "severity" in data:
        values["severity"] = choice(data["severity"], SEVERITIES, "severity")
    if "assignee" in data:
        assignee = data["assignee"]
        if assignee is not None and (not isinstance(assignee, str) or len(assignee) > MAX_ASSIGNEE_CHARS
                                     or "\x00" in assignee):
            raise InvalidRequest(f"'assignee' must be a string of at most {MAX_ASSIGNEE_CHARS} characters, "
                                 "or null to unassign.", param="assignee")
        values["assignee"] = assignee.strip() or None if isinstance(assignee, str) else None
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip() or len(note) > MAX_NOTE_CHARS
                             or "\x00" in note):
        raise InvalidRequest(f"'note' must be non-empty text of at most {MAX_NOTE_CHARS:,} characters "
                             "without NUL characters.", param="note")
    if not values and note is None:
        raise InvalidRequest(f"Nothing to change: send at least one of {', '.join(FIELDS)}.")
    return Change(values, note)


def _stamps(before: Incident, state: str) -> dict[str, Any]:
    now = utcnow()
    stamps: dict[str, Any] = {}
    if before.state == "open" and state != "open" and before.triaged_at is None:
        stamps["triaged_at"] = now
    if state in CLOSED and before.state not in CLOSED:
        stamps["resolved_at"] = now
    if state not in CLOSED and before.state in CLOSED:
        stamps["resolved_at"] = None
    return stamps


async def apply_change(db: Database, incident_id: str, change: Change, *, actor: str,
                       actor_name: str | None,
                       store_note: Callable[[Incident, str], Awaitable[str]]) -> tuple[Incident, Incident]:
    """Apply ``change``; returns (before, after). ``store_note`` makes a note storable (privacy)."""
    before = await IncidentStore(db).get(incident_id)
    if before is None:
        raise NotFound(f"No incident {incident_id!r}. List them with GET /admin/incidents.")
    note = None if change.note is None else await store_note(before, change.note)
    values = dict(change.values)
    if "state" in values:
        check_transition(before.state, values["state"])
        values.update(_stamps(before, values["state"]))
    changed = {k: v for k, v in values.items() if getattr(before, k) != v}
    async with db.transaction() as tx:
        current = select(incidents.c.state).where(incidents.c.id == incident_id).with_for_update()
        row = await tx.fetch_one(current)
        if row is None or row["state"] != before.state:  # changed meanwhile: check the move again
            raise InvalidRequest("The incident changed while this request was processed; read it again.")
        if changed:
            await IncidentStore(db).change(tx, incident_id, changed)
        if note is not None:
            await tx.execute(incident_notes.insert().values(incident_id=incident_id, created_at=utcnow(),
                                                            author=actor[:200], kind="note", text=note))
        after_row = await tx.fetch_one(select(incidents).where(incidents.c.id == incident_id))
        after = Incident.from_row(after_row)
        audit_before = {k: _plain(getattr(before, k)) for k in changed}
        audit_after: dict[str, Any] = {k: _plain(getattr(after, k)) for k in changed}
        if note is not None:
            audit_after["note_chars"] = len(note)  # the text stays in the notes (erasable), not the chain
        await AuditLog(db).append_in(tx, actor, "incident.update", incident_id, before=audit_before,
                                     after=audit_after, actor_name=actor_name)
    return before, after


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
