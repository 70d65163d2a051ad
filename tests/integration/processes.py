"""`corral serve` as a real process, for tests that need one (SIGKILL, several replicas)."""

from __future__ import annotations

import functools
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


def serve(config: Path, log: Path, env: dict[str, str] | None = None,
          workers: int | None = 1) -> subprocess.Popen[bytes]:
    """Start `corral serve -c config`; its output goes to `log` (a full pipe would stall it).
    `workers`: `--workers N` (1: one process, which SIGKILL tests need); None: the CLI's default."""
    out = log.open("ab")
    extra = ["--workers", str(workers)] if workers is not None and _has_workers_option() else []
    return subprocess.Popen([sys.executable, "-m", "corral.cli", "serve", "-c", str(config),
                             "--log-level", "warning", *extra], stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, "SIM_KEY": "unused", **(env or {})})


@functools.cache
def _has_workers_option() -> bool:
    from corral.cli import serve as serve_command

    return any(param.name == "workers" for param in serve_command.params)


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
