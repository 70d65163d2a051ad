"""SIGTERM, as Docker and Kubernetes send it, to real `corral serve` and `corral worker` processes.

What a rolling update needs from a stopping gateway, checked here against the simulator
(slow enough that work is in flight at the signal):

- the stream that is open at the signal is finished, to ``data: [DONE]`` (drained, not cut);
- new connections are refused from the signal on (uvicorn closes its listener first), so a
  load balancer fails over before it has sent anything: safe even for a POST;
- the process exits within the grace time the deploy files give it (deploy/);
- a background job that was running is given back to the queue (or finished), never lost:
  its row is read from the database once the process is gone.

A `corral worker` process gets the same check for its jobs (tests/jobs covers the worker's
stop in-process; the signal path of the command is covered here).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from openai import OpenAI
from sqlalchemy import select

from corral.api.app import create_app
from corral.cli import GRACEFUL_S
from corral.config import load_settings
from corral.core.drain import CUT_MARGIN_S
from corral.simulator import SimSettings, SimulatorThread
from corral.store import Database
from corral.store.schema import jobs, requests
from corral.store.testing import run_sync
from tests.conftest import serve_in_thread
from tests.integration.processes import banner_key, free_port, serve, wait_ready

MODEL = "gpt-sim"
STREAM_TOKENS = 30  # at 10 tokens/s: a 3 s stream, open when the signal comes
DRAIN_S = GRACEFUL_S  # how long corral serve lets open requests finish (uvicorn's graceful timeout)
JOB_WAIT_S = 1.0  # jobs.shutdown_timeout_s here: the background job (40 s) is released, not finished
SLOW = SimSettings(tokens_per_second=10, output_tokens=400)  # non-streaming answers wait 40 s


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'corral.db'}"
    return str(request.getfixturevalue("pg_url"))


def _config(tmp_path: Path, db_url: str, sim_url: str, port: int, graceful_s: int = GRACEFUL_S) -> Path:
    path = tmp_path / "corral.yaml"
    path.write_text(yaml.safe_dump({
        "home": str(tmp_path / "home"),
        "database_url": db_url,
        "server": {"port": port, "graceful_shutdown_s": graceful_s},
        "providers": {"sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}},
        "models": {MODEL: {"deployments": [{"provider": "sim", "model": MODEL}]}},
        "jobs": {"poll_interval_s": 0.05, "lease_s": 30.0, "shutdown_timeout_s": JOB_WAIT_S},
    }))
    return path


def _background_response(base_url: str, key: str) -> str:
    answer = httpx.post(f"{base_url}/v1/responses", headers={"authorization": f"Bearer {key}"},
                        json={"model": MODEL, "input": "a long report, please", "background": True})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


async def _job_row(db_url: str, job_id: str) -> dict[str, Any]:
    db = await Database.connect(db_url)
    try:
        columns = (jobs.c.status, jobs.c.attempts, jobs.c.lease_owner, jobs.c.lease_token,
                   jobs.c.lease_expires_at)
        row = await db.fetch_one(select(*columns).where(jobs.c.id == job_id))
        assert row is not None, f"job {job_id} is gone"
        return dict(row)
    finally:
        await db.close()


def _wait_running(db_url: str, job_id: str, timeout_s: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (row := run_sync(_job_row(db_url, job_id)))["status"] != "in_progress":
        assert time.monotonic() < deadline, f"the job never started: {row}"
        time.sleep(0.1)
    return row


def _assert_released(row: dict[str, Any]) -> None:
    """Back in the queue with no lease (so another worker claims it at once, not after the lease
    lapses), and the interrupted attempt not counted against it. lease_owner keeps the last one."""
    assert (row["status"], row["lease_token"], row["lease_expires_at"], row["attempts"]) == (
        "queued", None, None, 0), row


@dataclass
class Stream:
    """A streamed chat completion read on a thread, so the test can signal while it is open."""

    url: str
    key: str
    lines: list[str] = field(default_factory=list)
    first_chunk: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        body = {"model": MODEL, "stream": True, "max_tokens": STREAM_TOKENS,
                "messages": [{"role": "user", "content": "count slowly"}]}
        try:
            with httpx.stream("POST", f"{self.url}/v1/chat/completions", json=body, timeout=30,
                              headers={"authorization": f"Bearer {self.key}"}) as answer:
                assert answer.status_code == 200
                for line in answer.iter_lines():
                    if line.startswith("data: "):
                        self.lines.append(line)
                        if '"content":"' in line and '"content":""' not in line:
                            self.first_chunk.set()  # a token: the answer is under way
        except BaseException as exc:  # noqa: BLE001 - reported by the test, on its own thread
            self.error = exc
        finally:
            self.first_chunk.set()

    def join(self, timeout_s: float) -> None:
        assert self.thread is not None
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "the stream did not end"

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()


def _refused_while(stream: Stream, port: int, timeout_s: float = 3) -> float:
    """Seconds from now until a new connection to `port` is refused; fails if the stream ends first.

    uvicorn notices the signal at its next tick (every 0.1 s): a probe in that window may still be
    answered, or accepted and then closed unanswered. Probes that hang (a listener left open with
    nobody accepting) use up the time and fail the test.
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
        except httpx.ConnectError:
            assert not stream.done, "the stream had already ended: nothing was being drained"
            return time.monotonic() - start
        except httpx.TransportError:
            pass  # accepted just before the listener closed, then closed by the shutdown
        time.sleep(0.02)
    raise AssertionError(f"new connections were not refused within {timeout_s} s of SIGTERM")


