"""Corral in front of the simulator, in all three dialects, driven by the official SDKs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corral.api.app import create_app
from corral.simulator import SimSettings, SimulatorThread
from tests.conftest import RunningServer, serve_in_thread, settings_for

SIM_KEY = "sim-upstream-secret"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread(SimSettings(output_tokens=8, require_key=SIM_KEY, hang_s=5)) as sim:
        yield sim


@pytest.fixture
def sim(simulator: SimulatorThread) -> Iterator[SimulatorThread]:
    """The shared simulator with a clean fault schedule and counters for each test."""
    simulator.state.schedule.replace([])
    simulator.state.stats.reset()
    yield simulator
    simulator.state.schedule.replace([])


@pytest.fixture(scope="module")
def corral(simulator: SimulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    mp = pytest.MonkeyPatch()
    mp.setenv("SIM_KEY", SIM_KEY)
    common = {"api_key_env": "SIM_KEY", "read_timeout_s": 1.5}
    # One attempt and no cached fallback: these tests check how each upstream error surfaces.
    plain = {"retry": {"max_attempts": 1}, "cache_fallback": False}
    settings = settings_for(
        tmp_path_factory.mktemp("corral"),
        {
            "oa": {"type": "openai", "base_url": f"{simulator.url}/v1", **common},
            "an": {"type": "anthropic", "base_url": simulator.url, **common},
            "ge": {"type": "gemini", "base_url": simulator.url, **common},
        },
        {
            "gpt-sim": {"deployments": [{"provider": "oa", "model": "gpt-sim"}], **plain},
            "gpt-cached": {"deployments": [{"provider": "oa", "model": "gpt-sim"}], **plain,
                           "cache": {"exact": True, "ttl_s": 60}},
            "claude-sim": {"deployments": [{"provider": "an", "model": "claude-sim"}], **plain},
            "gemini-sim": {"deployments": [{"provider": "ge", "model": "gemini-sim"}], **plain},
            "embed-sim": {"deployments": [{"provider": "oa", "model": "text-embedding-sim"}]},
            "gemini-embed": {"deployments": [{"provider": "ge", "model": "embedding-sim"}]},
        },
    )
    try:
        yield from serve_in_thread(create_app(settings, warmup=False))
    finally:
        mp.undo()


