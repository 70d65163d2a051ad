"""The official openai SDK through Corral to simulated OpenAI, Anthropic and Gemini upstreams."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest

from corral.core.tokens import get_encoding
from corral.simulator import SimulatorThread, sim_text
from corral.simulator.openai_dialect import FINGERPRINT
from tests.conftest import RunningServer

DIALECT_MODELS = ["gpt-sim", "claude-sim", "gemini-sim"]
PROMPT = "Tell me about corrals please"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]


def client(corral: RunningServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=corral.url + "/v1", api_key=key or corral.app_key, max_retries=0)


def _messages() -> list[dict[str, str]]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}]


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_chat_completion(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    result = client(corral).chat.completions.create(model=model, messages=_messages(), max_tokens=6)
    assert result.choices[0].message.content == sim_text(PROMPT, 6)
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 6
    assert result.usage.prompt_tokens > 0
    assert result.model == model


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_streaming(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    stream = client(corral).chat.completions.create(
        model=model, messages=_messages(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == sim_text(PROMPT, 8)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 8, "one chunk per token"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_tool_calls(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    result = client(corral).chat.completions.create(
        model=model, messages=_messages(), tools=TOOLS, tool_choice="required"
    )
    call = result.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert '"city"' in call.function.arguments
    assert result.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_streamed_tool_call_reassembles(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    stream = client(corral).chat.completions.create(
        model=model, messages=_messages(), tools=TOOLS, tool_choice="required", stream=True
    )
    name, args = "", ""
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name += call.function.name or ""
            args += call.function.arguments or ""
    assert name == "get_weather"
    assert args.replace(" ", "") == '{"city":"x"}'


@pytest.mark.parametrize(("fault", "error", "status"), [
    ("rate_limit", openai.RateLimitError, 429),
    ("server_error", openai.InternalServerError, 503),
    ("unavailable", openai.InternalServerError, 503),
    ("overloaded", openai.InternalServerError, 503),
    ("context_length", openai.BadRequestError, 400),
    ("content_policy", openai.BadRequestError, 400),
    ("hang", openai.InternalServerError, 504),
])
@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_upstream_faults_surface_as_sdk_errors(
    corral: RunningServer, sim: SimulatorThread, model: str, fault: str, error: type, status: int
) -> None:
    sim.state.schedule.replace([{"fault": fault}])
    with pytest.raises(error) as info:
        client(corral).chat.completions.create(model=model, messages=_messages())
    assert info.value.status_code == status
    body = info.value.body
    assert isinstance(body, dict) and body.get("message")
    if fault == "context_length":
        assert body["code"] == "context_length_exceeded"
    if fault == "content_policy":
        assert body["code"] == "content_policy_violation"
    if fault == "rate_limit":
        assert info.value.response.headers.get("retry-after") == "1"


@pytest.mark.parametrize("model", DIALECT_MODELS)
@pytest.mark.parametrize("fault", ["reset", "stream_error", "malformed_sse"])
def test_mid_stream_failure_raises_in_sdk(
    corral: RunningServer, sim: SimulatorThread, model: str, fault: str
) -> None:
    sim.state.schedule.replace([{"fault": fault}])
    stream = client(corral).chat.completions.create(model=model, messages=_messages(), stream=True)
    received = ""
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert received, "the failure came after some content had streamed"


def test_sdk_error_types_for_client_mistakes(corral: RunningServer, sim: SimulatorThread) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(corral).chat.completions.create(model="nope", messages=_messages())
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        client(corral, key="sk-corral-wrong").chat.completions.create(model="gpt-sim", messages=_messages())
    with pytest.raises(openai.BadRequestError) as bad:
        client(corral).chat.completions.create(model="gpt-sim", messages=[{"role": "user"}])  # type: ignore[list-item]
    assert bad.value.param == "messages[0].content"


def test_unsupported_parameter_for_provider_is_400(corral: RunningServer, sim: SimulatorThread) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(corral).chat.completions.create(model="claude-sim", messages=_messages(), seed=3)
    assert info.value.param == "seed"
    assert sim.state.stats.total == 0, "nothing unsupported reaches the provider"


def test_extra_params_pass_through_to_openai_compatible(corral: RunningServer, sim: SimulatorThread) -> None:
    result = client(corral).chat.completions.create(
        model="gpt-sim", messages=_messages(), presence_penalty=0.5, extra_body={"top_k": 3}
    )
    assert result.choices[0].message.content


@pytest.mark.parametrize("model", ["embed-sim", "gemini-embed"])
def test_embeddings(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    result = client(corral).embeddings.create(model=model, input=["alpha", "beta", "alpha"])
    vectors = [d.embedding for d in result.data]
    assert len(vectors) == 3 and len(vectors[0]) > 0
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]


def test_embeddings_base64(corral: RunningServer, sim: SimulatorThread) -> None:
    floats = client(corral).embeddings.create(model="embed-sim", input="alpha", encoding_format="float")
    # The SDK decodes base64 itself when it asked for it implicitly; compare with an explicit float call.
    default = client(corral).embeddings.create(model="embed-sim", input="alpha")
    assert [round(x, 5) for x in default.data[0].embedding] == [round(x, 5) for x in floats.data[0].embedding]


@pytest.mark.parametrize("model", ["embed-sim", "gemini-embed"])
def test_token_array_inputs_embed_as_their_text(corral: RunningServer, sim: SimulatorThread,
                                                model: str) -> None:
    """LangChain's OpenAIEmbeddings sends cl100k token ids by default; they used to get a 400."""
    enc = get_encoding("cl100k_base")
    texts = ["alpha", "Corral routes requests: ünïcode too"]
    as_text = client(corral).embeddings.create(model=model, input=texts)
    as_ids = client(corral).embeddings.create(model=model, input=[enc.encode(t) for t in texts])
    one = client(corral).embeddings.create(model=model, input=enc.encode(texts[0]))
    assert [d.embedding for d in as_ids.data] == [d.embedding for d in as_text.data]
    assert one.data[0].embedding == as_text.data[0].embedding


