"""deploy/haproxy.cfg for real: two gateways behind it, one gets SIGTERM under load, no client sees it.

The shipped file, with only what Docker provides swapped for loopback (its DNS resolver and the
`gateway` service name become two fixed servers). A stopping gateway refuses new connections at
once; haproxy retries those on the other gateway (`retry-on conn-failure`, `option redispatch`:
nothing had been sent, so a POST is safe to retry) until its /readyz check takes the stopping one
out. Requests already running on the stopping gateway finish there (its drain).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from corral.simulator import SimSettings, SimulatorThread
from tests.integration.processes import banner_key, free_port, serve, wait_ready

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLIENTS = 6


def loopback_config(ports: list[int], listen: int) -> str:
    """deploy/haproxy.cfg with Docker's DNS replaced by fixed loopback servers."""
    text = (DEPLOY / "haproxy.cfg").read_text()
    text, resolvers = re.subn(r"\nresolvers docker\n(?:    .*\n)+", "\n", text)
    text = text.replace(" resolvers docker init-addr none", "")
    text = text.replace("bind :8080", f"bind 127.0.0.1:{listen}")
    servers = "\n".join(f"    server g{i} 127.0.0.1:{port}" for i, port in enumerate(ports))
    text, templates = re.subn(r"^    server-template gateway \d+ gateway:8080$", servers, text, flags=re.M)
    assert (resolvers, templates) == (1, 1), "deploy/haproxy.cfg changed shape: update loopback_config"
    return text


class Load:
    """Clients posting chat requests through haproxy until stopped; every failure is kept."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.ok = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]

    def _client(self) -> None:
        body = {"model": "gpt-sim", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as c:
            while not self.stopping.is_set():
                try:
                    answer = c.post("/v1/chat/completions", json=body)
                except httpx.TransportError as exc:
                    self.failures.append(repr(exc))
                    continue
                if answer.status_code == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"{answer.status_code} {answer.text[:200]}")

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)


def _gateways(tmp_path: Path, db_url: str, sim_url: str, ports: list[int]) -> list[subprocess.Popen[bytes]]:
    procs: list[subprocess.Popen[bytes]] = []
    provider = {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}
    for i, port in enumerate(ports):
        config, log = tmp_path / f"gateway{i}.yaml", tmp_path / f"gateway{i}.log"
        config.write_text(yaml.safe_dump({
            "home": str(tmp_path / f"home{i}"), "database_url": db_url, "server": {"port": port},
            "providers": {"sim": provider},
            "models": {"gpt-sim": {"deployments": [{"provider": "sim", "model": "gpt-sim"}]}}}))
        procs.append(serve(config, log, workers=1))
        wait_ready(procs[-1], log, port)  # one at a time: the first one makes the keys
    return procs


def _haproxy(binary: str, tmp_path: Path, ports: list[int], listen: int) -> subprocess.Popen[bytes]:
    """haproxy on `listen`, once it has sent a request to each gateway."""
    (tmp_path / "haproxy.cfg").write_text(loopback_config(ports, listen))
    log = tmp_path / "haproxy.log"
    proc = subprocess.Popen([binary, "-db", "-f", str(tmp_path / "haproxy.cfg")],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not all(f"gateways/g{i} " in log.read_text() for i in range(len(ports))):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{listen}/healthz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    return proc


def _stop(procs: list[subprocess.Popen[bytes] | None]) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


def test_a_gateway_stopping_under_load_costs_no_request(tmp_path: Path, pg_url: str) -> None:
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy is not installed (make install-dev installs it)")
    ports, listen = [free_port(), free_port()], free_port()
    procs: list[subprocess.Popen[bytes] | None] = []
    with SimulatorThread(SimSettings(latency_ms=20, output_tokens=8)) as sim:
        try:
            gateways = _gateways(tmp_path, pg_url, sim.url, ports)
            procs += gateways
            procs.append(_haproxy(binary, tmp_path, ports, listen))
            with Load(f"http://127.0.0.1:{listen}", banner_key(tmp_path / "gateway0.log")) as load:
                time.sleep(1.5)
                before = load.ok
                gateways[0].send_signal(signal.SIGTERM)
                gateways[0].wait(timeout=20)
                time.sleep(2)
                after = load.ok
        finally:
            _stop(procs)
    lines = (tmp_path / "haproxy.log").read_text().splitlines()
    served = {name: sum(f"gateways/{name} " in line for line in lines) for name in ("g0", "g1")}
    retried = sum(bool(re.search(r" \d+/\d+/\d+/\d+/\+\d+ ", line)) for line in lines)
    print(f"{after} requests answered, {served} per gateway, {retried} retried on the other gateway "
          f"({before} before the signal)")
    assert load.failures == [], load.failures[:5]
    assert served["g0"] > 1 and before > 0, "the stopped gateway served nothing beforehand"
    assert after > before + 50, "the load did not go on after the signal"
    assert gateways[0].returncode in (0, -signal.SIGTERM)
