"""KeyService on every backend: create/verify/revoke, caching, bootstrap, at-rest hashing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select, update

from corral.auth import (
    AmbiguousKeyError,
    KeyNotFoundError,
    KeyService,
    hash_key,
)
from corral.store import Database
from corral.store.schema import api_keys


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_create_and_verify(migrated_db: Database) -> None:
    svc = KeyService(migrated_db)
    raw, info = await svc.create("app", "team-a", ["inference", "admin"], created_by="alice")
    assert raw.startswith("sk-corral-") and raw.startswith(info.prefix)
    assert info.scopes == {"inference", "admin"} and info.team == "team-a"
    got = await svc.verify(raw)
    assert got is not None and got.id == info.id and got.created_by == "alice"
    assert got.created_at == info.created_at.replace(microsecond=got.created_at.microsecond)
    assert await svc.verify(raw[:-1] + ("a" if raw[-1] != "a" else "b")) is None
    assert await svc.verify("not a key") is None
    assert await svc.verify("") is None


@pytest.mark.asyncio
async def test_create_validates(migrated_db: Database) -> None:
    svc = KeyService(migrated_db)
    with pytest.raises(ValueError, match="unknown role"):
        await svc.create("x", "t", ["superuser"])
    with pytest.raises(ValueError, match="empty"):
        await svc.create(" ", "t")
    assert await svc.list(include_revoked=True) == []


@pytest.mark.asyncio
async def test_revoked_key_fails_verify_immediately_in_process(migrated_db: Database) -> None:
    svc = KeyService(migrated_db, cache_ttl_s=60)
    raw, info = await svc.create("app")
    assert await svc.verify(raw) is not None  # now cached for 60 s
    revoked = await svc.revoke(info.id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert await svc.verify(raw) is None
    assert (await svc.revoke(info.id)).revoked_at == revoked.revoked_at  # idempotent


@pytest.mark.asyncio
async def test_revocation_from_another_replica_within_cache_ttl(migrated_db: Database) -> None:
    clock = FakeClock()
    replica_a = KeyService(migrated_db, cache_ttl_s=1.0, clock=clock)
    replica_b = KeyService(migrated_db)
    raw, info = await replica_b.create("app")
    assert await replica_a.verify(raw) is not None
    await replica_b.revoke(info.prefix)
    clock.now += 0.5
    assert await replica_a.verify(raw) is not None  # documented trade-off: stale ≤ TTL
    clock.now += 0.6
    assert await replica_a.verify(raw) is None
    uncached = KeyService(migrated_db, cache_ttl_s=0)
    assert await uncached.verify(raw) is None


class _Down:
    """A database that no longer answers (an outage)."""

    async def fetch_one(self, *_: object) -> None:
        raise ConnectionRefusedError("database down")


@pytest.mark.asyncio
async def test_keys_verified_before_a_database_outage_keep_working_during_it(migrated_db: Database) -> None:
    clock = FakeClock()
    svc = KeyService(migrated_db, cache_ttl_s=1.0, stale_if_error_s=60, clock=clock)
    raw, _ = await svc.create("app")
    never_seen, _ = await svc.create("other")
    assert await svc.verify(raw) is not None
    svc.db = _Down()  # type: ignore[assignment]
    clock.now += 30  # the cache entry expired long ago: only the outage keeps it
    assert await svc.verify(raw) is not None
    with pytest.raises(ConnectionRefusedError):  # a key not verified before the outage: no answer
        await svc.verify(never_seen)
    clock.now += 32  # past stale_if_error_s (counted from the entry's expiry)
    with pytest.raises(ConnectionRefusedError):
        await svc.verify(raw)


@pytest.mark.asyncio
async def test_revoke_during_inflight_verify_is_not_recached(
    migrated_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = KeyService(migrated_db, cache_ttl_s=60)
    raw, info = await svc.create("app")
    original = migrated_db.fetch_one

    async def racing(stmt, params=None):  # type: ignore[no-untyped-def]
        row = await original(stmt, params)
        await svc.revoke(info.id)  # lands while verify awaits the database
        return row

    monkeypatch.setattr(migrated_db, "fetch_one", racing)
    await svc.verify(raw)
    monkeypatch.undo()
    assert await svc.verify(raw) is None


@pytest.mark.asyncio
async def test_revoke_lookup_by_prefix_raw_key_and_errors(migrated_db: Database) -> None:
    svc = KeyService(migrated_db)
    raw1, k1 = await svc.create("one")
    raw2, k2 = await svc.create("two")
    assert (await svc.revoke(raw1)).id == k1.id  # a pasted raw key works too
    with pytest.raises(KeyNotFoundError):
        await svc.revoke("key_doesnotexist")
    await migrated_db.execute(update(api_keys).values(prefix="sk-corral-SAME00"))
    with pytest.raises(AmbiguousKeyError):
        await svc.revoke("sk-corral-SAME00")
    assert (await svc.revoke(k2.id)).revoked
    assert await svc.verify(raw2) is None


@pytest.mark.asyncio
async def test_list_and_get(migrated_db: Database) -> None:
    svc = KeyService(migrated_db)
    _, a = await svc.create("a")
    _, b = await svc.create("b", "t2", ["admin"])
    await svc.revoke(a.id)
    assert [k.id for k in await svc.list()] == [b.id]
    listed = await svc.list(include_revoked=True)
    assert {k.id: k.revoked for k in listed} == {a.id: True, b.id: False}
    assert (await svc.get(b.prefix)).scopes == {"admin"}


@pytest.mark.asyncio
async def test_only_hashes_at_rest(migrated_db: Database, backend: str, tmp_path: Path) -> None:
    svc = KeyService(migrated_db)
    raws = [(await svc.create(f"k{i}"))[0] for i in range(3)]
    boot = await svc.ensure_bootstrap_keys()
    assert boot is None  # keys already exist
    rows = await migrated_db.fetch_all(select(api_keys))
    dump = "\n".join(str(v) for row in rows for v in row.values())
    for raw in raws:
        assert raw not in dump
        assert raw[len("sk-corral-") :] not in dump  # not even the random part
        assert hash_key(raw) in dump
    if backend == "sqlite":
        await migrated_db.close()  # checkpoint WAL, then scan the raw files
        blob = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("corral.db*")))  # noqa: ASYNC240
        for raw in raws:
            assert raw.encode() not in blob
            assert raw[len("sk-corral-") :].encode() not in blob


@pytest.mark.asyncio
async def test_bootstrap_creates_keys_once(migrated_db: Database) -> None:
    svc = KeyService(migrated_db)
    boot = await svc.ensure_bootstrap_keys()
    assert boot is not None
    assert boot.admin_key not in repr(boot) and boot.default_key not in repr(boot)
    assert boot.admin.name == "admin" and boot.admin.scopes == {"admin"}
    assert boot.default.name == "default" and boot.default.team == "default"
    assert boot.default.scopes == {"inference"}
    assert (await svc.verify(boot.admin_key)).is_admin  # type: ignore[union-attr]
    assert (await svc.verify(boot.default_key)).has_scope("inference")  # type: ignore[union-attr]
    assert await svc.ensure_bootstrap_keys() is None
    for k in await svc.list():
        await svc.revoke(k.id)
    assert await svc.ensure_bootstrap_keys() is None  # revoked keys still count
    assert len(await svc.list(include_revoked=True)) == 2


@pytest.mark.asyncio
async def test_concurrent_bootstrap_from_several_replicas(migrated_db: Database) -> None:
    replicas = [await Database.connect(migrated_db.url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(KeyService(d).ensure_bootstrap_keys() for d in replicas))
    finally:
        for d in replicas:
            await d.close()
    assert sum(r is not None for r in results) == 1
    assert len(await KeyService(migrated_db).list(include_revoked=True)) == 2


@pytest.mark.asyncio
async def test_last_used_is_batched(migrated_db: Database) -> None:
    svc = KeyService(migrated_db, touch_interval_s=None)
    raw, info = await svc.create("app")
    await svc.verify(raw)
    await svc.verify(raw)
    assert (await svc.get(info.id)).last_used_at is None  # nothing written on the hot path
    assert await svc.flush_last_used() == 1
    assert await svc.flush_last_used() == 0
    assert (await svc.get(info.id)).last_used_at is not None


@pytest.mark.asyncio
async def test_last_used_background_flush(migrated_db: Database) -> None:
    svc = KeyService(migrated_db, touch_interval_s=0)
    raw, info = await svc.create("app")
    await svc.verify(raw)
    await svc.aclose()
    assert (await svc.get(info.id)).last_used_at is not None


@pytest.mark.asyncio
async def test_cache_is_bounded(migrated_db: Database) -> None:
    svc = KeyService(migrated_db, cache_max_entries=2)
    raws = [(await svc.create(f"k{i}"))[0] for i in range(4)]
    for raw in raws:
        assert await svc.verify(raw) is not None
    assert len(svc._cache) == 2
    svc.invalidate_cache()
    assert not svc._cache
