"""The audit log: an append-only, hash-chained record of admin actions.

Each entry stores who acted (a key id, ``cli:<os user>`` or ``system``), when, the action
(``key.create``, ``key.revoke``, ``config.load``, ``erasure``, ``prompt.label.approve``,
``incident.open``, ``incident.update``, ``audit.export``), its target, and the target's state
before and after as JSON. ``hash`` is the SHA-256 of the entry's fields and of ``prev_hash``, the hash of the
entry before it, so editing an entry changes its hash and removing or reordering one breaks
the link of the entry after it. :meth:`AuditLog.verify` walks the chain and names the first
broken entry.

Appends are serialised so the chain never forks: the transaction that reads the last hash
and inserts the new entry holds ``pg_advisory_xact_lock`` on PostgreSQL (every replica and
process takes the same named lock) and SQLite's write lock (`BEGIN IMMEDIATE`, see
corral.store.db) on SQLite. The id order is the chain order: ids are drawn inside the lock.

Id gaps are not failures. PostgreSQL draws ids from a sequence that a rolled-back insert
still advances, so gaps happen without tampering; a deleted entry is caught by the broken
``prev_hash`` link of the entry after it, which is the real check. Gaps are counted in
:class:`VerifyResult` for the curious. What the chain cannot see: the newest entries removed
from the end, or the whole table rewritten with recomputed hashes. Export to write-once
storage and keep the last hash elsewhere (``verify(anchor=...)`` checks it is still there).
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import RowMapping, select

from corral.store.db import Database, Transaction
from corral.store.schema import audit_log, utcnow

GENESIS_HASH = "0" * 64
AUDIT_LOCK = "corral.governance.audit"
MAX_LIMIT = 1000
_PAGE = 500
_WIDTHS = {"actor": 200, "actor_name": 200, "action": 64, "target": 300}

JSON = Mapping[str, Any] | list[Any] | str | int | float | bool | None


class TextSink(Protocol):
    def write(self, text: str, /) -> Any: ...


def cli_actor() -> str:
    """``cli:<os user>``: who ran a command-line admin action."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (containers)
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}"


def config_fingerprint(settings_json: str, source: str) -> dict[str, str]:
    """A ``config.load`` entry's ``after``: the settings' hash and path, not the settings."""
    return {"sha256": hashlib.sha256(settings_json.encode()).hexdigest(), "source": source}


