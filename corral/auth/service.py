"""API key lifecycle (create / list / revoke / verify / bootstrap) over ``api_keys``.

Raw keys exist only in the return value of :meth:`KeyService.create` and
:meth:`KeyService.ensure_bootstrap_keys`; they are never stored or logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, bindparam, func, or_, select, update

from corral.auth.keys import (
    SCOPE_ADMIN,
    SCOPE_INFERENCE,
    KeyInfo,
    decode_scopes,
    display_prefix,
    encode_scopes,
    generate_key,
    generate_key_id,
    hash_key,
    looks_like_key,
    normalize_label,
    normalize_scopes,
)
from corral.store.db import Database, Transaction
from corral.store.schema import api_keys, utcnow

log = logging.getLogger(__name__)

BOOTSTRAP_LOCK = "corral.auth.bootstrap"
#: Records a key change inside its transaction: ``(tx, before, after)`` (corral.governance.audit
#: supplies it; the auth layer does not import governance).
AuditHook = Callable[[Transaction, "KeyInfo | None", "KeyInfo"], Awaitable[object]]


class KeyNotFoundError(LookupError):
    """No key matches the given id or prefix."""


class AmbiguousKeyError(ValueError):
    """A display prefix matches several keys; use the key id."""


@dataclass(frozen=True)
class BootstrapKeys:
    """Keys created on first start; print the raw keys once, they are not recoverable."""

    admin_key: str = field(repr=False)
    admin: KeyInfo
    default_key: str = field(repr=False)
    default: KeyInfo


def _row_to_info(row: Mapping[Any, Any]) -> KeyInfo:  # a RowMapping, or a dict made from one
    return KeyInfo(
        id=row["id"],
        name=row["name"],
        team=row["team"],
        scopes=decode_scopes(row["scopes"]),
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked=row["revoked_at"] is not None,
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        created_by=row["created_by"],
    )


class KeyService:
    """Key management and request-path verification.

    ``verify`` caches successful lookups in memory for ``cache_ttl_s``
    (default 1 s) so the hot path usually costs one SHA-256 and a dict hit.
    Trade-off: revoking through *this* instance takes effect immediately (the
    entry is dropped at once), but a revocation made by another process or
    replica is seen here only after the cached entry expires — at most
    ``cache_ttl_s`` later. Set ``cache_ttl_s=0`` to disable caching. Failed
    lookups are not cached, so a key created elsewhere works immediately.
    While the database is unreachable, a key verified within ``stale_if_error_s``
    keeps working from its expired entry (a revocation cannot be written then
    anyway), so a database outage does not turn into an authentication outage.

    ``last_used_at`` is batched: ``verify`` records use in memory and a
    background flush writes it at most every ``touch_interval_s`` seconds
    (and on :meth:`aclose`), so verification never waits on a write.
    """

    def __init__(
        self,
        db: Database,
        *,
        cache_ttl_s: float = 1.0,
        cache_max_entries: int = 10_000,
        stale_if_error_s: float = 900.0,
        touch_interval_s: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.cache_ttl_s = cache_ttl_s
        self.cache_max_entries = cache_max_entries
        self.stale_if_error_s = stale_if_error_s
        self._stale_warned = -30.0
        self.touch_interval_s = touch_interval_s
        self._clock = clock
        self._cache: OrderedDict[str, tuple[KeyInfo, float]] = OrderedDict()
        self._epoch = 0  # bumped on every local revoke; stale lookups must not re-cache
        self._pending_touch: dict[str, datetime] = {}
        self._last_flush = clock()
        self._flush_task: asyncio.Task[int] | None = None

    # -- management -------------------------------------------------------

    async def create(
        self,
        name: str,
        team: str = "default",
        scopes: Iterable[str] = (SCOPE_INFERENCE,),
        created_by: str | None = None,
        audit: AuditHook | None = None,
    ) -> tuple[str, KeyInfo]:
        """Create a key; returns the raw key (show it once) and its info.

        ``audit(tx, None, info)`` runs in the same transaction, so a key never exists without
        its audit entry (nor an entry without its key)."""
        async with self.db.transaction() as tx:
            raw, info = await self._insert(tx, name, team, scopes, created_by)
            if audit is not None:
                await audit(tx, None, info)
            return raw, info

    async def _insert(
        self,
        tx: Transaction,
        name: str,
        team: str,
        scopes: Iterable[str],
        created_by: str | None,
    ) -> tuple[str, KeyInfo]:
        name, team = normalize_label("name", name), normalize_label("team", team)
        scope_set = normalize_scopes(scopes)
        raw = generate_key()
        info = KeyInfo(
            id=generate_key_id(),
            name=name,
            team=team,
            scopes=scope_set,
            prefix=display_prefix(raw),
            created_at=utcnow(),
            created_by=created_by,
        )
        await tx.execute(
            api_keys.insert().values(
                id=info.id,
                name=info.name,
                team=info.team,
                scopes=encode_scopes(scope_set),
                prefix=info.prefix,
                hash=hash_key(raw),
                created_at=info.created_at,
                created_by=created_by,
            )
        )
        log.info(
            "created API key %s (%s) name=%r team=%r scopes=%s",
            info.id,
            info.prefix,
            info.name,
            info.team,
            sorted(scope_set),
        )
        return raw, info

    async def list(self, include_revoked: bool = False) -> list[KeyInfo]:
        stmt = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            stmt = stmt.where(api_keys.c.revoked_at.is_(None))
        return [_row_to_info(r) for r in await self.db.fetch_all(stmt)]

    async def _find(self, tx: Transaction, key_ref: str) -> RowMapping:
        ref = key_ref.strip()
        if looks_like_key(ref):  # someone pasted the full key: match its hash
            cond = api_keys.c.hash == hash_key(ref)
        else:
            cond = or_(api_keys.c.id == ref, api_keys.c.prefix == ref)
        rows = await tx.fetch_all(select(api_keys).where(cond))
        if not rows:
            raise KeyNotFoundError(
                f"no API key matches {display_prefix(ref) if looks_like_key(ref) else ref!r}"
            )
        by_id = [r for r in rows if r["id"] == ref]
        if by_id:
            return by_id[0]
        if len(rows) > 1:
            raise AmbiguousKeyError(f"{ref!r} matches {len(rows)} keys; use the key id")
        return rows[0]

    async def get(self, key_ref: str) -> KeyInfo:
        """Look up by id, display prefix or raw key. Raises :class:`KeyNotFoundError`."""
        async with self.db.transaction(readonly=True) as tx:
            return _row_to_info(await self._find(tx, key_ref))

    async def revoke(self, key_ref: str, audit: AuditHook | None = None) -> KeyInfo:
        """Revoke by id or display prefix; effective immediately in this process.

        Idempotent: revoking a revoked key returns it unchanged. ``audit(tx, before, after)``
        runs in the revoking transaction.
        Raises :class:`KeyNotFoundError` or :class:`AmbiguousKeyError`.
        """
        async with self.db.transaction() as tx:
            row: Mapping[Any, Any] = await self._find(tx, key_ref)
            before = _row_to_info(row)
            if row["revoked_at"] is None:
                now = utcnow()
                await tx.execute(
                    update(api_keys)
                    .where(api_keys.c.id == row["id"], api_keys.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                row = {**row, "revoked_at": now}
            if audit is not None:
                await audit(tx, before, _row_to_info(row))
        self._epoch += 1
        self._cache.pop(row["hash"], None)
        log.info("revoked API key %s (%s)", row["id"], row["prefix"])
        return _row_to_info(row)

    async def ensure_bootstrap_keys(self) -> BootstrapKeys | None:
        """On a database that has never had a key, create ``admin`` + ``default``.

        Returns the raw keys for the server to print once, or None if any key
        (even a revoked one) already exists — so restarts and concurrent
        replicas never mint extra admin keys.
        """
        async with self.db.transaction() as tx:
            await tx.lock(BOOTSTRAP_LOCK)
            if await tx.fetch_val(select(func.count()).select_from(api_keys)):
                return None
            admin_raw, admin = await self._insert(tx, "admin", "default", {SCOPE_ADMIN}, "bootstrap")
            default_raw, default = await self._insert(
                tx, "default", "default", {SCOPE_INFERENCE}, "bootstrap"
            )
        return BootstrapKeys(admin_key=admin_raw, admin=admin, default_key=default_raw, default=default)

    # -- request path -----------------------------------------------------

    async def verify(self, raw_key: str) -> KeyInfo | None:
        """Return the key's info if it is valid and not revoked, else None.

        Lookup is by SHA-256 of the presented key, so no secret-dependent
        string comparison happens (timing-safe by construction).
        """
        if not looks_like_key(raw_key):
            return None
        digest = hash_key(raw_key)
        now = self._clock()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            self.touch_last_used(hit[0].id)
            return hit[0]
        epoch = self._epoch
        try:
            row = await self.db.fetch_one(select(api_keys).where(api_keys.c.hash == digest))
        except Exception:
            if hit is None or now - hit[1] > self.stale_if_error_s or self._cache.get(digest) is not hit:
                raise
            self._warn_stale()
            return hit[0]  # the database is down: a key verified before the outage keeps working
        if row is None or row["revoked_at"] is not None or not hmac.compare_digest(row["hash"], digest):
            self._cache.pop(digest, None)
            return None
        info = _row_to_info(row)
        if self.cache_ttl_s > 0 and epoch == self._epoch:
            self._cache[digest] = (info, self._clock() + self.cache_ttl_s)
            while len(self._cache) > self.cache_max_entries:
                self._cache.popitem(last=False)
        self.touch_last_used(info.id)
        return info

    def _warn_stale(self) -> None:
        if self._clock() - self._stale_warned >= 30:
            self._stale_warned = self._clock()
            log.warning("database unreachable: serving keys verified before the outage (at most %.0f s)",
                        self.stale_if_error_s)

    def invalidate_cache(self) -> None:
        """Forget all cached verifications (e.g. after an out-of-band change)."""
        self._epoch += 1
        self._cache.clear()

    def touch_last_used(self, key_id: str) -> None:
        """Record a use in memory; a background flush persists it (cheap on the hot path)."""
        self._pending_touch[key_id] = utcnow()
        if (
            self.touch_interval_s is not None
            and self._clock() - self._last_flush >= self.touch_interval_s
            and (self._flush_task is None or self._flush_task.done())
        ):
            self._last_flush = self._clock()
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> int:
        try:
            return await self.flush_last_used()
        except Exception:  # a failed bookkeeping write must not break requests
            log.warning("could not persist API key last_used_at", exc_info=True)
            return 0

    async def flush_last_used(self) -> int:
        """Write pending ``last_used_at`` values in one transaction; returns keys updated."""
        pending, self._pending_touch = self._pending_touch, {}
        self._last_flush = self._clock()
        if not pending:
            return 0
        stmt = (
            update(api_keys)
            .where(api_keys.c.id == bindparam("b_id"))
            .where(
                or_(
                    api_keys.c.last_used_at.is_(None),
                    api_keys.c.last_used_at < bindparam("b_ts"),
                )
            )
            .values(last_used_at=bindparam("b_ts"))
        )
        try:
            await self.db.execute(stmt, [{"b_id": k, "b_ts": ts} for k, ts in pending.items()])
        except BaseException:
            for k, ts in pending.items():  # keep them for the next attempt
                self._pending_touch.setdefault(k, ts)
            raise
        return len(pending)

    async def aclose(self) -> None:
        """Wait for a running flush and persist remaining ``last_used_at`` values."""
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
            self._flush_task = None
        await self._flush_quietly()
