"""Issue 13's "done means" for erasure: a real gateway (simulator upstream, capture on, exact and
semantic cache on, Redis for the cache) serves two end users: chats (the second one a cache hit),
a stored response through the official openai SDK, feedback with a comment, and records spooled
to disk while the database is down. Erasing one user (POST /admin/erasure, during the outage:
the live process's own spool holds their record) leaves none of their values or ids in the
database (SQLite's files after checkpoint and VACUUM; every row of every PostgreSQL table), the
spool directory, or any Redis key or value under the gateway's prefix, nor their rows in the
semantic index; the other user's data are all still there. The receipt's counts are the counts
taken before; erasing again (API, then `corral erase`) finds nothing.

The outage is simulated in the record sink (its inserts fail and the database reads as down),
so the rest of the gateway keeps its database: the spool is what is under test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

import corral.governance.erasure_cli
import corral.store.coordinated
from corral.api.app import create_app
from corral.config import Settings
from corral.governance.erasure_cli import erase_command
from corral.simulator import SimSettings, SimulatorThread
from corral.store import Database
from corral.store.kv_redis import RedisKV
from corral.store.kv_url import kv_from_url
from corral.store.schema import feedback, requests, responses
from corral.store.testing import backend_unavailable, redis_test_url, run_sync
from tests.conftest import RunningServer, database_on, serve_in_thread
from tests.governance.byte_scan import (
    count_containing,
    directory_bytes,
    found,
    postgresql_text,
    redis_bytes,
    sqlite_bytes,
)


class Person:
    def __init__(self, tag: str) -> None:
        run = uuid.uuid4().hex[:10]
        self.user, self.email = f"enduser-{tag}-{run}", f"{tag}.{run}@example.com"
        self.token = f"zq{tag}{run}token"  # in every prompt, comment and stored input
        self.ids: list[str] = []  # chat completion and response ids the API answered with

    def request_ids(self) -> list[str]:
        """Corral's ids of the requests: chatcmpl-X and resp_X answer request req_X."""
        return ["req_" + i.removeprefix("chatcmpl-").removeprefix("resp_") for i in self.ids]

    def needles(self) -> dict[str, str]:
        return {"user": self.user, "email": self.email, "token": self.token,
                **{f"id {i}": i for i in self.ids + self.request_ids()}}


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"corral-test:{uuid.uuid4().hex[:12]}:"

    async def ping() -> None:
        kv = RedisKV.from_url(redis_test_url(), prefix=prefix, socket_connect_timeout=5)
        try:
            await kv.client.ping()
        finally:
            await kv.close()

    try:
        run_sync(ping())
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        backend_unavailable("Redis", f"{type(e).__name__}: {e}")
    yield prefix

    async def clean() -> None:
        kv = RedisKV.from_url(redis_test_url(), prefix=prefix)
        keys = [k async for k in kv.client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await kv.client.delete(*keys)
        await kv.close()

    run_sync(clean())


def _settings(tmp_path: Path, db_url: str, sim_url: str) -> dict[str, Any]:
    return {
        "home": str(tmp_path / "home"), "database_url": db_url, "redis_url": redis_test_url(),
        "observability": {"capture_content": True},
        "providers": {"sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}},
        "models": {"chat": {"deployments": [{"provider": "sim", "model": "gpt-sim"}],
                            "cache": {"semantic": True, "ttl_s": 600}}},
    }


def _traffic(server: RunningServer, who: Person) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)
    question: Any = [{"role": "user", "content": f"I am {who.email}: what is {who.token}?"}]
    first = client.chat.completions.with_raw_response.create(model="chat", messages=question, user=who.user)
    again = client.chat.completions.with_raw_response.create(model="chat", messages=question, user=who.user)
    assert (first.headers["x-corral-cache"], again.headers["x-corral-cache"]) == ("miss", "hit")
    answer = first.parse()
    stored = client.responses.create(model="chat", input=f"Remember {who.token} for me", user=who.user,
                                     metadata={"contact": who.email}, store=True)
    who.ids += [answer.id, stored.id]
    sent = httpx.post(server.url + "/v1/feedback", headers={"Authorization": f"Bearer {server.app_key}"},
                      json={"response_id": answer.id, "rating": "up", "comment": f"{who.token} was right"})
    assert sent.status_code == 201, sent.text


def _outage_chat(server: RunningServer, who: Person) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)
    answer = client.chat.completions.create(model="chat", user=who.user, messages=[
        {"role": "user", "content": f"During the outage, {who.email} asks about {who.token} again"}])
    # a stored response whose request record is only in the spool: found by the user in its body
    stored = client.responses.create(model="chat", input=f"Outage note on {who.token}",
                                     safety_identifier=who.user, store=True)
    who.ids += [answer.id, stored.id]


