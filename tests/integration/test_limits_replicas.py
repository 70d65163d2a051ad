"""Issue 12's budget test: two `corral serve` processes sharing PostgreSQL and Redis hold a key's
team to its dollar budget, and to its requests and tokens per minute, as one system.

200 concurrent requests are spread over both replicas at a team with a $0.05 daily budget;
the spend recorded in PostgreSQL may exceed the budget by at most one request's cost (it
should not exceed it at all: reservations are upper bounds), and every refusal is a 429
with Retry-After and the x-ratelimit-* headers. Then 150 requests at a key with 100
requests per minute, and a burst at one with 3,000 tokens per minute: what is admitted
stays within 1% of the limit across the two processes.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from corral.simulator import SimSettings, SimulatorThread
from corral.store import Database
from corral.store.schema import requests
from corral.store.testing import (
    create_pg_schema,
    drop_pg_schema,
    pg_url_with_schema,
    redis_test_url,
    run_sync,
)
from tests.integration.processes import banner_key, free_port, serve, wait_ready

MODEL = "gpt-sim"
BUDGET = 0.05
PRICE = {"input_per_mtok": 100, "output_per_mtok": 200}


@dataclass
class Replicas:
    ports: list[int]
    admin_key: str
    db_url: str
    names: dict[str, str]  # the team and key names of this run (unique: Redis outlives the test)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    schema = run_sync(create_pg_schema())  # skips only when PostgreSQL is unreachable (fails in CI)
    run = uuid.uuid4().hex[:8]
    names = {"team": f"budget-{run}", "rpm": f"rpm-{run}", "tpm": f"tpm-{run}"}
    db_url = pg_url_with_schema(schema)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with SimulatorThread(SimSettings(latency_ms=150, output_tokens=8)) as sim:
            ports = [free_port(), free_port()]
            for i, port in enumerate(ports):
                config = tmp_path / f"corral-{i}.yaml"
                settings = _config(tmp_path / f"home-{i}", db_url, sim.url, port, names)
                config.write_text(yaml.safe_dump(settings))
                log = tmp_path / f"serve-{i}.log"
                procs.append(serve(config, log))
                wait_ready(procs[-1], log, port)  # one after the other: the first creates the keys
            yield Replicas(ports, banner_key(tmp_path / "serve-0.log", "admin key"), db_url, names)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)  # a clean stop: the records still buffered are written
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        run_sync(drop_pg_schema(schema))


def _config(home: Path, db_url: str, sim_url: str, port: int, names: dict[str, str]) -> dict[str, Any]:
    return {
        "home": str(home), "database_url": db_url, "redis_url": redis_test_url(), "server": {"port": port},
        "providers": {"sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}},
        "models": {MODEL: {"deployments": [{"provider": "sim", "model": MODEL}]}},
        "pricing": {"deployments": {"sim": PRICE}},
        "limits": {"teams": {names["team"]: {"usd_per_day": BUDGET}},
                   "keys": {names["rpm"]: {"rpm": 100}, names["tpm"]: {"tpm": 3000}}},
    }


def _key(replicas: Replicas, name: str, team: str) -> str:
    made = httpx.post(f"http://127.0.0.1:{replicas.ports[0]}/admin/keys", json={"name": name, "team": team},
                      headers={"Authorization": f"Bearer {replicas.admin_key}"})
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


def _fire(replicas: Replicas, key: str, n: int, text: str = "hello") -> list[httpx.Response]:
    """`n` requests at once, alternating between the replicas."""
    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            body = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": text}]}
            return await asyncio.gather(*(
                http.post(f"http://127.0.0.1:{replicas.ports[i % 2]}/v1/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {key}"}) for i in range(n)))

    return asyncio.run(burst())


async def _recorded(db_url: str, team: str) -> tuple[int, float, float, int]:
    """(answered requests, spend, most expensive request, tokens) recorded for `team`."""
    db = await Database.connect(db_url)
    try:
        row = await db.fetch_one(
            select(func.count(), func.coalesce(func.sum(requests.c.cost_usd), 0),
                   func.coalesce(func.max(requests.c.cost_usd), 0),
                   func.coalesce(func.sum(requests.c.input_tokens + requests.c.output_tokens), 0))
            .where(requests.c.team == team, requests.c.http_status == 200))
        assert row is not None
        values = list(row.values())
        return int(values[0]), float(values[1]), float(values[2]), int(values[3])
    finally:
        await db.close()


def _wait_recorded(db_url: str, team: str, answered: int) -> tuple[int, float, float, int]:
    for _ in range(200):
        found = run_sync(_recorded(db_url, team))
        if found[0] >= answered:
            return found
        run_sync(asyncio.sleep(0.05))
    return found


def test_two_replicas_keep_200_concurrent_requests_inside_a_005_budget(replicas: Replicas) -> None:
    key = _key(replicas, "spender", replicas.names["team"])
    answers = _fire(replicas, key, 200)
    ok = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(ok) + len(refused) == 200, {r.status_code for r in answers}
    assert ok and refused
    for r in refused:
        assert r.json()["error"]["code"] == "insufficient_quota"
        assert int(r.headers["retry-after"]) > 0 and r.headers["x-should-retry"] == "false"
        assert r.headers["x-ratelimit-limit-usd"] == "0.05"
        assert "x-ratelimit-remaining-usd" in r.headers and "x-ratelimit-reset-usd" in r.headers
    answered, spent, dearest, _ = _wait_recorded(replicas.db_url, replicas.names["team"], len(ok))
    print(f"answered {len(ok)}, refused {len(refused)}, recorded {answered}: ${spent:.6f} of ${BUDGET}, "
          f"dearest request ${dearest:.6f}")
    assert answered == len(ok)
    assert spent <= BUDGET + dearest
    assert spent > BUDGET * 0.5  # the budget was used, not refused from the start


def test_two_replicas_hold_requests_and_tokens_per_minute_within_1_percent(replicas: Replicas) -> None:
    rpm_answers = _fire(replicas, _key(replicas, replicas.names["rpm"], "rpm-team"), 150)
    admitted = sum(r.status_code == 200 for r in rpm_answers)
    assert {r.status_code for r in rpm_answers} <= {200, 429}
    assert 99 <= admitted <= 101, f"{admitted} requests admitted against 100 per minute"
    refusal = next(r for r in rpm_answers if r.status_code == 429)
    assert refusal.json()["error"]["code"] == "rate_limit_exceeded"
    assert refusal.headers["x-ratelimit-limit-requests"] == "100" and int(refusal.headers["retry-after"]) >= 1

    tpm_key = _key(replicas, replicas.names["tpm"], "tpm-team")
    tpm_answers = _fire(replicas, tpm_key, 300, text="tokens " * 20)
    ok = sum(r.status_code == 200 for r in tpm_answers)
    _, _, _, tokens = _wait_recorded(replicas.db_url, "tpm-team", ok)
    print(f"tokens per minute: {ok} answers, {tokens} tokens recorded against 3,000")
    assert 0 < tokens <= 3000 * 1.01
