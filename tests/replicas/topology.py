"""Corral as one system: N `corral serve --workers 1` processes sharing one PostgreSQL schema and
one Redis, behind HAProxy, in front of the simulator.

Names that end up as Redis keys (the provider, hence the breaker keys, the routes, the limited
keys) carry the run's id, because the shared test Redis outlives every run.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select
from sqlalchemy.engine import make_url

from corral.simulator import SimSettings, SimulatorThread
from corral.store import Database
from corral.store.testing import create_pg_schema, drop_pg_schema, pg_url_with_schema, run_sync
from tests.integration.processes import banner_key, free_port, serve, wait_ready
from tests.replicas.services import HAProxy, PgLink

RPM = 20  # the limited key's requests per minute (its name: rpm-<run>)
LEASE_S = 3.0  # jobs: a dead replica's claimed jobs go back to the queue after this
ALERT_INTERVAL_S = 0.5


@dataclass
class Replica:
    name: str  # r0, r1, ...: also its server name in HAProxy
    port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = serve(self.config, self.log, workers=1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Topology:
    replicas: list[Replica]
    lb: HAProxy
    sim: SimulatorThread
    db_url: str  # direct, not through any cut link: for the test's own checks
    run: str
    admin_key: str = ""
    app_key: str = ""
    pg_link: PgLink | None = None

    @property
    def model(self) -> str:
        return f"chat-{self.run}"

    @property
    def flaky(self) -> str:
        return f"flaky-{self.run}"

    def admin(self, method: str, path: str, replica: int | None = None, **kw: Any) -> httpx.Response:
        base = self.lb.url if replica is None else self.replicas[replica].url
        return httpx.request(method, base + path, headers={"Authorization": f"Bearer {self.admin_key}"},
                             timeout=30, **kw)

    def metric(self, replica: int, name: str) -> float:
        """One unlabelled series of `replica`'s /metrics."""
        text = self.admin("GET", "/metrics", replica).text
        return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))

    def create_key(self, name: str, team: str = "default", replica: int | None = None) -> tuple[str, str]:
        """(raw key, key id), created through `replica` (default: the load balancer)."""
        made = self.admin("POST", "/admin/keys", replica, json={"name": name, "team": team})
        assert made.status_code == 201, made.text
        return str(made.json()["key"]), str(made.json()["id"])

    def chat_body(self, model: str | None = None, text: str = "hello") -> dict[str, Any]:
        return {"model": model or self.model, "max_tokens": 8,
                "messages": [{"role": "user", "content": text}]}


def replica_settings(home: Path, db_url: str, redis_url: str, sim_url: str, port: int,
                     run: str) -> dict[str, Any]:
    provider = f"sim{run}"
    steady = {"deployments": [{"provider": provider, "model": "steady"}], "cache_fallback": False}
    flaky = {"deployments": [{"provider": provider, "model": "a-flaky"},
                             {"provider": provider, "model": "b-steady", "priority": 1}],
             "cache_fallback": False, "retry": {"max_attempts": 2, "base_delay_s": 0},
             "breaker": {"min_requests": 4, "failure_rate": 0.5, "open_s": 120, "window_s": 60}}
    return {
        "home": str(home), "database_url": db_url, "redis_url": redis_url,
        "server": {"port": port},
        "providers": {provider: {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}},
        "models": {f"chat-{run}": steady, f"flaky-{run}": flaky},
        "jobs": {"lease_s": LEASE_S, "concurrency": 2, "poll_interval_s": 0.2, "retry_base_s": 0.2,
                 "retry_max_s": 1.0},
        "alerts": {"interval_s": ALERT_INTERVAL_S,
                   "rules": [{"name": f"errors-{run}", "kind": "error_rate", "threshold": 0.9}]},
        "limits": {"keys": {f"rpm-{run}": {"rpm": RPM}, f"busy-{run}": {"rpm": 1_000_000}}},
    }


@contextlib.contextmanager
def topology(tmp: Path, redis_url: str, *, replicas: int = 3, cut_link: bool = False,
             sim: SimSettings | None = None, check: str = "/healthz") -> Iterator[Topology]:
    """Start the system; everything it started is stopped (and its schema dropped) on exit."""
    schema = run_sync(create_pg_schema())  # skips only when PostgreSQL is unreachable (fails in CI)
    direct = pg_url_with_schema(schema)
    run = uuid.uuid4().hex[:8]
    procs: list[Replica] = []
    lb: HAProxy | None = None
    link: PgLink | None = None
    try:
        with SimulatorThread(sim or SimSettings(latency_ms=60, output_tokens=8)) as simulator:
            db_url = direct
            if cut_link:
                url = make_url(direct)
                link = PgLink(url.host or "127.0.0.1", url.port or 5432)
                db_url = url.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False)
            for i in range(replicas):
                port = free_port()
                config = tmp / f"corral-r{i}.yaml"
                config.write_text(yaml.safe_dump(replica_settings(
                    tmp / f"home-r{i}", db_url, redis_url, simulator.url, port, run)))
                procs.append(Replica(f"r{i}", port, config, tmp / f"serve-r{i}.log"))
            lb = HAProxy(tmp, [r.port for r in procs], check)
            procs[0].start()  # alone first: it creates the schema and the bootstrap keys
            wait_ready(procs[0].proc, procs[0].log, procs[0].port)  # type: ignore[arg-type]
            for r in procs[1:]:
                r.start()
            for r in procs[1:]:
                wait_ready(r.proc, r.log, r.port)  # type: ignore[arg-type]
            lb.start()
            lb.wait_status({r.name: "UP" for r in procs})
            system = Topology(procs, lb, simulator, direct, run, pg_link=link,
                              admin_key=banner_key(procs[0].log, "admin key"),
                              app_key=banner_key(procs[0].log, "application key"))
            yield system
    finally:
        if lb is not None:
            lb.close()
        for r in procs:
            r.stop()
        if link is not None:
            link.close()
        run_sync(drop_pg_schema(schema))


def replica_pids(system: Topology) -> dict[int, str]:
    return {r.proc.pid: r.name for r in system.replicas if r.proc is not None}


async def _stored(db_url: str, table: Any, column: str, ids: list[str]) -> dict[str, Any]:
    """{id: row} of the rows of `table` whose `column` is one of `ids`."""
    db = await Database.connect(db_url)
    try:
        found: dict[str, Any] = {}
        for at in range(0, len(ids), 500):
            rows = await db.fetch_all(select(table).where(table.c[column].in_(ids[at:at + 500])))
            found.update({r[column]: r for r in rows})
        return found
    finally:
        await db.close()


def stored(db_url: str, table: Any, column: str, ids: list[str]) -> dict[str, Any]:
    return run_sync(_stored(db_url, table, column, ids))


def wait_stored(db_url: str, table: Any, column: str, ids: list[str], timeout_s: float,
                done: Any = None) -> dict[str, Any]:
    """Poll until every id has a row (for which `done(row)` holds, when given), or the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = stored(db_url, table, column, ids)
        finished = {k: v for k, v in found.items() if done is None or done(v)}
        if len(finished) == len(set(ids)) or time.monotonic() > deadline:
            return found
        time.sleep(0.25)
