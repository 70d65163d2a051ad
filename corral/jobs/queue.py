"""The producer's side of the durable queue: submit, read, count, cancel, purge.

Jobs live in the ``jobs`` table of the one :class:`~corral.store.Database` (SQLite by
default, PostgreSQL for replicas), so accepted work survives any process. Workers take
jobs through :class:`~corral.jobs.leases.Leases`; in-process workers subscribe here to be
woken at once by a local enqueue or cancel instead of waiting for their next poll.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from corral.jobs.errors import JobPayloadTooLarge, QueueFull
from corral.jobs.leases import lock_in_order
from corral.jobs.rows import Clock, dumps, job_from_row, new_job_id
from corral.jobs.settings import JobSettings
from corral.jobs.types import FINISHED, LEASED, Job, JobStatus, NewJob
from corral.store.db import Database, Transaction
from corral.store.schema import jobs, utcnow

_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and asyncpg's parameter limits
# PostgreSQL: rows this process inserted before it refreshes the table's planner statistics.
# A batch's items arrive faster than autovacuum analyzes; with statistics from an empty table
# the claim sorted all 50,000 queued rows (100 ms) instead of reading the claim-order index
# (0.15 ms). ANALYZE samples at most 30,000 rows: 100-125 ms at 50,000 queued here.
ANALYZE_AFTER_ROWS = 5000


# Writes of another store that must commit with the jobs or not at all (same database).
AlongWith = Callable[[Transaction], Awaitable[None]]


class QueueListener(Protocol):
    """An in-process worker: told of local enqueues and cancels, so it need not poll for them."""

    def wake(self) -> None: ...

    def cancel_requested(self, job_id: str) -> None: ...


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i:i + _IN_CHUNK] for i in range(0, len(items), _IN_CHUNK)]


class JobQueue:
    """Submit and inspect jobs. Safe to share by every task of a process and by replicas."""

    def __init__(self, db: Database, settings: JobSettings | None = None, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings or JobSettings()
        self.clock = clock
        self._listeners: list[QueueListener] = []
        self._inserted_since_analyze = 0

    def subscribe(self, listener: QueueListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: QueueListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def enqueue(self, new: NewJob, *, along_with: AlongWith | None = None) -> Job:
        """Queue one job, or return the job its dedupe key already names (any status).

        Raises :class:`QueueFull` when the team already has `max_queued_per_team` top-level
        jobs queued, :class:`JobPayloadTooLarge` when the payload is over the limit.
        `along_with` writes the object the job works on in the same transaction, so no
        reader ever sees one without the other, and a refused job leaves nothing behind.
        """
        return (await self.enqueue_many([new], along_with=along_with))[0]

    async def enqueue_many(self, new: Sequence[NewJob], *, along_with: AlongWith | None = None) -> list[Job]:
        """Queue many jobs in one transaction (a batch's items); same order as ``new``.

        Only top-level jobs (no ``parent_id``) count against the per-team limit: a batch's
        items are bounded by its input file, and a half-queued batch would be worse.
        """
        now = self.clock()
        rows = [self._row(n, now) for n in new]
        async with self.db.transaction() as tx:
            if along_with is not None:
                await along_with(tx)
            existing = await self._deduped(tx, new)
            fresh = [i for i, n in enumerate(new) if self._dedupe_id(n) not in existing]
            await self._check_limits(tx, [rows[i] for i in fresh if rows[i]["parent_id"] is None])
            inserted = await self._insert(tx, [rows[i] for i in fresh])
            # Another transaction stored the same dedupe key meanwhile (or ``new`` repeats one).
            existing.update(await self._deduped(tx, [new[i] for i in fresh if rows[i]["id"] not in inserted]))
        out = [existing.get(self._dedupe_id(n)) or job_from_row(r) for n, r in zip(new, rows, strict=True)]
        if inserted:
            for listener in self._listeners:
                listener.wake()
            await self._refresh_statistics(len(inserted))
        return out

    async def _refresh_statistics(self, inserted: int) -> None:
        """PostgreSQL: ANALYZE the table once enough rows arrived (see ANALYZE_AFTER_ROWS).
        SQLite's planner picks the claim-order index without statistics."""
        self._inserted_since_analyze += inserted
        if self.db.dialect != "postgresql" or self._inserted_since_analyze < ANALYZE_AFTER_ROWS:
            return
        self._inserted_since_analyze = 0
        await self.db.execute("ANALYZE jobs")

    def _row(self, new: NewJob, now: datetime) -> dict[str, Any]:
        payload = dumps(new.payload)
        if len(payload.encode()) > self.settings.max_payload_bytes:
            raise JobPayloadTooLarge(
                f"job payload is {len(payload.encode())} bytes; the limit is "
                f"{self.settings.max_payload_bytes} (jobs.max_payload_bytes)")
        return {
            "id": new.id or new_job_id(), "kind": new.kind, "team": new.team, "key_id": new.key_id,
            "payload": payload, "status": "queued", "priority": new.priority, "attempts": 0,
            "max_attempts": new.max_attempts or self.settings.max_attempts,
            "not_before": now + timedelta(seconds=new.delay_s), "lease_owner": None,
            "lease_token": None, "lease_expires_at": None, "dedupe_key": new.dedupe_key,
            "result": None, "error": None, "parent_id": new.parent_id, "cancel_requested": False,
            "created_at": now, "started_at": None, "finished_at": None, "expires_at": new.expires_at,
        }

    @staticmethod
    def _dedupe_id(new: NewJob) -> tuple[str, str, str] | None:
        return None if new.dedupe_key is None else (new.team, new.kind, new.dedupe_key)

    async def _deduped(self, tx: Transaction, new: Sequence[NewJob]) -> dict[Any, Job]:
        """Jobs already stored under the dedupe keys of ``new``, by (team, kind, key)."""
        groups: dict[tuple[str, str], list[str]] = {}
        for n in new:
            if n.dedupe_key is not None:
                groups.setdefault((n.team, n.kind), []).append(n.dedupe_key)
        found: dict[Any, Job] = {}
        for (team, kind), keys in groups.items():
            for chunk in _chunks(keys):
                for row in await tx.fetch_all(select(jobs).where(
                        jobs.c.team == team, jobs.c.kind == kind, jobs.c.dedupe_key.in_(chunk))):
                    found[(team, kind, row["dedupe_key"])] = job_from_row(row)
        return found

    async def _check_limits(self, tx: Transaction, top_level: list[dict[str, Any]]) -> None:
        per_team: dict[str, int] = {}
        for row in top_level:
            per_team[row["team"]] = per_team.get(row["team"], 0) + 1
        limit = self.settings.max_queued_per_team
        for team, adding in sorted(per_team.items()):
            await tx.lock(f"corral.jobs.team:{team}")  # PostgreSQL: no two enqueues overshoot
            queued = await tx.fetch_val(select(func.count()).select_from(jobs).where(
                jobs.c.team == team, jobs.c.status == "queued", jobs.c.parent_id.is_(None)))
            if queued + adding > limit:
                raise QueueFull(
                    f"team {team!r} has {queued} jobs queued; the limit is {limit} "
                    "(jobs.max_queued_per_team): wait for some to finish",
                    retry_after=self.settings.poll_interval_s * 10)

    async def _insert(self, tx: Transaction, rows: list[dict[str, Any]]) -> set[str]:
        """Insert, skipping rows whose dedupe key another transaction stored meanwhile."""
        if not rows:
            return set()
        dialect = postgresql if tx.dialect == "postgresql" else sqlite
        stmt = dialect.insert(jobs).on_conflict_do_nothing(index_elements=["team", "kind", "dedupe_key"])
        result = await tx.execute(stmt.returning(jobs.c.id), rows)
        return {row[0] for row in result.all()}

    async def get(self, job_id: str) -> Job | None:
        row = await self.db.fetch_one(select(jobs).where(jobs.c.id == job_id))
        return None if row is None else job_from_row(row)

    async def list(self, *, kind: str | None = None, team: str | None = None, key_id: str | None = None,
                   parent_id: str | None = None, status: JobStatus | None = None,
                   after: str | None = None, limit: int = 100, newest_first: bool = False) -> list[Job]:
        """Jobs matching every filter given, in creation order; page with ``after`` (a job id)."""
        order = (jobs.c.created_at.desc(), jobs.c.id.desc()) if newest_first else (
            jobs.c.created_at, jobs.c.id)
        query = select(jobs).order_by(*order).limit(limit)
        for column, value in ((jobs.c.kind, kind), (jobs.c.team, team), (jobs.c.key_id, key_id),
                              (jobs.c.parent_id, parent_id), (jobs.c.status, status)):
            if value is not None:
                query = query.where(column == value)
        if after is not None:
            mark = select(jobs.c.created_at).where(jobs.c.id == after).scalar_subquery()
            if newest_first:
                query = query.where(or_(jobs.c.created_at < mark, and_(jobs.c.created_at == mark,
                                                                     jobs.c.id < after)))
            else:
                query = query.where(or_(jobs.c.created_at > mark, and_(jobs.c.created_at == mark,
                                                                     jobs.c.id > after)))
        return [job_from_row(r) for r in await self.db.fetch_all(query)]

    async def counts(self, parent_id: str) -> dict[JobStatus, int]:
        """A parent's children by status (a batch's request_counts); absent statuses are 0."""
        rows = await self.db.fetch_all(
            select(jobs.c.status, func.count().label("n")).where(jobs.c.parent_id == parent_id)
            .group_by(jobs.c.status))
        return {cast(JobStatus, r["status"]): int(r["n"]) for r in rows}

    async def depth(self) -> dict[str, int]:
        """Queued jobs by kind (claimable now or after their backoff)."""
        rows = await self.db.fetch_all(
            select(jobs.c.kind, func.count().label("n")).where(jobs.c.status == "queued")
            .group_by(jobs.c.kind))
        return {r["kind"]: int(r["n"]) for r in rows}

    async def request_cancel(self, job_id: str) -> Job | None:
        """Cancel a job and its children: queued ones end ``cancelled`` at once, running
        ones turn ``cancelling`` until their worker stops them. A finished job is returned
        unchanged (the caller decides whether that is an error); None: no such job."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(select(jobs).where(jobs.c.id == job_id).with_for_update())
            if row is None or row["status"] in FINISHED:
                return None if row is None else job_from_row(row)
            await self._cancel(tx, jobs.c.id == job_id)
            await self._cancel(tx, jobs.c.parent_id == job_id)
            row = await tx.fetch_one(select(jobs).where(jobs.c.id == job_id))
        self._tell_cancel(job_id)
        return None if row is None else job_from_row(row)

    async def cancel_children(self, parent_id: str) -> int:
        """Cancel a parent's unfinished children (a batch's items), whatever the parent's own
        state (a batch's planning job may have finished long before its items); how many."""
        async with self.db.transaction() as tx:
            changed = await self._cancel(tx, jobs.c.parent_id == parent_id)
        self._tell_cancel(parent_id)
        return changed

    async def _cancel(self, tx: Transaction, which: ColumnElement[bool]) -> int:
        now = self.clock()
        await lock_in_order(tx, which & jobs.c.status.not_in(FINISHED))
        queued = await tx.execute(update(jobs).where(which, jobs.c.status == "queued").values(
            status="cancelled", cancel_requested=True, finished_at=now))
        running = await tx.execute(update(jobs).where(which, jobs.c.status.in_(LEASED)).values(
            status="cancelling", cancel_requested=True))
        return int(queued.rowcount) + int(running.rowcount)

    def _tell_cancel(self, job_id: str) -> None:
        for listener in self._listeners:
            listener.cancel_requested(job_id)

    async def purge_finished(self) -> int:
        """Delete jobs finished longer than `retention_s` ago; children of an unfinished
        parent stay, whatever their age, so a long batch never loses its results."""
        cutoff = self.clock() - timedelta(seconds=self.settings.retention_s)
        parents = jobs.alias("parents")
        unfinished_parents = select(parents.c.id).where(parents.c.status.not_in(FINISHED))
        result = await self.db.execute(jobs.delete().where(
            jobs.c.status.in_(FINISHED), jobs.c.finished_at < cutoff,
            or_(jobs.c.parent_id.is_(None), jobs.c.parent_id.not_in(unfinished_parents))))
        return int(result.rowcount)
