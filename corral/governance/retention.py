"""The retention purge: delete what is older than ``governance.retention`` allows.

``apply_retention`` deletes request records, policy events, feedback, quality scores and closed
incidents past their maximum age, and nulls the captured content of request records (``requests.prompt`` and
``requests.response``) past ``captured_content_days`` while the telemetry row stays. The
maintenance job runs it hourly, once across replicas (corral.maintenance; registered by the
gateway), and ``corral governance retention`` runs it now.

Each statement touches at most ``batch_size`` rows (``DELETE ... WHERE id IN (SELECT id ...
LIMIT n)``, each in its own transaction) and the loop repeats until a batch comes back short,
so a large backlog never holds SQLite's write lock or PostgreSQL's row locks for long, and
request records can keep arriving between batches. Every statement uses the table's
``created_at`` index. A run that removed anything appends one audit entry
(``retention.purge``, actor ``system``, ``after`` = the counts); a dry run only counts.

Cost of the content pass: it reads the index range between the two cutoffs (by default the
requests from 30 to 90 days old) each run, because nulled rows stay in that range; rows older
than the records' cutoff are left to the records rule, so a dry run does not count them twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Delete, Table, Update, and_, delete, func, or_, select, update

from corral.governance.audit import AuditLog
from corral.governance.settings import RetentionSettings
from corral.store.db import Database
from corral.store.schema import feedback, incidents, policy_events, quality_scores, requests, utcnow

BATCH_SIZE = 5000
ACTION = "retention.purge"
TARGET = "governance.retention"
CONTENT_COLUMNS = ("prompt", "response")  # requests columns holding captured content
CONTENT_KEY = "requests_content"  # the report's name for nulled content


@dataclass(frozen=True, slots=True)
class _Rule:
    """Rows of ``table`` created before ``cutoff``: deleted, or (``null`` set) their ``null``
    columns set to NULL where any of them still holds something."""

    name: str
    table: Table
    cutoff: datetime
    null: tuple[str, ...] = ()
    floor: datetime | None = None  # rows older than this are another rule's to delete
    age: str = "created_at"  # the column the age is counted from (NULL: never old)

    def where(self) -> ColumnElement[bool]:
        old = self.table.c[self.age] < self.cutoff
        if self.floor is not None:
            old = and_(old, self.table.c[self.age] >= self.floor)
        if not self.null:
            return old
        return and_(old, or_(*(self.table.c[c].is_not(None) for c in self.null)))

    def batch(self, size: int) -> Delete | Update:
        ids = select(self.table.c.id).where(self.where()).limit(size)
        if self.null:
            return update(self.table).where(self.table.c.id.in_(ids)).values({c: None for c in self.null})
        return delete(self.table).where(self.table.c.id.in_(ids))


# Report key -> (table, setting in governance.retention, columns nulled instead of deleting).
# name -> (table, setting, columns to null instead of deleting rows, the column age counts from).
# Incidents age from when they were closed (resolved_at, set on resolve and dismiss): an open
# incident is never purged, however old; its notes go with it (ON DELETE CASCADE).
RULES: dict[str, tuple[Table, str, tuple[str, ...], str]] = {
    "requests": (requests, "request_records_days", (), "created_at"),
    CONTENT_KEY: (requests, "captured_content_days", CONTENT_COLUMNS, "created_at"),
    "policy_events": (policy_events, "policy_events_days", (), "created_at"),
    "feedback": (feedback, "feedback_days", (), "created_at"),
    "quality_scores": (quality_scores, "quality_scores_days", (), "created_at"),
    "incidents": (incidents, "closed_incidents_days", (), "resolved_at"),
}


def _rules(settings: RetentionSettings, now: datetime) -> list[_Rule]:
    """What to remove, in order: whole records first, so the content pass finds fewer rows."""
    records = settings.request_records_days
    floor = None if records is None else now - timedelta(days=records)
    rules = []
    for name, (table, setting, null, age) in RULES.items():
        days: int | None = getattr(settings, setting)
        if days is not None:
            rules.append(_Rule(name, table, now - timedelta(days=days), null, floor if null else None, age))
    return rules


async def _run(db: Database, rule: _Rule, batch_size: int) -> int:
    total = 0
    while True:
        async with db.transaction() as tx:
            done = (await tx.execute(rule.batch(batch_size))).rowcount
        total += max(done, 0)
        if done < batch_size:
            return total


async def _count(db: Database, rule: _Rule) -> int:
    return int(await db.fetch_val(select(func.count()).select_from(rule.table).where(rule.where())))


async def apply_retention(db: Database, settings: RetentionSettings, now: datetime | None = None, *,
                          dry_run: bool = False, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Remove what is past its limit; return how many rows each rule removed (or, with
    ``dry_run``, would remove), keyed by table, ``requests_content`` for nulled content.
    Limits set to null (keep) are absent from the result."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rules = _rules(settings, now or utcnow())
    counts: dict[str, int] = {}
    for rule in rules:
        counts[rule.name] = await (_count(db, rule) if dry_run else _run(db, rule, batch_size))
    if not dry_run and any(counts.values()):
        await AuditLog(db).append("system", ACTION, TARGET, after=counts)
    return counts


def retention_purge(db: Database, settings: RetentionSettings) -> Callable[[], Awaitable[dict[str, int]]]:
    """The maintenance purge: ``Maintenance.purges["retention"] = retention_purge(db, settings)``."""
    async def purge() -> dict[str, int]:
        return await apply_retention(db, settings)

    return purge
