"""/v1/responses over every provider wire format: the simulator speaks OpenAI, Anthropic and
Gemini, and the canonical types carry the request and answer between them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corral.api.app import create_app
from corral.simulator import SimSettings, SimulatorThread, sim_text
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.responses.server import client

SIM_KEY = "sim-responses-secret"
MODELS = ["gpt-sim", "claude-sim", "gemini-sim"]
PROMPT = "Tell me about corrals please"
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


@pytest.fixture(scope="module")
def corral(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    mp = pytest.MonkeyPatch()
    mp.setenv("SIM_RESPONSES_KEY", SIM_KEY)
    with SimulatorThread(SimSettings(output_tokens=24, require_key=SIM_KEY)) as sim:
        common = {"api_key_env": "SIM_RESPONSES_KEY"}
        settings = settings_for(
            tmp_path_factory.mktemp("dialects"),
            {"oa": {"type": "openai", "base_url": f"{sim.url}/v1", **common},
             "an": {"type": "anthropic", "base_url": sim.url, **common},
             "ge": {"type": "gemini", "base_url": sim.url, **common}},
            {"gpt-sim": {"deployments": [{"provider": "oa", "model": "gpt-sim"}]},
             "claude-sim": {"deployments": [{"provider": "an", "model": "claude-sim"}]},
             "gemini-sim": {"deployments": [{"provider": "ge", "model": "gemini-sim"}]}},
        )
        try:
            yield from serve_in_thread(create_app(settings, warmup=False))
        finally:
            mp.undo()


@pytest.mark.parametrize("model", MODELS)
def test_a_response_from_every_dialect(corral: RunningServer, model: str) -> None:
    made = client(corral).responses.create(model=model, input=PROMPT, instructions="Be terse.")
    assert made.status == "completed" and made.output_text == sim_text(PROMPT, 24)
    assert made.usage is not None and made.usage.output_tokens == 24 and made.usage.input_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_max_output_tokens_makes_it_incomplete(corral: RunningServer, model: str) -> None:
    made = client(corral).responses.create(model=model, input=PROMPT, max_output_tokens=16)
    assert made.status == "incomplete" and made.incomplete_details is not None
    assert made.incomplete_details.reason == "max_output_tokens"
    assert made.output_text == sim_text(PROMPT, 16) and made.output[0].status == "incomplete"
    stream = client(corral).responses.create(model=model, input=PROMPT, max_output_tokens=16, stream=True)
    events = list(stream)
    assert events[-1].type == "response.incomplete"


@pytest.mark.parametrize("model", MODELS)
def test_streaming_from_every_dialect(corral: RunningServer, model: str) -> None:
    with client(corral).responses.stream(model=model, input=PROMPT) as events:
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        final = events.get_final_response()
    assert text == final.output_text == sim_text(PROMPT, 24)
    assert final.usage is not None and final.usage.output_tokens == 24


@pytest.mark.parametrize("model", MODELS)
def test_tool_calls_from_every_dialect(corral: RunningServer, model: str) -> None:
    made = client(corral).responses.create(model=model, input=PROMPT, tools=TOOLS,  # type: ignore[arg-type]
                                           tool_choice="required")
    [call] = [item for item in made.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.arguments.replace(" ", "") == '{"city":"x"}'
    assert call.call_id
