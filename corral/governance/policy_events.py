"""Content-policy events: provider refusals and content-filtered answers, kept for review.

Operators read these to see which prompts providers refuse and tighten input
validation upstream. Recording must never slow a request or fail it, so the
:class:`PolicyEventRecorder` only queues in memory; a background task writes batches
and counts what it had to drop (queue full, database down) instead of raising.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import RowMapping, String, desc, func, select

from corral.core.batching import BatchWorker
from corral.core.types import Message
from corral.store.db import Database
from corral.store.schema import PROMPT_EXCERPT_CHARS, policy_events, utcnow

log = logging.getLogger("corral.governance")

GroupBy = Literal["category", "route"]
NUL_REPLACEMENT = "\ufffd"  # what a stored NUL becomes: visible, and storable everywhere
_STRING_LIMITS = {
    c.name: c.type.length for c in policy_events.columns if isinstance(c.type, String) and c.type.length
}
_STRING_LIMITS["prompt_excerpt"] = PROMPT_EXCERPT_CHARS


@dataclass(slots=True)
class PolicyEvent:
    """One refusal or content-filter answer (``id`` is set once stored)."""

    request_id: str
    route: str
    category: str
    message: str
    stream: bool = False
    key_id: str | None = None
    team: str | None = None
    deployment: str | None = None
    provider: str | None = None
    prompt_excerpt: str | None = None  # PRIVACY: raw user text until the privacy work redacts it
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view for the admin API and the CLI."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data

    def row(self) -> dict[str, Any]:
        """Column values, strings clipped to their column's length and NUL characters
        replaced (PostgreSQL text refuses them): one odd value from a provider or a
        prompt must not make PostgreSQL reject the whole batch."""
        data = asdict(self)
        del data["id"]
        for name, value in data.items():
            if isinstance(value, str) and "\x00" in value:
                data[name] = value.replace("\x00", NUL_REPLACEMENT)
        for name, limit in _STRING_LIMITS.items():
            value = data.get(name)
            if isinstance(value, str) and len(value) > limit:
                data[name] = value[:limit]
        return data


Events = list[PolicyEvent]


def prompt_excerpt(messages: Sequence[Message], limit: int = PROMPT_EXCERPT_CHARS) -> str | None:
    """The start of the last user message (images left out), at most ``limit`` characters."""
    for message in reversed(messages):
        if message.role == "user":
            return message.text()[:limit]
    return None


def _from_row(row: RowMapping) -> PolicyEvent:
    return PolicyEvent(
        id=row["id"],
        created_at=row["created_at"],
        request_id=row["request_id"],
        key_id=row["key_id"],
        team=row["team"],
        route=row["route"],
        deployment=row["deployment"],
        provider=row["provider"],
        category=row["category"],
        message=row["message"],
        prompt_excerpt=row["prompt_excerpt"],
        stream=bool(row["stream"]),
    )


class PolicyEventStore:
    """Reads and batch writes of ``policy_events``; stateless, so cheap to build per use."""

    MAX_LIMIT = 1000

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_many(self, events: Iterable[PolicyEvent]) -> int:
        """Insert events in one transaction; returns how many were written."""
        rows = [e.row() for e in events]
        if rows:
            await self.db.execute(policy_events.insert(), rows)
        return len(rows)

    async def list(
        self,
        limit: int = 100,
        since: datetime | None = None,
        route: str | None = None,
        key_id: str | None = None,
    ) -> Events:
        """Newest first, at most ``limit`` (capped at :attr:`MAX_LIMIT`)."""
        limit = max(1, min(limit, self.MAX_LIMIT))
        query = select(policy_events)
        if since is not None:
            query = query.where(policy_events.c.created_at >= since)
        if route is not None:
            query = query.where(policy_events.c.route == route)
        if key_id is not None:
            query = query.where(policy_events.c.key_id == key_id)
        query = query.order_by(desc(policy_events.c.created_at), desc(policy_events.c.id)).limit(limit)
        return [_from_row(r) for r in await self.db.fetch_all(query)]

    async def count_by(self, by: GroupBy, since: datetime | None = None) -> dict[str, int]:
        """Event counts per category or per route, largest first."""
        if by not in ("category", "route"):
            raise ValueError(f"count_by: group by 'category' or 'route', not {by!r}")
        column = policy_events.c[by]
        n = func.count().label("n")
        query = select(column, n).group_by(column).order_by(desc(n), column)
        if since is not None:
            query = query.where(policy_events.c.created_at >= since)
        return {r[by]: int(r["n"]) for r in await self.db.fetch_all(query)}


class EventWriter(Protocol):
    """Where the recorder writes batches (:class:`PolicyEventStore`, or a fake in tests)."""

    async def add_many(self, events: Iterable[PolicyEvent]) -> int: ...


class PolicyEventRecorder(BatchWorker[PolicyEvent]):
    """Queues events in memory and writes them in batches from a background task.

    :meth:`record` never waits: when the bounded queue is full the event is dropped
    and counted. A failed batch write (database down) is logged, counted and
    dropped too — review data is worth less than request latency.
    """

    task_name = "corral-policy-events"

    def __init__(
        self,
        store: EventWriter | Database,
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        retry_delay_s: float = 1.0,
    ) -> None:
        super().__init__(max_queue=max_queue, batch_size=batch_size)
        self.store: EventWriter = PolicyEventStore(store) if isinstance(store, Database) else store
        self.retry_delay_s = retry_delay_s
        self.counters.update({
            "recorded": 0,  # accepted into the queue
            "written": 0,
            "dropped_write_failed": 0,
            "write_errors": 0,  # failed batches
            "batches": 0,
        })  # plus dropped_queue_full and dropped_on_close (still queued when aclose gave up)

    def record(self, event: PolicyEvent) -> bool:
        """Queue ``event`` without waiting; False (and counted) when the queue is full."""
        if not self._offer(event):
            return False
        self.counters["recorded"] += 1
        return True

    async def _handle(self, batch: Events) -> bool:
        try:
            self.counters["written"] += await self.store.add_many(batch)
            self.counters["batches"] += 1
            return True
        except Exception as exc:  # noqa: BLE001 - recording must never take the gateway down
            self.counters["write_errors"] += 1
            self.counters["dropped_write_failed"] += len(batch)
            log.warning("dropped %d policy events: database write failed: %s", len(batch), exc)
            return False

