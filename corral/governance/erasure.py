"""Erasure: delete (or anonymise) an end user's, a key's or a request's data, with a receipt.

Driven by the data map (corral.governance.datamap): for each table entry, a row belongs to the
subject when the entry's column for that kind matches (``end_user``, ``key_id``, ``request_id``)
or when a ``via`` path leads to a row that belongs (``file_id -> files.id``). A new table added
to the map with its columns or ``via`` is erased without touching this module. What the map's
columns cannot say is written here, in ``_RULES``: the ids that name the same request
(``req_X`` is the stored response and its job ``resp_X``, and feedback sent by ``chatcmpl-X`` or
``resp_X``), and chunks left with no reference once a file's references are gone.

Tables are cleared children first (a row is matched while the rows it leads to still exist),
all in one transaction that also appends the ``erasure`` entry to the audit log, so the receipt
is logged exactly when the deletes commit. Exceptions, each named in the receipt:

- ``audit_log`` is exempt: append-only and hash-chained; it keeps key ids, never personal data.
- ``api_keys`` (erasing a key) is anonymised, not deleted: the audit log refers to its id. It is
  revoked, its name becomes ``erased``, its creator and last use are cleared.
- ``golden_examples`` belong to routes, written by operators: never matched.
- Dialect-only tables (SQLite's ``kb_chunks_fts``) follow their table by trigger.

The disk spool (``<home>/spool``) is rewritten without the subject's records before the
transaction, segment by segment, atomically; segments a live process holds are left and named,
except the calling process's own (``live_spool``: its record sink rewrites them). The caches
(``cache``: the exact cache in Redis or this process's memory, and this process's semantic
index) are cleared by owner tags (corral.governance.erasure_cache). Stores out of reach (other
processes' memory, index files, provider copies) are listed under ``not_erased`` with what to
do. Running it again finds nothing: zero counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, String, Table, delete, func, literal, or_, select, update

from corral.governance.audit import AuditLog
from corral.governance.datamap import DATA_MAP, DataStore
from corral.governance.erasure_cache import OwnedCache, cache_limits, erase_cache
from corral.governance.erasure_spool import LiveSpool, SpoolResult, erase_spools
from corral.store.db import Database, Transaction
from corral.store.json_field import json_text
from corral.store.schema import metadata

__all__ = ["KINDS", "NOT_ERASED", "Receipt", "StoreResult", "erase", "plan_order"]

Kind = Literal["user", "key", "request"]
KINDS: tuple[Kind, ...] = ("user", "key", "request")
_SPOOL_COLUMN: dict[Kind, str] = {"user": "end_user", "key": "key_id", "request": "request_id"}
Condition = ColumnElement[bool]

EXEMPT = {
    "audit_log": "append-only and hash-chained: never deleted or edited; it keeps key ids and "
                 "Corral ids, not personal data (an erased user appears only as a sha256)",
    "golden_examples": "operators' curated examples per route, with no key, user or request: "
                       "review questions copied from real traffic by hand (corral golden)",
}
# Tables whose rows must stay: the values a matched row is anonymised with.
ANONYMISE: dict[str, Callable[[], dict[str, Any]]] = {
    "api_keys": lambda: {"name": "erased", "created_by": None, "last_used_at": None},
}
# Stores no transaction reaches: why, and what to do for now.
NOT_ERASED: dict[str, str] = {
    "record_queue": "records in a process's queue are written within flush_interval_s: run the "
                    "erasure again a few seconds later",
    "quality_scorer_memory": "queued records and rolling scores live in each process: gone at restart",
    "auth_key_cache": "verified keys live 1 s (server.auth_cache_ttl_s): the key stops working within it",
    "kb_vector_files": "embedded HNSW index files still hold the vectors of deleted chunks: delete "
                       "<home>/knowledge/<uid>.usearch of removed stores (it is rebuilt from kb_chunks)",
    "kb_vector_graphs": "loaded graphs in each process: reconciled when the store's generation "
                        "moves, or restart",
    "knowledge_memos": "memoised chunk texts in each process: cleared at restart",
    "rate_limit_meters": "counter names hold key ids and names, no personal data: they expire "
                         "within minutes (windows) or a day after their period",
    "breaker_state": "no personal data (deployments only)",
    "retry_budgets": "no personal data (routes only)",
    "database_files": "deleted rows can outlive the delete in free pages and the WAL (SQLite) or as "
                      "dead tuples (PostgreSQL): run VACUUM (SQLite, after PRAGMA wal_checkpoint"
                      "(TRUNCATE)) or VACUUM FULL (PostgreSQL); see docs/erasure.md",
    "provider_batch_files": "native batches uploaded their lines to the provider's files API: "
                            "delete them there, before erasing the key (its batches name them)",
}


@dataclass(frozen=True, slots=True)
class StoreResult:
    store: str
    action: Literal["deleted", "anonymised", "rewritten", "exempt", "not searchable", "follows"]
    count: int = 0
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "action": self.action, "count": self.count, "note": self.note}


@dataclass(slots=True)
class Receipt:
    """What an erasure did. ``to_dict(audit=True)`` is what the audit log keeps: a user id
    only as its sha256 (``value_sha256``), key and request ids as they are."""

    kind: Kind
    value: str
    actor: str
    actor_name: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    stores: list[StoreResult] = field(default_factory=list)
    not_erased: list[dict[str, str]] = field(default_factory=list)
    audit_id: int | None = None

    @property
    def value_sha256(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()

    @property
    def target(self) -> str:
        return f"user:sha256:{self.value_sha256}" if self.kind == "user" else f"{self.kind}:{self.value}"

    def counts(self, action: str | None = None) -> dict[str, int]:
        return {s.store: s.count for s in self.stores if action is None or s.action == action}

    @property
    def total(self) -> int:
        return sum(s.count for s in self.stores if s.action in ("deleted", "anonymised", "rewritten"))

    def to_dict(self, *, audit: bool = False) -> dict[str, Any]:
        return {
            "object": "erasure.receipt", "kind": self.kind,
            "value": None if audit and self.kind == "user" else self.value,
            "value_sha256": self.value_sha256, "actor": self.actor, "actor_name": self.actor_name,
            "started_at": self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "deleted": self.counts("deleted"), "anonymised": self.counts("anonymised"),
            "spool": self.counts("rewritten"), "total": self.total,
            "stores": [s.to_dict() for s in self.stores], "not_erased": self.not_erased,
            "audit_id": self.audit_id,
        }


_ENTRIES = {s.name: s for s in DATA_MAP if s.kind == "table"}


def _via(path: str) -> tuple[str, str, str]:
    column, _, target = path.partition(" -> ")
    table, _, target_column = target.partition(".")
    return column, table, target_column


def _mapped_ids(owned_requests: Condition, prefixes: tuple[str, ...]) -> Select[Any]:
    """``req_X`` of the matched requests as ``<prefix>X`` (resp_X, chatcmpl-X)."""
    req = metadata.tables["requests"]
    parts = [select(literal(p, String).concat(func.substr(req.c.request_id, 5))).where(owned_requests,
             req.c.request_id.like("req\\_%", escape="\\")) for p in prefixes]
    return parts[0] if len(parts) == 1 else parts[0].union_all(*parts[1:])  # type: ignore[return-value]


# Ownership the map's columns cannot express: table -> (tables it reads, condition builder).
Rule = Callable[[Table, Callable[[str], Condition | None]], Condition | None]


def _by_request_id(column: str, prefixes: tuple[str, ...]) -> Rule:
    def rule(table: Table, owned: Callable[[str], Condition | None]) -> Condition | None:
        requests = owned("requests")
        return None if requests is None else table.c[column].in_(_mapped_ids(requests, prefixes))
    return rule


_RULES: dict[str, tuple[tuple[str, ...], Rule]] = {
    "responses": (("requests",), _by_request_id("id", ("resp_",))),
    "jobs": (("requests",), _by_request_id("id", ("resp_",))),
    "feedback": (("requests",), _by_request_id("response_id", ("chatcmpl-", "resp_"))),
}


# End-user fields inside a JSON column: a stored response names its user (user, or the
# safety_identifier the record prefers) in its body, whether or not its request record is stored.
_USER_JSON: dict[str, tuple[str, tuple[str, ...]]] = {"responses": ("body", ("user", "safety_identifier"))}


def _in_metadata(store: DataStore) -> bool:
    return store.dialect is None and store.name in metadata.tables


def _depends(name: str) -> set[str]:
    deps = {_via(p)[1] for p in _ENTRIES[name].via} | set(_RULES.get(name, ((), None))[0])
    return {d for d in deps if d in _ENTRIES and _in_metadata(_ENTRIES[d]) and d != name}


def plan_order() -> list[str]:
    """Metadata tables of the map, each before every table its matching reads (children first)."""
    names = [s.name for s in DATA_MAP if s.kind == "table" and _in_metadata(s)]
    dependents = {n: [m for m in names if n in _depends(m)] for n in names}
    order: list[str] = []

    def visit(name: str, stack: frozenset[str]) -> None:
        if name in order or name in stack:
            return
        for child in dependents[name]:
            visit(child, stack | {name})
        order.append(name)

    for name in names:
        visit(name, frozenset())
    return order


class _Matcher:
    """Builds, per table, the condition for "this row belongs to the subject"."""

    def __init__(self, kind: Kind, value: str) -> None:
        self.kind, self.value = kind, value
        self._memo: dict[str, Condition | None] = {}

    def owned(self, name: str, stack: frozenset[str] = frozenset()) -> Condition | None:
        if name in self._memo:
            return self._memo[name]
        if name in stack or name not in _ENTRIES or name in EXEMPT:
            return None
        entry, table = _ENTRIES[name], metadata.tables[name]
        conds: list[Condition] = []
        if column := entry.columns().get(self.kind):
            conds.append(table.c[column] == self.value)
        for path in entry.via:
            column, target, target_column = _via(path)
            sub = self.owned(target, stack | {name}) if target in metadata.tables else None
            if sub is not None:
                leads_to = metadata.tables[target].c[target_column]
                conds.append(table.c[column].in_(select(leads_to).where(sub, leads_to.is_not(None))))
        if name in _RULES:
            extra = _RULES[name][1](table, lambda t: self.owned(t, stack | {name}))
            conds += [] if extra is None else [extra]
        if self.kind == "user" and name in _USER_JSON:  # the end user named only inside a JSON body
            column, fields = _USER_JSON[name]
            conds += [json_text(table.c[column], f) == self.value for f in fields]
        self._memo[name] = result = or_(*conds) if conds else None
        return result


def _count(result: Any) -> int:
    return max(int(result.rowcount or 0), 0)


async def _orphan_chunks(tx: Transaction, seqs: list[int]) -> int:
    """Chunks whose last reference was erased (a text two files share is kept while one refers)."""
    chunks, refs = metadata.tables["kb_chunks"], metadata.tables["kb_chunk_refs"]
    count = 0
    for i in range(0, len(seqs), 500):
        result = await tx.execute(delete(chunks).where(
            chunks.c.seq.in_(seqs[i:i + 500]), ~chunks.c.seq.in_(select(refs.c.seq))))
        count += _count(result)
    return count


async def _erase_tables(tx: Transaction, matcher: _Matcher, receipt: Receipt) -> None:
    refs = metadata.tables["kb_chunk_refs"]
    ref_cond = matcher.owned("kb_chunk_refs")
    seqs = [] if ref_cond is None else list(await tx.fetch_all(select(refs.c.seq).where(ref_cond).distinct()))
    results: dict[str, StoreResult] = {}
    for name in plan_order():
        cond = matcher.owned(name)
        if name in EXEMPT:
            results[name] = StoreResult(name, "exempt", 0, EXEMPT[name])
        elif cond is None:
            results[name] = StoreResult(name, "not searchable", 0,
                                        f"no {matcher.kind} column or via path in the data map")
        elif name in ANONYMISE:
            table, values = metadata.tables[name], ANONYMISE[name]()
            pending = or_(*(table.c[c].is_distinct_from(v) for c, v in values.items()))  # not yet: idempotent
            result = await tx.execute(update(table).where(cond, pending).values(**values))
            results[name] = StoreResult(name, "anonymised", _count(result), _ANON_NOTES.get(name))
        else:
            result = await tx.execute(delete(metadata.tables[name]).where(cond))
            results[name] = StoreResult(name, "deleted", _count(result))
    if seqs and "kb_chunks" in results:
        extra = await _orphan_chunks(tx, [r["seq"] for r in seqs])
        before = results["kb_chunks"]
        results["kb_chunks"] = StoreResult("kb_chunks", "deleted", before.count + extra,
                                           f"{extra} left with no reference by another file")
    for store in DATA_MAP:  # map order in the receipt
        if store.name in results:
            receipt.stores.append(results[store.name])
        elif store.kind == "table":
            receipt.stores.append(StoreResult(store.name, "follows", 0, f"{store.dialect} only: kept in step "
                                              "with its table by triggers"))


_ANON_NOTES = {"api_keys": "kept for the audit log's references: revoked, name 'erased', creator and "
                           "last use cleared"}


async def _revoke(tx: Transaction, matcher: _Matcher) -> None:
    """Anonymised keys are revoked too (an erased key must stop working)."""
    keys = metadata.tables["api_keys"]
    cond = matcher.owned("api_keys")
    if cond is not None:
        now = datetime.now(UTC)
        await tx.execute(update(keys).where(cond, keys.c.revoked_at.is_(None)).values(revoked_at=now))


def _not_erased(kind: Kind, spool: SpoolResult | None, caches: dict[str, str]) -> list[dict[str, str]]:
    out = [{"store": name, "reason": why} for name, why in {**NOT_ERASED, **caches}.items()
           if name != "provider_batch_files" or kind == "key"]
    if spool is None:
        out.insert(0, {"store": "request_spool", "reason": "no home directory given: rewrite the "
                       "spool with `corral erase` on the gateway's host (or pass home)"})
    elif spool.held:
        out.insert(0, {"store": "request_spool", "reason": f"{len(spool.held)} segment(s) held by a live "
                       "process (it is replaying them): run the erasure again once the database has them"})
    return out


def _subject(user: str | None, key: str | None, request: str | None) -> tuple[Kind, str]:
    given = [(k, v) for k, v in (("user", user), ("key", key), ("request", request)) if v is not None]
    if len(given) != 1:
        raise ValueError("name exactly one subject to erase: user, key or request")
    kind, value = given[0]
    if not value.strip() or len(value) > 1000:
        raise ValueError(f"the {kind} to erase must be a non-empty string of at most 1,000 characters")
    return kind, value  # type: ignore[return-value]


async def erase(db: Database, *, user: str | None = None, key: str | None = None,
                request: str | None = None, actor: str, actor_name: str | None = None,
                home: Path | None = None, cache: OwnedCache | None = None,
                live_spool: LiveSpool | None = None) -> Receipt:
    """Erase one subject everywhere the data map reaches; log and return the receipt. ``cache``
    and ``live_spool``: the caches and record sink of the process this runs in (the gateway's)."""
    kind, value = _subject(user, key, request)
    receipt = Receipt(kind, value, actor, actor_name)
    column = _SPOOL_COLUMN[kind]
    spool = None if home is None else await erase_spools(home / "spool", column, value, live_spool)
    if spool is not None:
        receipt.stores.append(StoreResult("request_spool", "rewritten", spool.removed,
                                          f"{spool.files} segment file(s) rewritten"))
    caches, failure = await erase_cache(cache, kind, value)  # before the transaction: it is logged
    receipt.stores += [StoreResult(name, "deleted", n, "entries filed under the owner's tag")
                       for name, n in caches.items()]
    matcher = _Matcher(kind, value)
    async with db.transaction() as tx:
        if db.dialect == "sqlite":  # overwrite deleted content in the file, not just unlink it
            await tx.execute("PRAGMA secure_delete = ON")
        if kind == "key":
            await _revoke(tx, matcher)
        await _erase_tables(tx, matcher, receipt)
        if db.dialect == "sqlite":  # pages were zeroed at delete time: back to the default
            await tx.execute("PRAGMA secure_delete = OFF")
        receipt.not_erased = _not_erased(kind, spool, cache_limits(caches, failure))
        receipt.finished_at = datetime.now(UTC)
        entry = await AuditLog(db).append_in(tx, actor, "erasure", receipt.target,
                                             after=receipt.to_dict(audit=True), actor_name=actor_name)
        receipt.audit_id = entry.id
    return receipt
