"""Erasure (corral.governance.erasure): every mapped table, the spool, the receipt, the audit
entry, idempotence, the bytes on disk (SQLite), the CLI and POST /admin/erasure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from corral.api.app import create_app
from corral.governance.audit import AuditLog
from corral.governance.datamap import DATA_MAP
from corral.governance.erasure import erase
from corral.governance.erasure_cli import erase_command
from corral.store import Database, schema
from corral.store.schema import metadata
from corral.store.testing import run_sync
from tests.conftest import RunningServer, database_on, fake_settings, serve_in_thread
from tests.governance.byte_scan import sqlite_bytes
from tests.limits.records import add_key, record

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
USERS = {"A": ("alice-7f3", "key_a"), "B": ("bob-9c1", "key_b")}


def _marker(tag: str, what: str) -> str:
    return f"zq{tag}{what}marker"  # unique per subject: alice's never appears in bob's rows


async def seed(db: Database, tag: str) -> None:
    """Two requests of one end user through one key, and what hangs off them and the key."""
    user, key = USERS[tag]
    says = _marker(tag, "user")
    await add_key(db, key, f"{tag}-app")
    rows = [{**record(NOW, 0.01, key=key), "request_id": f"req_{tag}{i}", "end_user": user,
             "prompt": orjson.dumps([{"role": "user", "content": f"{says} question {i}"}]).decode(),
             "response": f"answer for {says}"} for i in (1, 2)]
    await db.execute(schema.requests.insert(), rows)
    await db.execute(schema.policy_events.insert(), [{
        "created_at": NOW, "request_id": f"req_{tag}1", "key_id": key, "team": "growth", "route": "gpt-4o",
        "category": "violence", "message": "filtered", "prompt_excerpt": says, "stream": False}])
    await db.execute(schema.feedback.insert(), [
        {"created_at": NOW, "request_id": f"req_{tag}1", "response_id": None, "key_id": key, "rating": "up",
         "comment": says, "correction": None},
        {"created_at": NOW, "request_id": None, "response_id": f"chatcmpl-{tag}2", "key_id": "key_other",
         "rating": "down", "comment": None, "correction": says}])
    await db.execute(schema.quality_scores.insert(), [{
        "created_at": NOW, "request_id": f"req_{tag}2", "route": "gpt-4o", "kind": "similarity",
        "score": 0.9}])
    await db.execute(schema.responses.insert(), [{
        "id": f"resp_{tag}1", "team": "growth", "key_id": key, "status": "completed", "depth": 1,
        "conversation_bytes": 10, "body": orjson.dumps({"user": user, "text": says}).decode(),
        "input_items": f'["{says}"]', "created_at": NOW, "updated_at": NOW}])
    await _seed_key_data(db, tag)


async def _seed_key_data(db: Database, tag: str) -> None:
    """What the key owns with no end user: a batch, its files (input uploaded, output written)."""
    key, keeps = USERS[tag][1], _marker(tag, "key")
    job = {"team": "growth", "key_id": key, "status": "queued", "priority": 0, "attempts": 0,
           "max_attempts": 3, "not_before": NOW, "cancel_requested": False, "created_at": NOW}
    await db.execute(schema.jobs.insert(), [
        {**job, "id": f"resp_{tag}1", "kind": "response",
         "payload": f'{{"input": "{_marker(tag, "user")}"}}'},
        {**job, "id": f"batch_{tag}", "kind": "batch", "payload": f'{{"lines": "{keeps}"}}'}])
    files = [(f"file_{tag}in", key, "batch"), (f"file_{tag}out", None, "batch_output")]
    await db.execute(schema.files.insert(), [{
        "id": fid, "team": "growth", "key_id": owner, "purpose": purpose, "filename": f"{keeps}.jsonl",
        "bytes": 20, "status": "processed", "created_at": NOW} for fid, owner, purpose in files])
    await db.execute(schema.file_chunks.insert(), [
        {"file_id": fid, "idx": 0, "data": keeps.encode()} for fid, _, _ in files])
    await db.execute(schema.batches.insert(), [{
        "id": f"batch_{tag}", "team": "growth", "key_id": key, "key_name": f"{tag}-app",
        "scopes": "inference", "endpoint": "/v1/chat/completions", "input_file_id": f"file_{tag}in",
        "output_file_id": f"file_{tag}out",
        "completion_window": "24h", "status": "completed", "created_at": NOW, "expires_at": NOW, "total": 1,
        "metadata": f'{{"note": "{keeps}"}}'}])


USER_COUNTS = {"requests": 2, "policy_events": 1, "feedback": 2, "quality_scores": 1, "responses": 1,
               "jobs": 1}
KEY_COUNTS = {**USER_COUNTS, "jobs": 2, "files": 2, "file_chunks": 2, "batches": 1}


async def dump(db: Database) -> str:
    """Every row of every mapped table, as text."""
    parts = []
    for store in DATA_MAP:
        if store.kind == "table" and store.name in metadata.tables:
            parts += [repr(dict(r)) for r in await db.fetch_all(select(metadata.tables[store.name]))]
    return "\n".join(parts)


async def leftovers(db: Database, kind: str, value: str) -> dict[str, int]:
    """Rows whose own column for `kind` still names the subject, for every table of the map."""
    out = {}
    for store in DATA_MAP:
        column = store.columns().get(kind)
        if store.kind == "table" and column and store.name not in ("audit_log", "api_keys"):
            table = metadata.tables[store.name]
            query = select(func.count()).select_from(table).where(table.c[column] == value)
            out[store.name] = await db.fetch_val(query)
    return out


def write_spool(home: Path) -> Path:
    spool = home / "spool"
    spool.mkdir(parents=True)
    path = spool / f"{1:020d}-1x00000000.jsonl"  # a segment of a process that is gone (no lock held)
    lines = [{"request_id": f"req_{tag}9", "end_user": USERS[tag][0], "key_id": USERS[tag][1],
              "prompt": _marker(tag, "user")} for tag in ("A", "B", "A")]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


async def test_erasing_a_user(migrated_db: Database, tmp_path: Path) -> None:
    db = migrated_db
    await seed(db, "A")
    await seed(db, "B")
    spool = write_spool(tmp_path)
    before = await dump(db)
    assert _marker("A", "user") in before and _marker("B", "user") in before
    receipt = await erase(db, user="alice-7f3", actor="cli:test", home=tmp_path)
    assert receipt.counts("deleted") == {**dict.fromkeys(receipt.counts("deleted"), 0), **USER_COUNTS}
    assert receipt.counts("rewritten") == {"request_spool": 2}
    after = await dump(db)
    assert _marker("A", "user") not in after and "alice-7f3" not in after.replace(receipt.value_sha256, "")
    assert _marker("B", "user") in after and _marker("A", "key") in after  # the key's batch is not the user's
    assert after.count(_marker("B", "user")) == before.count(_marker("B", "user"))
    assert set((await leftovers(db, "user", "alice-7f3")).values()) == {0}
    assert [orjson.loads(line)["end_user"] for line in spool.read_bytes().splitlines()] == ["bob-9c1"]
    entry = (await AuditLog(db).entries(action="erasure"))[0]
    assert entry.id == receipt.audit_id and entry.target == f"user:sha256:{receipt.value_sha256}"
    assert "alice-7f3" not in (entry.after or "") and orjson.loads(entry.after or "")["total"] == 10
    assert (await AuditLog(db).verify()).ok
    again = await erase(db, user="alice-7f3", actor="cli:test", home=tmp_path)
    assert again.total == 0 and len(await AuditLog(db).entries(action="erasure")) == 2


async def test_erasing_a_key(migrated_db: Database) -> None:
    db = migrated_db
    await seed(db, "A")
    await seed(db, "B")
    await AuditLog(db).append("key_a", "key.create", "key_x")  # an action the key took: kept
    before = await dump(db)
    receipt = await erase(db, key="key_a", actor="cli:test")
    deleted = {k: v for k, v in receipt.counts("deleted").items() if v}
    assert deleted == KEY_COUNTS and receipt.counts("anonymised") == {"api_keys": 1}
    after = await dump(db)
    assert _marker("A", "user") not in after and _marker("A", "key") not in after
    for marker in (_marker("B", "key"), _marker("B", "user")):
        assert after.count(marker) == before.count(marker) > 0
    assert set((await leftovers(db, "key", "key_a")).values()) == {0}
    row = await db.fetch_one(select(schema.api_keys).where(schema.api_keys.c.id == "key_a"))
    assert row is not None and row["name"] == "erased" and row["revoked_at"] is not None
    assert [e.actor for e in await AuditLog(db).entries(action="key.create")] == ["key_a"]
    assert any(n["store"] == "provider_batch_files" for n in receipt.not_erased)
    assert (await erase(db, key="key_a", actor="cli:test")).total == 0
    assert (await AuditLog(db).verify()).ok


async def test_erasing_a_request(migrated_db: Database) -> None:
    db = migrated_db
    await seed(db, "A")
    receipt = await erase(db, request="req_A1", actor="cli:test")
    assert {k: v for k, v in receipt.counts().items() if v} == {
        "requests": 1, "policy_events": 1, "feedback": 1, "responses": 1, "jobs": 1}
    two = await erase(db, request="req_A2", actor="cli:test")
    assert {k: v for k, v in two.counts().items() if v} == {"requests": 1, "feedback": 1, "quality_scores": 1}


@pytest.mark.parametrize("subject", [{}, {"user": "a", "key": "b"}, {"user": ""}])
async def test_exactly_one_subject(migrated_db: Database, subject: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"subject|non-empty"):
        await erase(migrated_db, **subject, actor="cli:test")


async def test_deletion_reaches_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "corral.db"
    db = await Database.connect(f"sqlite:///{path}")
    try:
        from corral.store import migrate
        await migrate(db)
        await seed(db, "A")
        await seed(db, "B")
        assert _marker("A", "user").encode() in sqlite_bytes(path)  # the scan sees what is there
        await erase(db, user="alice-7f3", actor="cli:test")
    finally:
        await db.close()
    data = sqlite_bytes(path)
    assert _marker("A", "user").encode() not in data and _marker("B", "user").encode() in data


def test_cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)

    async def fill() -> None:
        db = await Database.connect(db_url)
        try:
            from corral.store import migrate
            await migrate(db)
            await seed(db, "A")
        finally:
            await db.close()

    run_sync(fill())
    runner = CliRunner()
    assert runner.invoke(erase_command, ["--user", "a", "--key", "b"]).exit_code == 2
    asked = runner.invoke(erase_command, ["--user", "alice-7f3"], input="n\n")
    assert asked.exit_code == 1 and "Aborted" in asked.output
    out = runner.invoke(erase_command, ["--user", "alice-7f3", "--yes", "--json"])
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.output)["deleted"]["requests"] == 2
    table = runner.invoke(erase_command, ["--user", "alice-7f3", "--yes"])
    assert table.exit_code == 0 and "0 entries" in table.output and "STORE" in table.output


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Iterator[RunningServer]:
    with database_on(backend, tmp_path) as url:
        yield from serve_in_thread(create_app(fake_settings(tmp_path, database_url=url), warmup=False))


def _post(server: RunningServer, key: str | None, body: Any = None,
          content: bytes | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(server.url + "/admin/erasure", json=body, content=content, headers=headers, timeout=10)


def test_admin_api(server: RunningServer) -> None:
    assert _post(server, None, {"user": "x"}).status_code == 401
    assert _post(server, server.app_key, {"user": "x"}).status_code == 403
    bad: list[Any] = [{}, {"user": "a", "key": "b"}, {"user": 5}, {"user": ""}, {"who": "a"}, [], "x",
                      {"request": None}, {"user": ["a"]}]
    for body in bad:
        res = _post(server, server.admin_key, body)
        assert res.status_code == 400, (body, res.text)
        assert res.json()["error"]["type"] == "invalid_request_error"
    assert _post(server, server.admin_key, content=b"{not json").status_code == 400
    res = _post(server, server.admin_key, {"user": "alice-7f3"})
    assert res.status_code == 200, res.text
    receipt = res.json()
    assert receipt["object"] == "erasure.receipt" and receipt["total"] == 0 and receipt["audit_id"]
    assert receipt["actor"] == server.gateway.bootstrap.admin.id


def test_admin_api_names_every_unknown_field(server: RunningServer) -> None:
    """Unknown fields are refused before any value is checked, all of them named in one 400."""
    res = _post(server, server.admin_key, {"user": 5, "who": "a", "reason": "gdpr"})
    assert res.status_code == 400, res.text
    error = res.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == "reason"
    assert "'reason'" in error["message"] and "'who'" in error["message"]
