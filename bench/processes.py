"""Stopping the processes a benchmark started: SIGTERM to all, a shared grace period, then SIGKILL.

One place for what the harnesses (gateway_overhead.Processes, soak.Servers, case_study.stack.Stack)
each wrote by hand. Terminating every process before waiting on any lets them shut down in
parallel (a gateway draining while its simulator exits), so a run's teardown costs one grace
period, not one per process; a process that ignores SIGTERM is killed and reaped, so no zombie
or stray server outlives the run. Only the processes passed in are signalled, by their handles.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable


def stop_all(procs: Iterable[subprocess.Popen[bytes]], grace_s: float = 15.0) -> None:
    """Terminate each still-running process, wait up to `grace_s` in all, then kill the rest."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