def canonical_json(value: JSON) -> str | None:
    """Stored form of ``before``/``after``: orjson with sorted keys (None stays None)."""
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def entry_hash(prev_hash: str, at: datetime, actor: str, actor_name: str | None, action: str,
               target: str, before: str | None, after: str | None) -> str:
    """SHA-256 hex over the canonical serialisation of an entry (``before``/``after`` as stored)."""
    fields = {"prev_hash": prev_hash, "at": _iso(at), "actor": actor, "actor_name": actor_name,
              "action": action, "target": target, "before": before, "after": after}
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _clip(value: str, field: str) -> str:
    return value.replace("\x00", "")[: _WIDTHS[field]]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    actor_name: str | None
    action: str
    target: str
    before: str | None  # JSON text, exactly as hashed
    after: str | None
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AuditEntry:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def computed_hash(self) -> str:
        return entry_hash(self.prev_hash, self.at, self.actor, self.actor_name, self.action,
                          self.target, self.before, self.after)

    def to_dict(self) -> dict[str, Any]:
        """JSON view (``before``/``after`` parsed); an export line is one of these."""
        return {
            "id": self.id, "at": _iso(self.at), "actor": self.actor, "actor_name": self.actor_name,
            "action": self.action, "target": self.target,
            "before": None if self.before is None else orjson.loads(self.before),
            "after": None if self.after is None else orjson.loads(self.after),
            "prev_hash": self.prev_hash, "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int  # entries whose hash and link were checked
    broken_id: int | None = None  # the first entry that fails
    reason: str | None = None
    last_hash: str | None = None  # of the last intact entry
    id_gaps: int = 0  # missing ids between intact entries (rolled-back inserts; not a failure)

    def describe(self) -> str:
        if self.ok:
            return f"{self.checked} entries, chain intact"
        if self.broken_id is None:
            return f"{self.reason} ({self.checked} entries checked)"
        return f"entry {self.broken_id} is broken: {self.reason} ({self.checked} entries checked)"


class AuditLog:
    """Append, read, verify and export the audit log of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, actor: str, action: str, target: str, before: JSON = None,
                     after: JSON = None, actor_name: str | None = None) -> AuditEntry:
        """Add an entry in its own transaction (see :meth:`append_in`)."""
        async with self.db.transaction() as tx:
            return await self.append_in(tx, actor, action, target, before, after, actor_name)

    async def append_in(self, tx: Transaction, actor: str, action: str, target: str,
                        before: JSON = None, after: JSON = None,
                        actor_name: str | None = None) -> AuditEntry:
        """Add an entry inside ``tx``, so it commits or rolls back with the change it records.

        The lock is held until ``tx`` ends: keep the rest of ``tx`` short.
        """
        await tx.lock(AUDIT_LOCK)
        last = await tx.fetch_val(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1))
        values: dict[str, Any] = {
            "at": utcnow(), "actor": _clip(actor, "actor"), "action": _clip(action, "action"),
            "target": _clip(target, "target"),
            "actor_name": None if actor_name is None else _clip(actor_name, "actor_name"),
            "before": canonical_json(before), "after": canonical_json(after),
            "prev_hash": last or GENESIS_HASH,
        }
        values["hash"] = entry_hash(values["prev_hash"], values["at"], values["actor"],
                                    values["actor_name"], values["action"], values["target"],
                                    values["before"], values["after"])
        new_id = await tx.fetch_val(audit_log.insert().values(**values).returning(audit_log.c.id))
        return AuditEntry(id=int(new_id), **values)

    async def entries(self, since: datetime | None = None, action: str | None = None,
                      limit: int = 100) -> list[AuditEntry]:
        """Newest first: at most ``limit`` entries at or after ``since``, of one ``action``."""
        stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(min(max(limit, 1), MAX_LIMIT))
        if since is not None:
            stmt = stmt.where(audit_log.c.at >= since)
        if action is not None:
            stmt = stmt.where(audit_log.c.action == action)
        return [AuditEntry.from_row(r) for r in await self.db.fetch_all(stmt)]

    async def _pages(self, since: datetime | None = None) -> AsyncIterator[AuditEntry]:
        """Every entry, oldest first, a page at a time (a long log never sits in memory)."""
        after_id = -1
        while True:
            stmt = select(audit_log).where(audit_log.c.id > after_id).order_by(audit_log.c.id).limit(_PAGE)
            if since is not None:
                stmt = stmt.where(audit_log.c.at >= since)
            rows: list[RowMapping] = await self.db.fetch_all(stmt)
            if not rows:
                return
            for row in rows:
                yield AuditEntry.from_row(row)
            after_id = rows[-1]["id"]

    async def verify(self, anchor: str | None = None) -> VerifyResult:
        """Walk the chain from the first entry; stop at the first one that does not hold.

        ``anchor``: a hash noted earlier (an export's last hash); it must still be in the
        chain, which catches the newest entries being removed from the end.
        """
        prev, prev_id, checked, gaps, seen_anchor = GENESIS_HASH, None, 0, 0, anchor is None
        async for entry in self._pages():
            if entry.prev_hash != prev:
                why = ("its prev_hash is not the genesis hash: entries before it were removed"
                       if prev_id is None else
                       f"its prev_hash does not match entry {prev_id}: an entry between them "
                       "was removed, or entries were reordered")
                return VerifyResult(False, checked, entry.id, why, prev if checked else None, gaps)
            if entry.computed_hash() != entry.hash:
                return VerifyResult(False, checked, entry.id, "its hash does not match its "
                                    "contents: the entry was edited", prev if checked else None, gaps)
            gaps += 0 if prev_id is None else entry.id - prev_id - 1
            prev, prev_id, checked = entry.hash, entry.id, checked + 1
            seen_anchor = seen_anchor or entry.hash == anchor
        if not seen_anchor:
            return VerifyResult(False, checked, None, f"the anchor hash {anchor} is not in the chain: "
                                "entries were removed from its end or the log was rewritten",
                                prev if checked else None, gaps)
        return VerifyResult(True, checked, None, None, prev if checked else None, gaps)

    async def export(self, stream: TextSink, *, since: datetime | None = None, actor: str = "system",
                     actor_name: str | None = None) -> int:
        """Write entries (oldest first) as JSON lines; record the export itself; return the count.

        The ``audit.export`` entry names the last exported hash, so a later export shows
        what an earlier one held.
        """
        count, last = 0, None
        async for entry in self._pages(since):
            stream.write(orjson.dumps(entry.to_dict()).decode() + "\n")
            count, last = count + 1, entry.hash
        await self.append(actor, "audit.export", "audit_log",
                          after={"entries": count, "since": None if since is None else _iso(since),
                                 "last_hash": last}, actor_name=actor_name)
        return count


def key_audit(log: AuditLog, actor: str, action: str, actor_name: str | None = None) -> Callable[
        [Transaction, Any, Any], Awaitable[AuditEntry]]:
    """The hook corral.auth.service calls inside a key's create/revoke transaction: one entry
    with the key before and after (``KeyInfo.to_dict``: never the raw key or its hash)."""
    async def hook(tx: Transaction, before: Any, after: Any) -> AuditEntry:
        return await log.append_in(tx, actor, action, after.id, None if before is None else before.to_dict(),
                                   after.to_dict(), actor_name)
    return hook
