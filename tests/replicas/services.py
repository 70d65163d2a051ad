"""The processes around the replicas: HAProxy in front, a private Redis, a cuttable PostgreSQL link.

Each one is real (Debian's haproxy and redis-server binaries, PostgreSQL through a TCP proxy),
because what these tests prove (a load balancer's retries, a Redis restart, a database outage)
is behaviour of the network between processes, not of Corral's code alone.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from corral.store.testing import backend_unavailable
from tests.integration.processes import free_port

BENCH = Path(__file__).resolve().parents[2] / "bench" / "record_overhead.py"
INSTALL = {"haproxy": "`make install-dev` as root, or `apt-get install haproxy`",
           "redis-server": "`apt-get install redis-server`"}


def require_binary(name: str) -> str:
    """The program's path; skips locally (fails under CI=true) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        backend_unavailable(name, f"not installed: {INSTALL[name]}")
    assert path is not None
    return path


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc is None or proc.poll() is None, f"{proc.args!r} exited with {proc.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout_s} s")


def stop(proc: subprocess.Popen[bytes] | None, timeout_s: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# HAProxy retries only a connection that failed (`retry-on conn-failure`, the default, spelled
# out): by then the request was never sent, so a POST is never run twice. `option redispatch`
# sends that retry to another server. The check is /healthz here (deploy/haproxy.cfg checks
# /readyz, which answers 200 "degraded" during a store outage, so either keeps the replicas in).
HAPROXY_CFG = """global
    log stdout format raw local0
    stats socket {sock} mode 600 level admin
    maxconn 4000
defaults
    mode http
    log stdout format raw local0
    option httplog
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout check 500ms
    retries 3
    retry-on conn-failure
    option redispatch 1
    default-server inter 300ms fall 2 rise 2 check
frontend corral
    bind 127.0.0.1:{port}
    default_backend replicas
    http-after-response set-header x-served-by %s
backend replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri {check}
    http-check expect status 200
{servers}
"""


class HAProxy:
    """`haproxy -db` on a free port, round robin over `ports` (server names r0, r1, ...)."""

    def __init__(self, tmp: Path, ports: list[int], check: str = "/healthz") -> None:
        self.binary = require_binary("haproxy")
        self.port = free_port()
        self.sock = tmp / "haproxy.sock"
        self.config = tmp / "haproxy.cfg"
        servers = "\n".join(f"    server r{i} 127.0.0.1:{p}" for i, p in enumerate(ports))
        self.config.write_text(HAPROXY_CFG.format(sock=self.sock, port=self.port, servers=servers,
                                                  check=check))
        self.log = tmp / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        checked = subprocess.run([self.binary, "-c", "-q", "-f", str(self.config)], capture_output=True)
        assert checked.returncode == 0, checked.stderr.decode()
        self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config)],
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` for the backend's servers: {"r0": {"status": "UP", "scur": "2", ...}}."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.sock))
            s.sendall(b"show stat\n")
            data = b"".join(iter(lambda: s.recv(65536), b""))
        header, *rows = data.decode().strip().splitlines()
        names = header.lstrip("# ").split(",")
        stats = [dict(zip(names, row.split(","), strict=False)) for row in rows]
        return {r["svname"]: r for r in stats if r["pxname"] == "replicas" and r["svname"].startswith("r")}

    def wait_status(self, want: dict[str, str], timeout_s: float = 15) -> None:
        """Until each named server's status starts with the wanted one ("UP", "DOWN")."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = {name: row["status"] for name, row in self.servers().items()}
            if all(seen.get(name, "").startswith(status) for name, status in want.items()):
                return
            time.sleep(0.05)
        raise AssertionError(f"haproxy servers {seen}, wanted {want}")

    def close(self) -> None:
        stop(self.proc)


class RedisServer:
    """A private `redis-server` (no persistence) that a test may kill and start again."""

    def __init__(self, tmp: Path) -> None:
        self.binary = require_binary("redis-server")
        self.port = free_port()
        self.log = tmp / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        stop(self.proc)


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("record_overhead", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PgLink:
    """bench/record_overhead.py's PostgreSQL proxy (the single-process outage test's), run on a
    loop thread so several `corral serve` processes can reach the database through it and lose
    it together: `cut()` resets and refuses connections, `restore()` lets them through again."""

    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pg-link", daemon=True)
        self.thread.start()
        self.proxy: Any = _bench().Proxy(host, port, "refuse")
        self.port = int(self._call(self.proxy.start()))

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def cut(self) -> None:
        self.loop.call_soon_threadsafe(self.proxy.pause)

    def restore(self) -> None:
        self.loop.call_soon_threadsafe(self.proxy.resume)

    def close(self) -> None:
        self._call(self.proxy.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
