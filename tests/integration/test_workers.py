"""`corral serve --workers 2` as a real process tree: a supervisor and two gateway processes on
one port, sharing rate limits through the supervisor's local coordinator (no Redis), a killed
worker replaced, and no worker left behind by SIGTERM or SIGKILL of the supervisor."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import yaml
from click.testing import CliRunner

from corral.api.supervisor import default_workers
from corral.cli import main
from corral.simulator import SimSettings, SimulatorThread
from corral.store.coordinated import ENV_COORDINATOR, CoordinatedKV
from tests.integration.processes import banner_key, free_port, serve, wait_ready

MODEL = "gpt-sim"
RPM = 20


@dataclass
class Tree:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def children(self) -> list[psutil.Process]:
        return list(psutil.Process(self.proc.pid).children())


def _start(tmp_path: Path, sim_url: str, name: str) -> Tree:
    port = free_port()
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "home": str(tmp_path / name), "server": {"port": port},
        "providers": {"sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}},
        "models": {MODEL: {"deployments": [{"provider": "sim", "model": MODEL}]}},
        "limits": {"keys": {"limited": {"rpm": RPM}}},
    }))
    log = tmp_path / f"{name}.log"
    tree = Tree(serve(config, log, workers=2), port, log)
    try:
        wait_ready(tree.proc, log, port)  # the first worker serves; the supervisor starts the second then
        deadline = time.monotonic() + 30
        while len(tree.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    except BaseException:
        _stop(tree)  # no supervisor left running when a test fails
        raise
    return tree


def _answered_by(tree: Tree) -> int:
    """The pid of the worker that answers a request on a new connection."""
    with socket.create_connection(("127.0.0.1", tree.port), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        mine = conn.getsockname()[1]
        for child in tree.children():
            if any(c.raddr and c.raddr.port == mine for c in child.net_connections("tcp")):
                return int(child.pid)
    raise AssertionError("no worker holds the connection")


def _pids_answering(tree: Tree, want: int, timeout_s: float = 30) -> set[int]:
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while len(seen) < want and time.monotonic() < deadline:
        seen.add(_answered_by(tree))
    return seen


def _running(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Those of `procs` still running after up to `timeout_s` (a zombie has exited: reaping an
    orphan is its new parent's job, which in a container may be slow)."""
    deadline = time.monotonic() + timeout_s
    while True:
        running = []
        for proc in procs:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    running.append(proc)
            except psutil.NoSuchProcess:
                pass
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def _stop(tree: Tree) -> None:
    if tree.proc.poll() is None:
        tree.proc.send_signal(signal.SIGTERM)
        try:
            tree.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            tree.proc.kill()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(SimSettings(latency_ms=20, output_tokens=4)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def tree(sim: SimulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tree]:
    started = _start(tmp_path_factory.mktemp("workers"), sim.url, "shared")
    try:
        assert len(_pids_answering(started, 2)) == 2, "the second worker never answered"
        yield started
    finally:
        _stop(started)


def test_two_workers_answer_on_one_port_and_the_keys_are_printed_once(tree: Tree) -> None:
    children = tree.children()
    assert len(children) == 2 and len({c.pid for c in children}) == 2
    assert _pids_answering(tree, 2) == {c.pid for c in children}
    output = tree.log.read_text()
    assert output.count("application key") == 1 and output.count("Corral is serving") == 1, output


def test_a_rate_limit_holds_across_both_workers_without_redis(tree: Tree) -> None:
    base = f"http://127.0.0.1:{tree.port}"
    made = httpx.post(f"{base}/admin/keys", json={"name": "limited", "team": "t"},
                      headers={"Authorization": f"Bearer {banner_key(tree.log, 'admin key')}"})
    assert made.status_code == 201, made.text
    key = made.json()["key"]

    async def burst(n: int) -> list[int]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)  # n connections: both workers
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            body = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
            answers = await asyncio.gather(*(http.post(f"{base}/v1/chat/completions", json=body,
                                                       headers={"Authorization": f"Bearer {key}"})
                                             for _ in range(n)))
        return [a.status_code for a in answers]

    codes = asyncio.run(burst(3 * RPM))
    assert set(codes) <= {200, 429}, codes
    assert codes.count(200) == RPM, f"{codes.count(200)} admitted against {RPM} per minute on 2 workers"


def test_a_chat_request_costs_the_coordinator_two_unanswered_counts_and_the_cache_write(tree: Tree) -> None:
    """What one non-streamed chat request asks of the supervisor's coordinator (no limit on this
    key): the retry budget's and the breaker's counts, sent without waiting for an answer, and the
    cache's write, which leaves the request path. The breaker's state comes from each worker's
    copy, which the coordinator keeps current (at most one read per worker to make it)."""
    socket_path = psutil.Process(tree.children()[0].pid).environ()[ENV_COORDINATOR]

    async def served() -> dict[str, int]:
        kv = CoordinatedKV(socket_path)
        try:
            return await kv.served()
        finally:
            await kv.close()

    base = f"http://127.0.0.1:{tree.port}"
    body = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "count"}]}
    key = banner_key(tree.log)
    before = asyncio.run(served())
    n = 10
    for _ in range(n):  # a new connection each: either worker may answer
        answer = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30,
                            headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 10
    while True:  # the cache's writes leave after the answers
        after = asyncio.run(served())
        if after.get("set_tagged", 0) - before.get("set_tagged", 0) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    used = {op: count - before.get(op, 0) for op, count in after.items() if count != before.get(op, 0)}
    used.pop("stats", None)
    assert used.pop("watch", 0) <= 2, used
    assert used == {"nowait incr": 2 * n, "set_tagged": n}, used


