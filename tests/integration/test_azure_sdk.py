"""The official openai SDK through Corral to simulated Azure OpenAI deployments.

Three providers of `type: azure` in front of the simulator's Azure dialect: the classic
deployments API with an api-key, the v1 API, and Microsoft Entra ID tokens from a local fake
token endpoint that first hands out a token the upstream refuses.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import openai
import pytest

from corral.api.app import create_app
from corral.simulator import SimulatorThread, sim_text
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration.conftest import SIM_KEY

PROMPT = "Tell me about corrals please"
CHAT_MODELS = ["azure-classic", "azure-v1", "azure-entra"]
TOOLS: Any = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]


class TokenEndpoint:
    """Entra ID's token endpoint, faked: a stale token first, then the key the simulator takes."""

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                endpoint.forms.append(parse_qs(self.rfile.read(length).decode()))
                token = "stale-token-0123456789" if len(endpoint.forms) == 1 else SIM_KEY
                body = json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": token})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tenant-x/oauth2/v2.0/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    yield endpoint
    endpoint.server.shutdown()


@pytest.fixture(scope="module")
def azure_corral(simulator: SimulatorThread, tokens: TokenEndpoint,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    mp = pytest.MonkeyPatch()
    mp.setenv("SIM_KEY", SIM_KEY)
    mp.setenv("AZ_SECRET", "client-secret-0123456789")
    common = {"type": "azure", "base_url": simulator.url, "read_timeout_s": 2}
    entra = {"auth": "entra", "token_url": tokens.url, "client_id": "app-1", "client_secret_env": "AZ_SECRET"}
    plain = {"retry": {"max_attempts": 1}, "cache_fallback": False}
    settings = settings_for(
        tmp_path_factory.mktemp("corral"),
        {"az": {**common, "api_key_env": "SIM_KEY"},
         "az1": {**common, "api_key_env": "SIM_KEY", "options": {"api": "v1"}},
         "aze": {**common, "options": entra}},
        {"azure-classic": {"deployments": [{"provider": "az", "model": "prod-chat"}], **plain},
         "azure-v1": {"deployments": [{"provider": "az1", "model": "prod-chat"}], **plain},
         "azure-entra": {"deployments": [{"provider": "aze", "model": "prod-chat"}], **plain},
         "azure-embed": {"deployments": [{"provider": "az", "model": "embed-prod"}]}},
    )
    try:
        yield from serve_in_thread(create_app(settings, warmup=False))
    finally:
        mp.undo()


def client(corral: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=corral.url + "/v1", api_key=corral.app_key, max_retries=0)


def _messages() -> Any:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}]


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_completion(azure_corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    result = client(azure_corral).chat.completions.create(model=model, messages=_messages(), max_tokens=6)
    assert result.choices[0].message.content == sim_text(PROMPT, 6)
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 6 and result.usage.prompt_tokens > 0
    assert result.model == model
    assert sim.state.stats.models["prod-chat"] >= 1 and set(sim.state.stats.dialects) == {"azure"}


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_streaming(azure_corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    stream = client(azure_corral).chat.completions.create(
        model=model, messages=_messages(), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == sim_text(PROMPT, 8)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    assert sim.state.stats.streams >= 1


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls(azure_corral: RunningServer, sim: SimulatorThread, stream: bool) -> None:
    made = client(azure_corral).chat.completions.create(
        model="azure-classic", messages=_messages(), tools=TOOLS, tool_choice="required", stream=stream)
    if not stream:
        call = made.choices[0].message.tool_calls[0]  # type: ignore[union-attr]
        assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"x"}')
        assert made.choices[0].finish_reason == "tool_calls"  # type: ignore[union-attr]
        return
    name, args = "", ""
    for chunk in made:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:  # type: ignore[union-attr]
            name += delta.function.name or ""
            args += delta.function.arguments or ""
    assert (name, args) == ("get_weather", '{"city":"x"}')


def test_embeddings(azure_corral: RunningServer, sim: SimulatorThread) -> None:
    result = client(azure_corral).embeddings.create(model="azure-embed", input=["alpha", "beta", "alpha"],
                                                    dimensions=12)
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [12, 12, 12] and vectors[0] == vectors[2] != vectors[1]
    assert sim.state.stats.endpoints == {"azure.embeddings": 1}
    assert sim.state.stats.models == {"embed-prod": 1}


def test_entra_token_is_fetched_once_refreshed_after_401_then_cached(
    azure_corral: RunningServer, sim: SimulatorThread, tokens: TokenEndpoint
) -> None:
    for _ in range(3):
        result = client(azure_corral).chat.completions.create(model="azure-entra", messages=_messages())
        assert result.choices[0].message.content == sim_text(PROMPT, 8)
    # Module-scoped: earlier tests may have used the provider; the stale token was fetched first.
    assert len(tokens.forms) == 2, "a stale token, then one that works and stays cached"
    assert tokens.forms[0]["grant_type"] == ["client_credentials"]
    assert tokens.forms[0]["scope"] == ["https://cognitiveservices.azure.com/.default"]