def _until(check: Any, what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _start_outage(sink: Any) -> None:
    async def refused(rows: Any) -> None:
        raise ConnectionRefusedError("simulated database outage")

    async def down() -> bool:
        return False

    sink._inserter.insert, sink._healthy = refused, down  # instance attributes shadow the methods


def _end_outage(sink: Any) -> None:
    del sink._inserter.insert, sink._healthy


async def _db_counts(url: str, who: Person) -> dict[str, int]:
    db = await Database.connect(url)
    try:
        count = select(func.count())
        return {
            "requests": await db.fetch_val(count.select_from(requests).where(
                requests.c.end_user == who.user)),
            "responses": await db.fetch_val(count.select_from(responses).where(
                responses.c.body.contains(who.user))),
            "feedback": await db.fetch_val(count.select_from(feedback).where(
                feedback.c.comment.contains(who.token))),
        }
    finally:
        await db.close()


async def _redis(prefix: str) -> dict[bytes, bytes]:
    kv = RedisKV.from_url(redis_test_url(), prefix=prefix)
    try:
        return await redis_bytes(kv, prefix)
    finally:
        await kv.close()


def _spool_lines(home: Path, who: Person) -> int:
    segments = (home / "spool").glob("*.jsonl")
    lines = [orjson.loads(line) for p in segments for line in p.read_bytes().splitlines() if line.strip()]
    return sum(1 for line in lines if line.get("end_user") == who.user)


def _semantic_rows(server: RunningServer, cache_values: dict[bytes, bytes], who: Person, prefix: str) -> int:
    """Rows of the gateway's semantic index that point at an entry holding ``who``'s data."""
    namespace = (prefix + "cache:exact:").encode()
    keys = {k[len(namespace):].decode() for k, v in cache_values.items()
            if k.startswith(namespace) and who.token.encode() in v}
    index = server.gateway.cache.semantic.index
    return sum(1 for scope in index._scopes.values() for k in scope.keys if k in keys)


def _erase(server: RunningServer, who: Person) -> dict[str, Any]:
    made = httpx.post(server.url + "/admin/erasure", json={"user": who.user}, timeout=60,
                      headers={"Authorization": f"Bearer {server.admin_key}"})
    assert made.status_code == 200, made.text
    receipt: dict[str, Any] = made.json()
    return receipt


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_erasing_a_user_leaves_none_of_their_bytes(backend: str, tmp_path: Path, redis_prefix: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = Person("a"), Person("b")
    monkeypatch.setenv("SIM_KEY", "unused")
    for module in (corral.store.coordinated, corral.governance.erasure_cli):  # the KV under the test's prefix
        monkeypatch.setattr(module, "kv_from_url", lambda url, prefix=redis_prefix: kv_from_url(url, prefix))
    with database_on(backend, tmp_path) as db_url, SimulatorThread(SimSettings(output_tokens=8)) as sim:
        config = _settings(tmp_path, db_url, sim.url)
        home = Path(config["home"])
        servers = serve_in_thread(create_app(Settings.model_validate(config), warmup=False))
        server = next(servers)
        sink = server.gateway.recorder.sink
        for who in (alice, bob):
            _traffic(server, who)
        _until(lambda: run_sync(_db_counts(db_url, bob))["requests"] == 3, "the records")
        _start_outage(sink)
        for who in (alice, bob):
            _outage_chat(server, who)
        _until(lambda: sink.spool.records == 4, "four spooled records")

        # Count what holds alice's data, then erase her (the outage goes on: her record is spooled).
        cache_before = run_sync(_redis(redis_prefix))
        before = {**run_sync(_db_counts(db_url, alice)), "request_spool": _spool_lines(home, alice),
                  "exact_cache": count_containing(cache_before, alice.token),
                  "semantic_cache_index": _semantic_rows(server, cache_before, alice, redis_prefix)}
        assert {k: before[k] for k in ("requests", "responses", "feedback", "request_spool")} == {
            "requests": 3, "responses": 2, "feedback": 1, "request_spool": 2}
        # her chat, her stored responses' answers, her outage chat: each cached and indexed
        assert before["exact_cache"] == before["semantic_cache_index"] == 4
        bob_rows = _semantic_rows(server, cache_before, bob, redis_prefix)
        receipt = _erase(server, alice)
        counts = {s["store"]: s["count"] for s in receipt["stores"]}
        assert {name: counts[name] for name in before} == before, receipt
        assert receipt["total"] == sum(counts[s["store"]] for s in receipt["stores"]
                                       if s["action"] in ("deleted", "anonymised", "rewritten"))
        assert _semantic_rows(server, cache_before, alice, redis_prefix) == 0
        assert _semantic_rows(server, cache_before, bob, redis_prefix) == bob_rows > 0

        _end_outage(sink)  # bob's spooled record is replayed; alice's was erased from the spool
        _until(lambda: sink.spool.records == 0, "the replay")
        _until(lambda: run_sync(_db_counts(db_url, bob))["requests"] == 5, "bob's replayed records")
        again = _erase(server, alice)
        assert again["total"] == 0 and all(s["count"] == 0 for s in again["stores"]), again
        next(servers, None)  # stops the server: everything queued is written

        (tmp_path / "corral.yaml").write_text(yaml.safe_dump(config))
        cli = CliRunner().invoke(erase_command, ["-c", str(tmp_path / "corral.yaml"), "--user", alice.user,
                                                 "--yes", "--json"])
        assert cli.exit_code == 0, cli.output
        by_cli = orjson.loads(cli.output)
        assert by_cli["total"] == 0 and {s["store"] for s in by_cli["stores"]} >= {"exact_cache", "requests"}

        database = (sqlite_bytes(Path(db_url.removeprefix("sqlite:///"))) if backend == "sqlite"
                    else run_sync(_pg_text(db_url)))
        spool = directory_bytes(home / "spool")
        cache = run_sync(_redis(redis_prefix))
        cache_bytes = b"\n".join(k + b"\0" + v for k, v in cache.items())
        for where, data in (("database", database), ("spool", spool), ("redis", cache_bytes)):
            assert found(data, alice.needles()) == [], f"alice's data left in the {where}"
        survivors = {"user": bob.user, "email": bob.email, "token": bob.token,
                     **{f"id {i}": i for i in bob.request_ids()}}  # the replayed record's too
        assert found(database, survivors) == list(survivors)
        assert found(cache_bytes, {"token": bob.token}) == ["token"]


async def _pg_text(url: str) -> bytes:
    db = await Database.connect(url)
    try:
        return await postgresql_text(db)
    finally:
        await db.close()
