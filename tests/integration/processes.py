"""`corral serve` as a real process, for tests that need one (SIGKILL, several replicas)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(config: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `corral serve -c config`; its output goes to `log` (a full pipe would stall it)."""
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "corral.cli", "serve", "-c", str(config),
                             "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, "SIM_KEY": "unused", **(env or {})})


def wait_ready(proc: subprocess.Popen[bytes], log: Path, port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"corral serve exited:\n{log.read_text()}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"corral serve did not come up:\n{log.read_text()}")


def banner_key(log: Path, which: str = "application key") -> str:
    """A key from the first start's banner: "application key" or "admin key"."""
    for line in log.read_text().splitlines():
        if which in line:
            return line.split()[-1]
    raise AssertionError(f"no {which} in the banner:\n{log.read_text()}")
