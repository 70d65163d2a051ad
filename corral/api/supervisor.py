"""`corral serve --workers N`: one supervisor process, N gateway processes behind one port.

Why processes: a gateway process is one event loop on one core; N processes use N cores.

What the supervisor does:

- reserves the port (binds it, SO_REUSEPORT, without listening: a busy port fails here, once),
  and each worker listens on its own SO_REUSEPORT socket, served with uvicorn as
  `corral serve --workers 1` would. Why not one socket bound here and inherited: its workers
  race to accept, and uvloop accepts every pending connection per wake-up, so one worker can
  take all of a client pool's keep-alive connections (bench/workers_scaling.py measured 99.7%
  of the CPU in one of two workers in one round); the kernel spreads SO_REUSEPORT connections
  by hash (49/51). ``CORRAL_SERVE_REUSEPORT=0`` (or a system without it) shares one socket;
- without ``redis_url``, hosts the local coordinator (corral.store.coordinator) that makes
  rate limits, budgets, breakers, retry budgets and the cache one set for all workers;
- starts the first worker alone and waits until it serves (it runs the migrations and, on a
  fresh database, creates and prints the bootstrap keys), then the others;
- restarts a worker that dies unexpectedly, with a backoff (0.5 s doubling to 30 s; reset
  once a worker has lived a minute), and logs it;
- on SIGTERM or SIGINT sends SIGTERM to every worker and waits for their graceful shutdown
  (uvicorn's, up to its timeout plus a margin; then SIGKILL), and exits 0.

A gateway process, supervised or alone (`--workers 1`), runs `GracefulServer`: after a graceful
stop on a signal it exits 0 too, as the supervisor does.

Workers run in their own session (process group), so a terminal's Ctrl-C reaches them once, through
the supervisor (uvicorn force-exits on a second SIGINT). A worker dies with its supervisor
(Linux PR_SET_PDEATHSIG, armed at its start, then a check that the parent is still the
supervisor; elsewhere it polls its parent id).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from corral.cache.memory import BoundedMemoryStore
from corral.core.drain import CUT_MARGIN_S, cut_open_streams
from corral.store.coordinated import ENV_COORDINATOR
from corral.store.coordinator import Coordinator, serve_coordinator

log = logging.getLogger("corral.serve")

ENV_SUPERVISED = "CORRAL_SUPERVISED"  # a worker's instructions from its supervisor (JSON)
ENV_REUSEPORT = "CORRAL_SERVE_REUSEPORT"
GRACE_MARGIN_S = 5.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
PR_SET_PDEATHSIG = 1


def default_workers(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: its CPU affinity (not the machine's count), and no more
    than its cgroup's CPU quota (a container limited to 2 CPUs on a 64-core node: 2 workers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpus(cgroup)
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_cpus(root: Path) -> int | None:
    """CPUs the cgroup's quota allows, rounded up (v2 ``cpu.max``, v1 ``cpu.cfs_*``); None: no quota."""
    try:
        if (root / "cpu.max").exists():
            quota, period = (root / "cpu.max").read_text().split()[:2]
        else:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def listening_socket(host: str, port: int, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    if listen:
        sock.listen(2048)
    return sock


# -- the worker's side --------------------------------------------------------------------


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that a graceful stop on SIGTERM or SIGINT exits with status 0.

    Why: once uvicorn has drained and shut down on a signal, it raises that signal again with the
    default handler restored, so the process dies by it: status 143 in a shell (-15 to Popen) for
    a stop that lost nothing, while the supervisor of `--workers 2+` exits 0 after the same stop.
    A script or process manager reading `$?` should see one answer for one outcome. A second
    SIGINT (uvicorn's forced exit, open requests cut) is still re-raised: not a graceful stop.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:  # runs before uvicorn's re-raise of what it captured: nothing left to raise
                if not self.force_exit:
                    self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's drain, with the streams still open near its deadline ended by an error
        event the client can act on, rather than cancelled mid-answer (corral.core.drain)."""
        limit = self.config.timeout_graceful_shutdown
        timer = None
        if limit is not None:
            timer = asyncio.get_running_loop().call_later(max(0.0, limit - CUT_MARGIN_S), self._cut)
        try:
            await super().shutdown(sockets)
        finally:
            if timer is not None:
                timer.cancel()

    @staticmethod
    def _cut() -> None:
        if cut := cut_open_streams():
            log.warning("graceful stop: %d stream(s) still open %.0f s before the deadline; ending them "
                        "with an error event", cut, CUT_MARGIN_S)


@dataclass(frozen=True)
class Supervised:
    """What a worker learns from its supervisor (``CORRAL_SUPERVISED``)."""

    index: int
    supervisor_pid: int
    fd: int | None  # the shared listening socket; None: bind our own with SO_REUSEPORT
    ready_fd: int | None  # written once serving (the first worker's start only)
    banner: bool  # print the banner even when no keys were created here

    @classmethod
    def from_env(cls) -> Supervised | None:
        raw = os.environ.get(ENV_SUPERVISED)
        if not raw:
            return None
        data = json.loads(raw)
        return cls(int(data["index"]), int(data["supervisor_pid"]), data.get("fd"), data.get("ready_fd"),
                   bool(data.get("banner")))

    def socket(self, host: str, port: int) -> socket.socket:
        if self.fd is not None:
            return socket.socket(fileno=self.fd)
        return listening_socket(host, port, reuse_port=True)

    def ready(self) -> None:
        if self.ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.ready_fd, b"r")
                os.close(self.ready_fd)

    def die_with_supervisor(self) -> None:
        """Exit (gracefully: SIGTERM) when the supervisor dies, even by SIGKILL."""
        armed = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
        if os.getppid() != self.supervisor_pid:  # it died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)
        if not armed:
            threading.Thread(target=self._watch_parent, daemon=True, name="supervisor-watch").start()

    def _watch_parent(self) -> None:
        while os.getppid() == self.supervisor_pid:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)


# -- the supervisor's side ----------------------------------------------------------------


@dataclass
class _Slot:
    index: int
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    pids: list[int] = field(default_factory=list)


class Supervisor:
    """Runs ``argv`` (a `corral serve --workers 1` command line) ``workers`` times on one port."""

    def __init__(self, argv: Sequence[str], workers: int, host: str, port: int, *, shared_state: bool,
                 graceful_s: float = 10.0) -> None:
        self.argv = list(argv)
        self.slots = [_Slot(i) for i in range(workers)]
        self.host, self.port = host, port
        self.shared_state = shared_state  # host the local coordinator (no redis_url)
        self.graceful_s = graceful_s
        self.reuse_port = hasattr(socket, "SO_REUSEPORT") and os.environ.get(ENV_REUSEPORT) != "0"
        self.sock: socket.socket | None = None
        self.state_dir: str | None = None
        self.stopping: asyncio.Event | None = None

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit code (0, or the first worker's failed start)."""
        if self.reuse_port:  # a plain bind first: another server's SO_REUSEPORT sockets refuse it,
            listening_socket(self.host, self.port, listen=False).close()  # else we would share its port
        self.sock = listening_socket(self.host, self.port, reuse_port=self.reuse_port,
                                     listen=not self.reuse_port)
        try:
            import uvloop

            return uvloop.run(self._main())
        finally:
            self.sock.close()
            if self.state_dir is not None:
                shutil.rmtree(self.state_dir, ignore_errors=True)

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        server = await self._coordinator() if self.shared_state else None
        try:
            first = self.slots[0]
            ready = await self._start(first, wait_ready=True)
            if not ready and not self.stopping.is_set():
                code = await first.proc.wait() if first.proc is not None else 1
                log.error("worker 0 exited during start-up (exit code %s)", code)
                return code or 1
            for slot in self.slots[1:]:
                if not self.stopping.is_set():
                    await self._start(slot)
            log.info("corral serve: %d workers on %s:%d (pids %s); shared state: %s", len(self.slots),
                     self.host, self.port, " ".join(str(s.proc.pid) for s in self.slots if s.proc),
                     "local coordinator" if self.shared_state else "redis_url")
            while not self.stopping.is_set():
                await self._watch()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 0.2)
            await self._stop_all()
            return 0
        finally:
            await self._stop_all()
            if server is not None:
                server.close()

    async def _coordinator(self) -> asyncio.AbstractServer:
        self.state_dir = tempfile.mkdtemp(prefix="corral-serve-")  # mode 0700: only we may connect
        path = os.path.join(self.state_dir, "coordinator.sock")
        return await serve_coordinator(Coordinator(BoundedMemoryStore()), path)

    def _env(self, slot: _Slot, ready_fd: int | None) -> dict[str, str]:
        first_start = slot.index == 0 and not slot.pids
        spec = {"index": slot.index, "supervisor_pid": os.getpid(), "ready_fd": ready_fd,
                "fd": None if self.reuse_port or self.sock is None else self.sock.fileno(),
                "banner": first_start}
        env = {**os.environ, ENV_SUPERVISED: json.dumps(spec)}
        env.pop(ENV_COORDINATOR, None)
        if self.state_dir is not None:
            env[ENV_COORDINATOR] = os.path.join(self.state_dir, "coordinator.sock")
        return env

    async def _start(self, slot: _Slot, *, wait_ready: bool = False) -> bool:
        """Start the slot's worker; with ``wait_ready``, True once it serves (False: it exited)."""
        fds = [] if self.reuse_port or self.sock is None else [self.sock.fileno()]
        read_end, write_end = os.pipe() if wait_ready else (None, None)
        try:
            if write_end is not None:
                fds.append(write_end)
            slot.proc = await asyncio.create_subprocess_exec(
                *self.argv, env=self._env(slot, write_end), pass_fds=fds, start_new_session=True)
        finally:
            if write_end is not None:
                os.close(write_end)
        slot.started, slot.restart_at = time.monotonic(), None
        slot.pids.append(slot.proc.pid)
        if len(slot.pids) > 1:
            log.warning("worker %d restarted (pid %d)", slot.index, slot.proc.pid)
        if read_end is None:
            return True
        return await self._ready(read_end)

    async def _ready(self, read_end: int) -> bool:
        """Whether the worker holding the pipe's write end serves: it writes a byte then; end of file
        if it exited first. False too if a stop is asked meanwhile (a start can take a while)."""
        assert self.stopping is not None
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[bytes] = loop.create_future()

        def on_readable() -> None:
            if not readable.done():
                readable.set_result(os.read(read_end, 1))

        loop.add_reader(read_end, on_readable)
        stop: asyncio.Future[Any] = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait([readable, stop], return_when=asyncio.FIRST_COMPLETED)
            return readable.done() and bool(readable.result())
        finally:
            stop.cancel()
            loop.remove_reader(read_end)
            os.close(read_end)

    async def _watch(self) -> None:
        """Restart workers that exited (not asked to), after their backoff."""
        now = time.monotonic()
        for slot in self.slots:
            if slot.proc is not None and (code := slot.proc.returncode) is not None:
                lived = now - slot.started
                slot.failures = 0 if lived >= STABLE_AFTER_S else slot.failures + 1
                delay = min(BACKOFF_MAX_S, 0.5 * 2 ** max(0, slot.failures - 1))
                log.warning("worker %d (pid %d) exited unexpectedly (exit code %s after %.1f s); "
                            "restarting it in %.1f s", slot.index, slot.proc.pid, code, lived, delay)
                slot.proc, slot.restart_at = None, now + delay
            if slot.proc is None and slot.restart_at is not None and slot.restart_at <= now:
                await self._start(slot)

    async def _stop_all(self) -> None:
        if self.sock is not None:  # our copy of the listener first: left open, the kernel would keep
            self.sock.close()  # accepting connections no worker serves (test_graceful_shutdown.py)
        running = [s.proc for s in self.slots if s.proc is not None and s.proc.returncode is None]
        for slot in self.slots:
            slot.restart_at = None
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        waits = asyncio.gather(*(proc.wait() for proc in running))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waits), self.graceful_s + GRACE_MARGIN_S)
        for proc in running:
            if proc.returncode is None:
                log.warning("worker pid %d did not stop in time; killing it", proc.pid)
                proc.kill()
        await waits
