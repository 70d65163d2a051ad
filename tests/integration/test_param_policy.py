"""`unsupported_params: drop | translate` on Claude routes, through the openai SDK and the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from corral.api.app import create_app
from corral.simulator import SimulatorThread
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration.conftest import SIM_KEY
from tests.integration.records import stored_records


@pytest.fixture(scope="module")
def gateway(simulator: SimulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    mp = pytest.MonkeyPatch()
    mp.setenv("SIM_KEY", SIM_KEY)
    claude = {"deployments": [{"provider": "an", "model": "claude-sim"}], "retry": {"max_attempts": 1}}
    settings = settings_for(
        tmp_path_factory.mktemp("params"),
        {"an": {"type": "anthropic", "base_url": simulator.url, "api_key_env": "SIM_KEY"}},
        {"claude-strict": claude, "claude-drop": {**claude, "unsupported_params": "drop"},
         "claude-translate": {**claude, "unsupported_params": "translate"}},
    )
    try:
        yield from serve_in_thread(create_app(settings, warmup=False))
    finally:
        mp.undo()


ASK = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 3000, "seed": 7,
       "extra_body": {"store": True, "reasoning_effort": "low"}}


def _client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)


def test_error_policy_refuses_naming_the_parameter(gateway: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        _client(gateway).chat.completions.create(model="claude-strict", **ASK)  # type: ignore[call-overload]
    assert err.value.body["param"] in {"seed", "store", "reasoning_effort"}  # type: ignore[index]


@pytest.mark.parametrize(("model", "dropped", "translated"), [
    ("claude-drop", ["reasoning_effort", "seed", "store"], []),
    ("claude-translate", ["seed", "store"], ["reasoning_effort"]),
])
def test_the_answer_and_the_record_say_what_changed(gateway: RunningServer, sim: SimulatorThread, model: str,
                                                    dropped: list[str], translated: list[str]) -> None:
    raw = _client(gateway).chat.completions.with_raw_response.create(model=model, **ASK)  # type: ignore[call-overload]
    assert raw.parse().choices[0].message.content
    assert sorted(raw.headers["x-corral-dropped-params"].split(",")) == sorted(dropped + translated)
    request_id = raw.headers["x-request-id"]
    [row] = asyncio.run(stored_records(gateway, lambda r: r["request_id"] == request_id))
    notes = row["extras"]["params"]
    assert sorted(notes["dropped"]) == dropped and notes["translated"] == translated
