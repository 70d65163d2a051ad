"""Fault schedule rules, admin endpoints (/sim/*), the thread runner and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from corral.simulator import FaultSchedule, SimSettings, SimulatorThread, running_simulator
from corral.simulator.cli import simulate
from tests.simulator.helpers import chat_request

ROOT = Path(__file__).resolve().parents[2]


def _run(schedule: FaultSchedule, n: int, dialect: str = "openai", model: str = "m") -> list[str | None]:
    return [schedule.decide(dialect, model) for _ in range(n)]


def test_every_first_after() -> None:
    assert _run(FaultSchedule.parse([{"fault": "rate_limit", "every": 3}]), 7) == [
        None,
        None,
        "rate_limit",
        None,
        None,
        "rate_limit",
        None,
    ]
    assert _run(FaultSchedule.parse([{"fault": "server_error", "first": 2}]), 4) == [
        "server_error",
        "server_error",
        None,
        None,
    ]
    after = FaultSchedule.parse([{"fault": "unavailable", "after": 2, "first": 1}])
    assert _run(after, 5) == [None, None, "unavailable", None, None]
    every_after = FaultSchedule.parse([{"fault": "hang", "after": 1, "every": 2}])
    assert _run(every_after, 6) == [None, None, "hang", None, "hang", None]


def test_first_matching_rule_wins_but_all_rules_count() -> None:
    schedule = FaultSchedule.parse([{"fault": "reset", "first": 1}, {"fault": "overloaded", "every": 2}])
    assert _run(schedule, 4) == ["reset", "overloaded", None, "overloaded"]


def test_model_glob_and_dialect_filters() -> None:
    schedule = FaultSchedule.parse(
        [{"fault": "rate_limit", "model": "gpt-*"}, {"fault": "overloaded", "dialect": "anthropic"}]
    )
    assert schedule.decide("openai", "gpt-4o") == "rate_limit"
    assert schedule.decide("openai", "claude-x") is None
    assert schedule.decide("anthropic", "claude-x") == "overloaded"
    assert schedule.decide("gemini", "gemini-pro") is None
    endpoint = FaultSchedule.parse([{"fault": "server_error", "endpoint": "embeddings"}])
    assert endpoint.decide("openai", "m", "chat") is None
    assert endpoint.decide("openai", "m", "embeddings") == "server_error"


def test_probability_is_seeded_and_reproducible() -> None:
    rules = [{"fault": "server_error", "probability": 0.5}]
    first = _run(FaultSchedule.parse(rules, seed=7), 200)
    assert first == _run(FaultSchedule.parse(rules, seed=7), 200)
    assert first != _run(FaultSchedule.parse(rules, seed=8), 200)
    assert 60 < first.count("server_error") < 140
    again = FaultSchedule.parse(rules, seed=7)
    _run(again, 50)
    again.reset()
    assert _run(again, 200) == first
    assert _run(FaultSchedule.parse([{"fault": "reset", "probability": 0}]), 50) == [None] * 50
    assert _run(FaultSchedule.parse([{"fault": "reset", "probability": 1}]), 5) == ["reset"] * 5


@pytest.mark.parametrize(
    "bad",
    [
        [{"fault": "gremlins"}],
        [{"fault": "reset", "probability": 1.5}],
        [{"fault": "reset", "every": 0}],
        [{"fault": "reset", "dialect": "cohere"}],
        [{"fault": "reset", "endpoint": "images"}],  # images.generations, .edits or .variations
        [{"fault": "reset", "colour": "red"}],
        {"not": "a list"},
    ],
)
def test_invalid_rules_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        FaultSchedule.parse(bad)


def test_schedule_files_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "faults.yaml"
    yaml_file.write_text("faults:\n  - fault: rate_limit\n    every: 2\n    model: 'sim-*'\n")
    schedule = FaultSchedule.from_file(yaml_file)
    assert schedule.to_list() == [{"fault": "rate_limit", "model": "sim-*", "every": 2}]
    json_file = tmp_path / "faults.json"
    json_file.write_text(json.dumps([{"fault": "hang", "first": 1}]))
    assert FaultSchedule.from_file(json_file).to_list() == [{"fault": "hang", "first": 1}]


@pytest.mark.asyncio
async def test_schedule_over_http_and_admin_endpoints() -> None:
    async with (
        running_simulator(faults=[{"fault": "rate_limit", "every": 2}]) as base,
        aiohttp.ClientSession() as s,
    ):
        statuses = []
        for dialect in ("openai", "anthropic", "gemini", "openai"):
            url, body = chat_request(base, dialect)
            async with s.post(url, json=body) as r:
                statuses.append(r.status)
        assert statuses == [200, 429, 200, 429]
        url, body = chat_request(base, "openai")
        async with s.post(url, json=body, headers={"x-sim-fault": "none"}) as r:
            assert r.status == 200  # the header wins over the schedule
        async with s.get(f"{base}/sim/stats") as r:
            stats = await r.json()
        assert stats["total"] == 5
        assert stats["dialects"] == {"openai": 3, "anthropic": 1, "gemini": 1}
        assert stats["models"] == {"sim-model": 5}
        assert stats["faults"] == {"rate_limit": 2}
        assert stats["faults_injected"] == 2

        new = [{"fault": "server_error", "first": 1, "model": "only-*"}]
        async with s.put(f"{base}/sim/faults", json=new) as r:
            assert r.status == 200
        async with s.get(f"{base}/sim/faults") as r:
            assert await r.json() == new
        url, body = chat_request(base, "openai", model="only-this")
        async with s.post(url, json=body) as r:
            assert r.status == 500
        async with s.post(url, json=body) as r:
            assert r.status == 200
        async with s.put(f"{base}/sim/faults", json=[{"fault": "nope"}]) as r:
            assert r.status == 400

        async with s.post(f"{base}/sim/reset") as r:
            assert r.status == 200
        async with s.get(f"{base}/sim/stats") as r:
            stats = await r.json()
        assert stats["total"] == 0 and stats["dialects"] == {} and stats["faults"] == {}
        async with s.post(url, json=body) as r:
            assert r.status == 500  # reset restarted the rule counters too

        async with s.patch(f"{base}/sim/settings", json={"output_tokens": 2, "latency_ms": 0}) as r:
            assert (await r.json())["output_tokens"] == 2
        async with s.patch(f"{base}/sim/settings", json={"bogus": 1}) as r:
            assert r.status == 400
        url, body = chat_request(base, "anthropic")
        async with s.post(url, json=body) as r:
            assert (await r.json())["usage"]["output_tokens"] == 2
        async with s.get(f"{base}/sim/health") as r:
            health = await r.json()
            assert r.headers["x-corral-simulator"] == "1"
        assert health["simulator"] is True and "test" in health["notice"]


def test_simulator_thread_with_sync_client() -> None:
    with SimulatorThread(SimSettings(output_tokens=3)) as sim:
        url, body = chat_request(sim.url, "openai")
        req = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            data = json.loads(resp.read())
            assert resp.headers["x-corral-simulator"] == "1"
        assert data["usage"]["completion_tokens"] == 3
        assert sim.state.stats.total == 1
        req = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"x-sim-fault": "unavailable"}
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 503
        info.value.close()


def test_cli_help_says_it_is_a_test_tool() -> None:
    result = CliRunner().invoke(simulate, ["--help"])
    assert result.exit_code == 0
    assert "test and benchmark tool" in result.output
    for option in (
        "--latency-ms",
        "--ttft-ms",
        "--tps",
        "--output-tokens",
        "--context-window",
        "--faults",
        "--require-key",
        "--seed",
        "--host",
        "--port",
    ):
        assert option in result.output


def test_cli_rejects_a_bad_schedule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- fault: gremlins\n")
    result = CliRunner().invoke(simulate, ["--faults", str(bad)])
    assert result.exit_code != 0
    assert "gremlins" in result.output


def test_python_dash_m_serves(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps([{"fault": "rate_limit", "first": 1}]))
    cmd = [
        sys.executable,
        "-m",
        "corral.simulator",
        "--port",
        "0",
        "--faults",
        str(faults),
        "--require-key",
        "k",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = ""
        for _ in range(5):
            line = proc.stderr.readline()
            if "Listening on" in line:
                break
        base = line.split("Listening on", 1)[1].strip()
        url, body = chat_request(base, "anthropic")
        headers = {"x-api-key": "k", "Content-Type": "application/json"}
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 429 and info.value.headers["retry-after"] == "1"
        info.value.close()
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["type"] == "message"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == 0
