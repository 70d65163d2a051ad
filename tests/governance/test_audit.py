"""The hash-chained audit log (issue 13, item 4) on SQLite and PostgreSQL: the chain, its
serialised appends, verify naming the tampered entry, export, the CLI, and the admin API."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from corral.api.app import create_app
from corral.auth.cli import keys
from corral.governance.audit import GENESIS_HASH, AuditEntry, AuditLog, entry_hash
from corral.governance.audit_cli import audit
from corral.store import Database, migrate
from corral.store.testing import run_sync
from tests.conftest import RunningServer, database_on, fake_settings, serve_in_thread


async def _fill(log: AuditLog, n: int) -> list[AuditEntry]:
    return [await log.append("key_admin", "key.create", f"key_{i}", after={"i": i}, actor_name="ops")
            for i in range(n)]


async def test_appends_chain_and_read_back(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    first = await log.append("system", "config.load", "corral.yaml", after={"sha256": "ab", "source": "x"})
    later = await _fill(log, 3)
    assert first.prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in later] == [first.hash, later[0].hash, later[1].hash]
    assert len({first.hash, *(e.hash for e in later)}) == 4
    stored = await log.entries()
    assert [e.id for e in stored] == [later[2].id, later[1].id, later[0].id, first.id]  # newest first
    assert stored[-1] == first  # what was hashed is what was stored, `at` to the microsecond
    assert stored[-1].computed_hash() == first.hash
    assert [e.target for e in await log.entries(action="key.create", limit=2)] == ["key_2", "key_1"]
    assert await log.entries(since=later[2].at) == [later[2]]
    assert stored[0].to_dict()["after"] == {"i": 2} and stored[0].actor_name == "ops"
    result = await log.verify()
    assert result.ok and result.checked == 4 and result.last_hash == later[2].hash
    assert result.describe() == "4 entries, chain intact"


async def test_the_hash_covers_every_field(migrated_db: Database) -> None:
    entry = await AuditLog(migrated_db).append("a", "key.revoke", "t", before={"x": 1}, after={"x": 2})
    fields = [entry.prev_hash, entry.at, entry.actor, entry.actor_name, entry.action, entry.target,
              entry.before, entry.after]
    assert entry_hash(*fields) == entry.hash  # type: ignore[arg-type]
    for i in range(len(fields)):
        changed = list(fields)
        changed[i] = GENESIS_HASH.replace("0", "1") if i == 0 else (
            entry.at.replace(microsecond=(entry.at.microsecond + 1) % 10**6) if i == 1 else "other")
        assert entry_hash(*changed) != entry.hash, i  # type: ignore[arg-type]


async def test_fifty_concurrent_appends_never_fork(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    entries = await asyncio.gather(*(log.append("system", "test", f"t{i}") for i in range(50)))
    assert len({e.prev_hash for e in entries}) == 50  # no two entries claim the same predecessor
    result = await log.verify()
    assert result.ok and result.checked == 50, result


async def test_appends_from_two_databases_never_fork(migrated_db: Database) -> None:
    other = await Database.connect(migrated_db.url)
    try:
        logs = [AuditLog(migrated_db), AuditLog(other)]
        entries = await asyncio.gather(*(logs[i % 2].append("system", "test", f"t{i}") for i in range(40)))
    finally:
        await other.close()
    assert len({e.prev_hash for e in entries}) == 40
    result = await AuditLog(migrated_db).verify()
    assert result.ok and result.checked == 40, result


async def test_an_edited_entry_is_named(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    entries = await _fill(log, 4)
    await migrated_db.execute("UPDATE audit_log SET after = :a WHERE id = :id",
                              {"a": '{"i":99}', "id": entries[1].id})
    result = await log.verify()
    assert not result.ok and result.broken_id == entries[1].id and result.checked == 1
    assert "edited" in (result.reason or "") and result.last_hash == entries[0].hash


async def test_a_deleted_entry_is_caught_at_the_next_one(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    entries = await _fill(log, 4)
    await migrated_db.execute("DELETE FROM audit_log WHERE id = :id", {"id": entries[1].id})
    result = await log.verify()
    assert not result.ok and result.broken_id == entries[2].id
    assert "removed" in (result.reason or "") and f"entry {entries[2].id} is broken" in result.describe()


async def test_a_deleted_first_entry_and_reordering_are_caught(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    entries = await _fill(log, 3)
    await migrated_db.execute("UPDATE audit_log SET id = 1000 WHERE id = :id", {"id": entries[0].id})
    result = await log.verify()  # the old first entry now sorts last
    assert not result.ok and result.broken_id == entries[1].id and "genesis" in (result.reason or "")


async def test_the_tail_needs_an_anchor(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    entries = await _fill(log, 3)
    assert (await log.verify(anchor=entries[2].hash)).ok
    await migrated_db.execute("DELETE FROM audit_log WHERE id = :id", {"id": entries[2].id})
    assert (await log.verify()).ok  # removing the newest entry leaves a valid, shorter chain
    result = await log.verify(anchor=entries[2].hash)
    assert not result.ok and result.broken_id is None and "anchor" in result.describe()


async def test_a_rolled_back_append_leaves_no_entry_and_gaps_are_not_failures(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    first = await log.append("system", "test", "a")
    with pytest.raises(RuntimeError):
        async with migrated_db.transaction() as tx:
            await log.append_in(tx, "system", "test", "rolled back")
            raise RuntimeError("the change it recorded failed")
    second = await log.append("system", "test", "b")
    assert second.prev_hash == first.hash
    result = await log.verify()
    assert result.ok and result.checked == 2
    # PostgreSQL's sequence moved on (a gap); SQLite reuses the id.
    assert result.id_gaps == (1 if migrated_db.dialect == "postgresql" else 0)


async def test_export_writes_json_lines_and_is_itself_logged(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    entries = await _fill(log, 3)
    sink = io.StringIO()
    assert await log.export(sink, actor="cli:alice") == 3
    lines = [orjson.loads(line) for line in sink.getvalue().splitlines()]
    assert [line["hash"] for line in lines] == [e.hash for e in entries]
    assert lines[0]["after"] == {"i": 0} and lines[0]["prev_hash"] == GENESIS_HASH
    newest = (await log.entries(limit=1))[0]
    assert newest.action == "audit.export" and newest.actor == "cli:alice"
    assert newest.to_dict()["after"] == {"entries": 3, "since": None, "last_hash": entries[2].hash}
    assert (await log.verify()).checked == 4


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    yield db_url


async def _with_db(url: str, sql: str | None = None, n: int = 0) -> list[AuditEntry]:
    db = await Database.connect(url)
    try:
        await migrate(db)
        made = await _fill(AuditLog(db), n)
        if sql:
            await db.execute(sql)
        return made
    finally:
        await db.close()


def test_cli_verify_exit_codes(cli_env: str) -> None:
    runner = CliRunner()
    made = run_sync(_with_db(cli_env, n=3))
    res = runner.invoke(audit, ["verify"])
    assert res.exit_code == 0, res.output
    assert "3 entries, chain intact" in res.stdout and made[2].hash in res.stdout
    res = runner.invoke(audit, ["verify", "--anchor", "f" * 64])
    assert res.exit_code == 1 and "anchor" in res.stderr
    run_sync(_with_db(cli_env, f"UPDATE audit_log SET target = 'x' WHERE id = {made[1].id}"))
    res = runner.invoke(audit, ["verify"])
    assert res.exit_code == 1
    assert f"entry {made[1].id} is broken" in res.stderr and "edited" in res.stderr


def test_cli_export(cli_env: str, tmp_path: Path) -> None:
    runner = CliRunner()
    run_sync(_with_db(cli_env, n=2))
    out = tmp_path / "audit.jsonl"
    res = runner.invoke(audit, ["export", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == 2 and "Exported 2 entries" in res.stderr
    res = runner.invoke(audit, ["export", "--since", "1h"])
    assert res.exit_code == 0, res.output
    actions = [json.loads(line)["action"] for line in res.stdout.splitlines()]
    assert actions == ["key.create", "key.create", "audit.export"]  # the first export is logged
    assert runner.invoke(audit, ["export", "--since", "yesterday"]).exit_code == 2
    assert runner.invoke(audit, ["verify"]).exit_code == 0


def test_keys_cli_is_audited(cli_env: str) -> None:
    runner = CliRunner()
    res = runner.invoke(keys, ["create", "--name", "web"])
    assert res.exit_code == 0, res.output
    raw = re.search(r"sk-corral-\S+", res.stdout).group(0)  # type: ignore[union-attr]
    key_id = re.search(r"key_[0-9a-f]+", res.stdout).group(0)  # type: ignore[union-attr]
    assert runner.invoke(keys, ["revoke", key_id]).exit_code == 0
    res = runner.invoke(audit, ["export"])
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(e["action"], e["target"]) for e in lines] == [("key.create", key_id), ("key.revoke", key_id)]
    assert all(e["actor"].startswith("cli:") and len(e["actor"]) > 4 for e in lines)
    assert lines[1]["before"]["revoked"] is False and lines[1]["after"]["revoked"] is True
    assert raw not in res.stdout and raw[:16] in res.stdout  # the display prefix, never the key


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Iterator[RunningServer]:
    with database_on(backend, tmp_path) as url:
        yield from serve_in_thread(create_app(fake_settings(tmp_path, database_url=url), warmup=False))


def _call(server: RunningServer, method: str, path: str, key: str | None, body: Any = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=10)


def test_admin_api_key_changes_are_audited(server: RunningServer) -> None:
    admin = server.admin_key
    made = _call(server, "POST", "/admin/keys", admin, {"name": "web", "team": "growth"})
    assert made.status_code == 201, made.text
    key_id, raw = made.json()["id"], made.json()["key"]
    assert _call(server, "DELETE", f"/admin/keys/{key_id}", admin).status_code == 200
    res = _call(server, "GET", "/admin/audit", admin)
    assert res.status_code == 200, res.text
    data = res.json()["data"]
    assert [e["action"] for e in data] == ["key.revoke", *["key.create"] * 3, "config.load"]
    admin_id = server.gateway.bootstrap.admin.id
    assert data[0]["actor"] == admin_id and data[0]["actor_name"] == "admin" and data[0]["target"] == key_id
    assert data[0]["before"]["revoked"] is False and data[0]["after"]["revoked"] is True
    assert data[1]["after"]["team"] == "growth" and data[1]["before"] is None
    assert {e["actor"] for e in data[2:]} == {"system"}  # the bootstrap keys and the start
    assert data[4]["target"] == "(defaults)" and len(data[4]["after"]["sha256"]) == 64
    assert raw not in res.text and "hash" not in data[1]["after"]
    only = _call(server, "GET", "/admin/audit?action=key.revoke&limit=5&since=1h", admin).json()["data"]
    assert [e["target"] for e in only] == [key_id]
    assert run_sync(_verify(server.gateway.db.url)).ok


async def _verify(url: Any) -> Any:
    db = await Database.connect(url)
    try:
        return await AuditLog(db).verify()
    finally:
        await db.close()


def test_admin_audit_needs_an_admin_key_and_good_params(server: RunningServer) -> None:
    assert _call(server, "GET", "/admin/audit", None).status_code == 401
    assert _call(server, "GET", "/admin/audit", server.app_key).status_code == 403
    for query, param in [("limit=0", "limit"), ("limit=abc", "limit"), ("limit=5000", "limit"),
                         ("since=yesterday", "since"), ("action=%00", "action")]:
        res = _call(server, "GET", f"/admin/audit?{query}", server.admin_key)
        assert res.status_code == 400, (query, res.text)
        error = res.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param


async def test_a_key_change_and_its_entry_commit_together(migrated_db: Database) -> None:
    """A key is never created or revoked without its audit entry: one transaction for both."""
    from corral.auth.service import KeyService
    from corral.governance.audit import key_audit

    keys_service, log = KeyService(migrated_db, touch_interval_s=None), AuditLog(migrated_db)

    async def broken(tx: Any, before: Any, after: Any) -> None:
        raise RuntimeError("the audit write failed")

    with pytest.raises(RuntimeError):
        await keys_service.create("doomed", audit=broken)
    assert [k.name for k in await keys_service.list(include_revoked=True)] == []

    _, info = await keys_service.create("kept", audit=key_audit(log, "key_admin", "key.create", "ops"))
    with pytest.raises(RuntimeError):
        await keys_service.revoke(info.id, audit=broken)
    assert not (await keys_service.get(info.id)).revoked  # the revocation rolled back too
    await keys_service.revoke(info.id, audit=key_audit(log, "key_admin", "key.revoke", "ops"))
    entries = await log.entries(None, None, 10)
    assert [(e.action, e.target) for e in entries] == [("key.revoke", info.id), ("key.create", info.id)]
    before, after = json.loads(entries[0].before), json.loads(entries[0].after)
    assert before["revoked"] is False and after["revoked"] is True
    assert (await log.verify()).ok