def test_a_killed_worker_is_replaced(tree: Tree) -> None:
    before = {c.pid for c in tree.children()}
    victim = min(before)
    psutil.Process(victim).kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = {c.pid for c in tree.children() if c.status() != psutil.STATUS_ZOMBIE}
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"worker {victim} was not replaced: {tree.children()}")
    replaced = now - before
    assert len(_pids_answering(tree, 2)) == 2 and replaced <= _pids_answering(tree, 2, timeout_s=15)
    assert "exited unexpectedly" in tree.log.read_text()


def test_sigterm_stops_every_worker_and_exits_0(sim: SimulatorThread, tmp_path: Path) -> None:
    started = _start(tmp_path, sim.url, "sigterm")
    try:
        children = started.children()
        assert len(children) == 2
        started.proc.send_signal(signal.SIGTERM)
        assert started.proc.wait(timeout=20) == 0
        assert _running(children, timeout_s=5) == [], "orphaned workers"
    finally:
        _stop(started)


def test_sigkill_of_the_supervisor_leaves_no_worker_behind(sim: SimulatorThread, tmp_path: Path) -> None:
    started = _start(tmp_path, sim.url, "sigkill")
    children = started.children()
    try:
        assert len(children) == 2
        started.proc.kill()
        started.proc.wait(timeout=5)
        alive = _running(children, timeout_s=8)
        assert alive == [], f"workers outlived their supervisor: {alive}"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{started.port}/healthz", timeout=2)
    finally:
        _stop(started)
        for child in _running(children, timeout_s=0):
            child.kill()


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_workers_must_be_at_least_1(workers: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", workers])
    assert result.exit_code == 2 and "--workers" in result.output, result.output


def test_the_default_is_the_cores_this_process_may_use_within_its_cgroup_quota(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    assert default_workers(tmp_path / "none") == cores  # no cgroup files: the affinity
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert default_workers(tmp_path) == cores
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU: one worker
    assert default_workers(tmp_path) == 1
    (v1 := tmp_path / "v1" / "cpu").mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert default_workers(tmp_path / "v1") == 1


def _one_worker(sim: SimulatorThread, tmp_path: Path) -> Tree:
    port = free_port()
    config = tmp_path / "one.yaml"
    config.write_text(yaml.safe_dump({
        "home": str(tmp_path / "home"), "server": {"port": port},
        "providers": {"sim": {"type": "openai", "base_url": f"{sim.url}/v1", "api_key_env": "SIM_KEY"}},
        "models": {MODEL: {"deployments": [{"provider": "sim", "model": MODEL}]}},
    }))
    log = tmp_path / "one.log"
    return Tree(serve(config, log, workers=1), port, log)


def test_one_worker_is_one_process_with_no_supervisor(sim: SimulatorThread, tmp_path: Path) -> None:
    tree = _one_worker(sim, tmp_path)
    port = tree.port
    try:
        wait_ready(tree.proc, tree.log, port)
        assert tree.children() == []
        listening = [c for c in psutil.Process(tree.proc.pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN]
        assert [c.laddr.port for c in listening] == [port]  # the PID started is the server
    finally:
        _stop(tree)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_worker_exits_0_after_a_graceful_stop_like_the_supervisor(
        sim: SimulatorThread, tmp_path: Path, sig: signal.Signals) -> None:
    """uvicorn re-raises the signal it stopped on, which made `--workers 1` exit 143 on SIGTERM
    while `--workers 2` exits 0 (test_sigterm_stops_every_worker_and_exits_0)."""
    tree = _one_worker(sim, tmp_path)
    try:
        wait_ready(tree.proc, tree.log, tree.port)
        assert httpx.get(f"http://127.0.0.1:{tree.port}/healthz").status_code == 200
        tree.proc.send_signal(sig)
        assert tree.proc.wait(timeout=20) == 0, tree.log.read_text()
        assert "Traceback" not in tree.log.read_text()
    finally:
        _stop(tree)


@pytest.mark.parametrize("reuse_port", [False, True])  # True: as a running `corral serve --workers 2`
def test_a_busy_port_is_a_clear_error_before_any_worker_starts(tmp_path: Path, reuse_port: bool) -> None:
    with socket.socket() as taken:
        if reuse_port:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--workers", "2", "--port", str(port)],
                                    env={"CORRAL_HOME": str(tmp_path), "CORRAL_CONFIG": ""})
    assert result.exit_code == 1, result.output
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.output
