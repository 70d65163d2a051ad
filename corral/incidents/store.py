"""Reads and writes of ``incidents`` and ``incident_notes``; stateless, cheap to build per use.

Floods are bounded here: reports on a request that already has an open (or triaged) incident
add to it (``reports`` counts them; the first ``MAX_REPORT_NOTES`` keep their text), and
content-policy events join one incident per (team, route, provider category) until it closes.
Each attach runs under a named lock (``pg_advisory_xact_lock``; SQLite's write lock), so two
replicas receiving the same report at once open one incident, not two.
"""

from __future__ import annotations

import builtins
import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, func, select, update

from corral.governance.audit import AuditLog
from corral.incidents.model import CLOSED, DEFAULT_SEVERITY, POLICY_CATEGORY, Incident, rank
from corral.store.db import Database, Transaction
from corral.store.schema import incident_notes, incidents, utcnow

MAX_REPORT_NOTES = 20  # report texts kept per incident; later reports only count
MAX_LIMIT = 1000
STATS_ROWS = 10_000  # incidents read for the time-to-triage figures


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class Report:
    """A report as the feedback endpoint validated it (``text`` already stored-safe)."""

    category: str
    severity: str | None
    request_id: str
    response_id: str | None
    reporter_key_id: str
    team: str
    record: dict[str, Any] | None  # the request's record, when written
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Attached:
    """What a report or an event batch did: the incident, and whether it became escalatable."""

    incident: Incident
    opened: bool
    raised: bool  # the severity went up (a new incident counts as raised)


def _open(query: Any, group_key: str) -> Any:
    return query.where(incidents.c.group_key == group_key, incidents.c.state.not_in(CLOSED))


class IncidentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def report(self, report: Report) -> Attached:
        """Open an incident for the report's request, or add the report to its open one."""
        group_key = f"feedback:{report.request_id}"
        severity = report.severity or DEFAULT_SEVERITY[report.category]
        async with self.db.transaction() as tx:
            await tx.lock(f"corral.incidents:{group_key}")
            row = await tx.fetch_one(_open(select(incidents), group_key).limit(1))
            now = utcnow()
            if row is None:
                record = report.record or {}
                incident = Incident(
                    id=new_id("inc"), created_at=now, updated_at=now, source="feedback",
                    category=report.category, severity=severity, group_key=group_key,
                    request_id=report.request_id, response_id=report.response_id,
                    route=record.get("route"), team=report.team, key_id=record.get("key_id"),
                    end_user=record.get("end_user"), reporter_key_id=report.reporter_key_id)
                await tx.execute(incidents.insert().values(**incident.row()))
                await self._note(tx, incident.id, report.reporter_key_id, "report",
                                 _report_text(report.category, report.text))
                await self._audit_open(tx, incident, report.reporter_key_id)
                return Attached(incident, opened=True, raised=True)
            incident = Incident.from_row(row)
            raised = rank(severity) > rank(incident.severity)
            values: dict[str, Any] = {"reports": incidents.c.reports + 1, "updated_at": now}
            if raised:
                values["severity"] = severity
            await tx.execute(update(incidents).where(incidents.c.id == incident.id).values(**values))
            if incident.reports < MAX_REPORT_NOTES:
                await self._note(tx, incident.id, report.reporter_key_id, "report",
                                 _report_text(report.category, report.text))
            incident.reports += 1
            incident.severity = severity if raised else incident.severity
            return Attached(incident, opened=False, raised=raised)

    async def absorb_events(self, events: Iterable[Any]) -> list[Attached]:
        """Attach content-policy events (corral.governance.policy_events.PolicyEvent) to the
        open incident of their (team, route, category), opening it when there is none."""
        groups: dict[str, list[Any]] = {}
        for event in events:
            key = f"policy:{event.team or ''}|{event.route}|{event.category}"[:600]
            groups.setdefault(key, []).append(event)
        out = []
        for key, group in groups.items():
            out.append(await self._absorb(key, group))
        return out

    async def _absorb(self, group_key: str, group: Sequence[Any]) -> Attached:
        first = group[0]
        async with self.db.transaction() as tx:
            await tx.lock(f"corral.incidents:{group_key}")
            row = await tx.fetch_one(_open(select(incidents), group_key).limit(1))
            now = utcnow()
            if row is not None:
                await tx.execute(update(incidents).where(incidents.c.id == row["id"]).values(
                    reports=incidents.c.reports + len(group), updated_at=now))
                return Attached(Incident.from_row(row), opened=False, raised=False)
            incident = Incident(
                id=new_id("inc"), created_at=now, updated_at=now, source="policy_event",
                category=POLICY_CATEGORY, detail=str(first.category)[:200],
                severity=DEFAULT_SEVERITY[POLICY_CATEGORY], group_key=group_key,
                request_id=first.request_id, route=first.route, team=first.team, key_id=first.key_id,
                reports=len(group))
            await tx.execute(incidents.insert().values(**incident.row()))
            await self._audit_open(tx, incident, "system")
            return Attached(incident, opened=True, raised=True)

    async def _audit_open(self, tx: Transaction, incident: Incident, actor: str) -> None:
        """``incident.open`` in the audit log, committed with the incident: labels only, no text."""
        view = incident.public()
        after = {k: view[k] for k in ("source", "category", "detail", "severity", "route", "team")}
        await AuditLog(self.db).append_in(tx, actor, "incident.open", incident.id, after=after)

    async def _note(self, tx: Transaction, incident_id: str, author: str, kind: str, text: str) -> None:
        await tx.execute(incident_notes.insert().values(
            incident_id=incident_id, created_at=utcnow(), author=author[:200], kind=kind, text=text))

    async def add_note(self, incident_id: str, author: str, kind: str, text: str) -> None:
        async with self.db.transaction() as tx:
            await self._note(tx, incident_id, author, kind, text)

    async def get(self, incident_id: str) -> Incident | None:
        row = await self.db.fetch_one(select(incidents).where(incidents.c.id == incident_id))
        return None if row is None else Incident.from_row(row)

    async def list(self, *, state: str | None = None, severity: str | None = None,
                   category: str | None = None, since: datetime | None = None,
                   limit: int = 100) -> list[Incident]:
        """Newest first, at most ``limit`` (capped at MAX_LIMIT)."""
        query = select(incidents)
        for column, value in (("state", state), ("severity", severity), ("category", category)):
            if value is not None:
                query = query.where(incidents.c[column] == value)
        if since is not None:
            query = query.where(incidents.c.created_at >= since)
        query = query.order_by(desc(incidents.c.created_at), desc(incidents.c.id))
        rows = await self.db.fetch_all(query.limit(max(1, min(limit, MAX_LIMIT))))
        return [Incident.from_row(r) for r in rows]

    async def notes(self, incident_id: str) -> builtins.list[dict[str, Any]]:
        query = select(incident_notes).where(incident_notes.c.incident_id == incident_id)
        rows = await self.db.fetch_all(query.order_by(incident_notes.c.id))
        return [{"id": r["id"], "created_at": r["created_at"].isoformat(), "author": r["author"],
                 "kind": r["kind"], "text": r["text"]} for r in rows]

    async def change(self, tx: Transaction, incident_id: str, values: dict[str, Any]) -> None:
        await tx.execute(update(incidents).where(incidents.c.id == incident_id)
                         .values(updated_at=utcnow(), **values))

    async def escalation(self, incident_id: str, state: str, attempts: int, error: str | None) -> None:
        """Record a delivery attempt's outcome on the incident (shown in GET and the dashboard)."""
        values: dict[str, Any] = {"escalation": state, "escalation_attempts": attempts,
                                  "escalation_error": None if error is None else error[:2000]}
        if state == "delivered":
            values["escalated_at"] = utcnow()
        await self.db.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))

    async def stats(self, since: datetime | None) -> dict[str, Any]:
        """Counts by state and severity, and time to triage (first triage or close) in seconds."""
        query = select(incidents.c.created_at, incidents.c.triaged_at, incidents.c.resolved_at,
                       incidents.c.severity, incidents.c.state)
        if since is not None:
            query = query.where(incidents.c.created_at >= since)
        rows = await self.db.fetch_all(query.order_by(desc(incidents.c.created_at)).limit(STATS_ROWS))
        waits = sorted((first - r["created_at"]).total_seconds() for r in rows
                       if (first := r["triaged_at"] or r["resolved_at"]) is not None)
        high = sorted((first - r["created_at"]).total_seconds() for r in rows
                      if rank(r["severity"]) >= rank("high")
                      and (first := r["triaged_at"] or r["resolved_at"]) is not None)
        by_state: dict[str, int] = {}
        by_severity: dict[str, int] = {}
        for r in rows:
            by_state[r["state"]] = by_state.get(r["state"], 0) + 1
            by_severity[r["severity"]] = by_severity.get(r["severity"], 0) + 1
        return {"object": "incident.stats", "incidents": len(rows), "by_state": by_state,
                "by_severity": by_severity, "untriaged": by_state.get("open", 0),
                "time_to_triage_s": _spread(waits), "time_to_triage_high_s": _spread(high)}

    async def count(self) -> int:
        return int(await self.db.fetch_val(select(func.count()).select_from(incidents)))


def _spread(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "median": None, "p90": None}
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    return {"count": len(values), "median": statistics.median(values), "p90": p90}


def _report_text(category: str, text: str | None) -> str:
    return f"reported as {category}" + (f": {text}" if text else "")