@pytest.mark.parametrize(("raw", "message"), [
    ([[1, 2], [100_277]], "input[1] holds token id 100277"),
    ([[1, 2], []], "must be a non-empty string"),
    ([[1, "a"]], "must be a non-empty string"),
    ([[1]] * 2049, "at most 2048"),
    ([[1] * 8193], "at most 8192"),
])
def test_bad_token_arrays_get_a_400_naming_them(corral: RunningServer, raw: Any, message: str) -> None:
    with pytest.raises(openai.BadRequestError, match=re.escape(message)) as info:
        client(corral).embeddings.create(model="embed-sim", input=raw)
    assert info.value.body["param"] == "input"  # type: ignore[index]


def test_models_list(corral: RunningServer) -> None:
    ids = {m.id for m in client(corral).models.list()}
    assert {"gpt-sim", "claude-sim", "gemini-sim"} <= ids


# --- fields beside the answer: nothing the provider says is silently dropped (issue 15, item 2) ---


def test_logprobs_fingerprint_and_tier_reach_the_client(corral: RunningServer, sim: SimulatorThread) -> None:
    """They used to be forwarded, returned by the upstream, and dropped: `logprobs: None`."""
    result = client(corral).chat.completions.create(
        model="gpt-sim", messages=_messages(), max_tokens=6, logprobs=True, top_logprobs=2
    )
    choice = result.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content is not None
    tokens = choice.logprobs.content
    assert "".join(t.token for t in tokens) == choice.message.content == sim_text(PROMPT, 6)
    assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token for t in tokens)
    assert all(t.logprob < 0 and t.bytes == list(t.token.encode()) for t in tokens)
    assert result.system_fingerprint == FINGERPRINT and result.service_tier == "default"
    assert choice.message.refusal is None
    plain = client(corral).chat.completions.create(model="gpt-sim", messages=_messages(), max_tokens=6)
    assert plain.choices[0].logprobs is None  # not asked for: none


def test_streamed_logprobs_arrive_with_their_chunks(corral: RunningServer, sim: SimulatorThread) -> None:
    stream = client(corral).chat.completions.create(
        model="gpt-sim", messages=_messages(), stream=True, logprobs=True, top_logprobs=1
    )
    chunks = [c for c in stream if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    tokens = [t for c in chunks if c.choices[0].logprobs for t in c.choices[0].logprobs.content or ()]
    assert "".join(t.token for t in tokens) == text == sim_text(PROMPT, 8)
    assert all(len(t.top_logprobs) == 1 for t in tokens)
    assert {c.system_fingerprint for c in chunks} == {FINGERPRINT}


@pytest.mark.parametrize("stream", [False, True])
def test_a_cache_hit_returns_what_the_miss_returned(corral: RunningServer, sim: SimulatorThread,
                                                    stream: bool) -> None:
    ask = {"model": "gpt-cached", "messages": [{"role": "user", "content": f"cache logprobs {stream}"}],
           "max_tokens": 5, "temperature": 0, "logprobs": True, "top_logprobs": 2}
    miss = client(corral).chat.completions.with_raw_response.create(**ask)
    hit = client(corral).chat.completions.with_raw_response.create(**ask, stream=stream)
    assert miss.headers["x-corral-cache"] == "miss" and hit.headers["x-corral-cache"] == "hit"
    first = miss.parse()
    if stream:
        chunks = [c for c in hit.parse() if c.choices]
        tokens = [t for c in chunks if c.choices[0].logprobs for t in c.choices[0].logprobs.content or ()]
        fingerprints = {c.system_fingerprint for c in chunks if c.system_fingerprint}
    else:
        again = hit.parse()
        tokens, fingerprints = again.choices[0].logprobs.content, {again.system_fingerprint}
    assert [t.token for t in tokens] == [t.token for t in first.choices[0].logprobs.content]
    assert fingerprints == {FINGERPRINT}