# One process (what deploy/ runs per container) on both databases; the supervisor of
# `--workers N` on PostgreSQL, the database several processes share in production.
@pytest.mark.parametrize(("db_url", "workers"), [("sqlite", 1), ("postgresql", 1), ("postgresql", 2)],
                         indirect=["db_url"])
def test_sigterm_drains_the_open_stream_refuses_new_connections_and_releases_jobs(
        tmp_path: Path, db_url: str, workers: int) -> None:
    with SimulatorThread(SLOW) as sim:
        port = free_port()
        log = tmp_path / "serve.log"
        proc = serve(_config(tmp_path, db_url, sim.url, port), log, workers=workers)
        try:
            wait_ready(proc, log, port)
            url, key = f"http://127.0.0.1:{port}", banner_key(log)
            assert httpx.get(f"{url}/readyz").status_code == 200
            job_id = _background_response(url, key)
            _wait_running(db_url, job_id)
            stream = Stream(url, key)
            stream.start()
            assert stream.first_chunk.wait(15) and stream.error is None, stream.error
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            refused_after = _refused_while(stream, port)
            stream.join(DRAIN_S)
            proc.wait(timeout=DRAIN_S + JOB_WAIT_S + 10)
            exited_after = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    output = log.read_text()
    print(f"refused {refused_after:.2f} s after SIGTERM, exited after {exited_after:.2f} s "
          f"with {proc.returncode}")
    assert stream.error is None, f"the open stream was cut: {stream.error!r}"
    assert stream.lines[-1] == "data: [DONE]", stream.lines[-3:]
    contents = [line for line in stream.lines if '"content":"' in line and '"content":""' not in line]
    assert len(contents) == STREAM_TOKENS, f"the stream was cut short: {len(contents)} chunks"
    assert any('"finish_reason":"length"' in line for line in stream.lines[-3:]), stream.lines[-3:]
    # A graceful stop exits 0, one process or a supervisor (uvicorn's re-raise of the signal,
    # which read as 143, is suppressed: corral.api.supervisor.GracefulServer).
    assert proc.returncode == 0, output
    assert "timeout graceful shutdown exceeded" not in output, output
    assert exited_after < DRAIN_S + JOB_WAIT_S + 5, output
    _assert_released(run_sync(_job_row(db_url, job_id)))


def test_a_worker_process_gives_its_running_job_back_on_sigterm(tmp_path: Path, pg_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL only: what a separate worker process shares with gateways in deploy/."""
    db_url = pg_url
    monkeypatch.setenv("SIM_KEY", "unused")  # the worker process inherits it
    with SimulatorThread(SLOW) as sim:
        config = _config(tmp_path, db_url, sim.url, 0)
        for server in serve_in_thread(create_app(load_settings(config), warmup=False, run_jobs=False)):
            job_id = _background_response(server.url, server.app_key)
            worker = subprocess.Popen([sys.executable, "-m", "corral.cli", "worker", "-c", str(config)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                running = _wait_running(db_url, job_id)
                worker.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                out, _ = worker.communicate(timeout=JOB_WAIT_S + 15)
                exited_after = time.monotonic() - signalled
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(timeout=10)
            print(f"corral worker exited {worker.returncode} after {exited_after:.2f} s")
            assert worker.returncode == 0, out
            assert "stopping" in out, out
            assert exited_after < JOB_WAIT_S + 5, out
            assert f":{worker.pid}:" in running["lease_owner"], running  # the worker process ran it
            _assert_released(run_sync(_job_row(db_url, job_id)))


def test_a_stream_longer_than_the_grace_period_ends_with_an_error_event_the_sdk_raises(
        tmp_path: Path) -> None:
    """Not cut mid-answer by uvicorn's deadline (no error, a traceback per stream in the log): the
    OpenAI SDK raises an APIError saying to send it again, and the record says why it ended."""
    grace_s = 2
    db_url = f"sqlite:///{tmp_path / 'corral.db'}"
    with SimulatorThread(SLOW) as sim:
        port = free_port()
        log = tmp_path / "serve.log"
        proc = serve(_config(tmp_path, db_url, sim.url, port, graceful_s=grace_s), log, workers=1)
        try:
            wait_ready(proc, log, port)
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=banner_key(log), max_retries=0)
            chunks = iter(client.chat.completions.create(  # 200 tokens at 10 a second: 20 s
                model=MODEL, stream=True, max_tokens=200, messages=[{"role": "user", "content": "go on"}]))
            next(chunks)
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            with pytest.raises(openai.APIError, match="shutting down") as raised:
                for _ in chunks:
                    pass
            ended_after = time.monotonic() - signalled
            proc.wait(timeout=grace_s + 10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    output = log.read_text()
    print(f"the stream ended {ended_after:.2f} s after SIGTERM: {raised.value}")
    assert grace_s - CUT_MARGIN_S - 0.3 < ended_after < grace_s, output
    assert proc.returncode == 0, output
    assert "timeout graceful shutdown exceeded" not in output and "Traceback" not in output, output
    rows = run_sync(_records(db_url))
    assert [tuple(r.values()) for r in rows] == [(True, "error", 200, "ShuttingDown")], rows  # 200: sent


async def _records(db_url: str) -> list[dict[str, Any]]:
    db = await Database.connect(db_url)
    try:
        rows = await db.fetch_all(select(requests.c.stream, requests.c.status, requests.c.http_status,
                                         requests.c.error_type))
        return [dict(r) for r in rows]
    finally:
        await db.close()
