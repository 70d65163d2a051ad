"""The official openai SDK through Corral to the simulator's Bedrock dialect (Converse and
ConverseStream), every request SigV4-signed by Corral and verified by the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from corral.api.app import create_app
from corral.simulator import SimSettings, SimulatorThread, sim_text
from tests.conftest import RunningServer, serve_in_thread, settings_for

SECRET = "bedrock-sim-secret-0123456789"
PROMPT = "Tell me about corrals please"
MODELS = ["nova-br", "claude-br", "claude-br-key"]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]


def aws_test_env(mp: pytest.MonkeyPatch, home: Path, secret: str) -> None:
    """Static test credentials; no host profile, credentials file or metadata endpoint."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", "AKIDCORRALTEST")
    mp.setenv("AWS_SECRET_ACCESS_KEY", secret)
    mp.setenv("AWS_SESSION_TOKEN", "corral-test-session-token")
    mp.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread(SimSettings(output_tokens=8, require_key=SECRET)) as sim:
        yield sim


@pytest.fixture(scope="module")
def corral(simulator: SimulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("corral")
    mp = pytest.MonkeyPatch()
    aws_test_env(mp, home, SECRET)
    mp.setenv("BR_API_KEY", SECRET)  # the simulator takes a bearer key equal to its secret
    common = {"type": "bedrock", "base_url": simulator.url, "read_timeout_s": 5}
    plain = {"retry": {"max_attempts": 1}, "cache_fallback": False}
    settings = settings_for(
        home,
        {"br": {**common, "options": {"region": "us-east-1"}},
         "brk": {**common, "api_key_env": "BR_API_KEY", "options": {"region": "eu-west-1"}}},
        {"nova-br": {"deployments": [{"provider": "br", "model": "amazon.nova-pro-v1:0"}], **plain},
         "claude-br": {"deployments": [{"provider": "br",
                                        "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}], **plain},
         "claude-br-key": {"deployments": [{"provider": "brk",
                                            "model": "global.anthropic.claude-haiku-4-5-20251001-v1:0"}],
                           **plain}},
    )
    try:
        yield from serve_in_thread(create_app(settings, warmup=False))
    finally:
        mp.undo()


def client(corral: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=corral.url + "/v1", api_key=corral.app_key, max_retries=0)


def _messages() -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}]


@pytest.mark.parametrize("model", MODELS)
def test_chat_completion(corral: RunningServer, simulator: SimulatorThread, model: str) -> None:
    rejected = simulator.state.stats.rejected
    result = client(corral).chat.completions.create(model=model, messages=_messages(), max_tokens=6)
    assert result.choices[0].message.content == sim_text(PROMPT, 6)
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 6 and result.usage.prompt_tokens > 0
    assert result.model == model
    assert simulator.state.stats.rejected == rejected, "every signature verified"


@pytest.mark.parametrize("model", MODELS)
def test_streaming(corral: RunningServer, model: str) -> None:
    stream = client(corral).chat.completions.create(
        model=model, messages=_messages(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == sim_text(PROMPT, 8)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 8, "one chunk per token"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


def test_tool_call_and_round_trip(corral: RunningServer) -> None:
    result = client(corral).chat.completions.create(
        model="claude-br", messages=_messages(), tools=TOOLS, tool_choice="required")
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"x"}'
    follow_up: list[Any] = [*_messages(), choice.message.model_dump(exclude_none=True),
                            {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21C"}]
    answer = client(corral).chat.completions.create(model="claude-br", messages=follow_up, tools=TOOLS)
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content
    # Without tools, Converse would refuse the toolUse/toolResult blocks: they go as text.
    summary = client(corral).chat.completions.create(
        model="claude-br", messages=[*follow_up, {"role": "user", "content": "Summarize."}])
    assert summary.choices[0].message.content


def test_streamed_tool_call(corral: RunningServer) -> None:
    stream = client(corral).chat.completions.create(
        model="nova-br", messages=_messages(), tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, stream=True)
    deltas = [d for c in stream if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather" and deltas[0].id
    assert "".join(d.function.arguments or "" for d in deltas if d.function) == '{"city":"x"}'


def test_image_data_url_is_sent_as_bytes(corral: RunningServer) -> None:
    content = [{"type": "text", "text": PROMPT},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    result = client(corral).chat.completions.create(
        model="nova-br", messages=[{"role": "user", "content": content}], max_tokens=3)
    assert result.choices[0].message.content == sim_text(PROMPT, 3)


def test_what_converse_cannot_do_is_a_400(corral: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(corral).chat.completions.create(model="nova-br", messages=_messages(), seed=7)
    assert "seed" in str(info.value)
