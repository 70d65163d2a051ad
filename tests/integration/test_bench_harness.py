"""The benchmark harnesses measure what they claim: the minimal proxy relays answers and streams
unchanged (it is the baseline of bench/gateway_overhead.py), and bench/soak.py's verdicts
fail on growth and pass on a flat run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from corral.simulator import SimSettings, SimulatorThread
from tests.integration.processes import free_port

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def proxy_url() -> object:
    with SimulatorThread(SimSettings(output_tokens=5)) as sim:
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(BENCH / "minimal_proxy.py"), "--port", str(port),
                                 "--upstream", sim.url], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and proc.poll() is None, "the proxy did not start"
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/v1/chat/completions"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_minimal_proxy_relays_answers_and_streams(proxy_url: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "alpha beta gamma delta"}]}
    answer = httpx.post(proxy_url, json=body, headers={"authorization": "Bearer k"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"].startswith("alpha beta gamma")
    with httpx.stream("POST", proxy_url, json={**body, "stream": True}, timeout=10) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) >= 6  # one chunk per token, then [DONE]


def _run(rss_end: float, p50_end: float) -> dict[str, object]:
    soak = load("soak")
    samples = [{"t": t, "rss": 100e6 + (rss_end - 100e6) * t / 600, "fds": 40, "tasks": 15, "cache_bytes": 0}
               for t in range(0, 601, 10)]
    rows = [(t / 10, 0.1 + (p50_end - 0.1) * t / 6000, t % 2 == 0, "ok") for t in range(6000)]
    result: dict[str, object] = soak.analyse(samples, rows, 600, 120)
    return result


def test_soak_verdicts() -> None:
    flat = _run(rss_end=101e6, p50_end=0.1)
    assert flat["all_passed"], flat
    grown = _run(rss_end=120e6, p50_end=0.2)
    assert grown["pass"] == {"rss_growth_under_5pct": False, "fds_no_growth": True, "tasks_no_growth": True,
                             "latency_chat_steady": False, "latency_stream_steady": False}
