"""The OpenAI contract, from OpenAI's published OpenAPI description (shared/specs): every documented
chat-completions and embeddings request parameter, sent with the official SDK, reaches an
OpenAI-compatible upstream as sent (or is refused with a 400 naming it), and every documented
field of the upstream's answer reaches the client. A parameter or field the spec adds later
fails `test_every_documented_*_has_a_case` until it gets a case here: no silent loss.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import yaml

from corral.api.app import create_app
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration.recording_upstream import RecordingUpstream

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "openai-openapi.yaml"
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]

# A valid value for every documented chat parameter (`model` and `messages` are always sent).
CHAT_VALUES: dict[str, Any] = {
    "audio": {"voice": "alloy", "format": "wav"}, "frequency_penalty": 0.5, "function_call": "auto",
    "functions": [{"name": "f", "parameters": {"type": "object", "properties": {}}}],
    "logit_bias": {"50256": -100}, "logprobs": True, "max_completion_tokens": 7, "max_tokens": 7,
    "metadata": {"k": "v"}, "modalities": ["text"], "moderation": {"model": "omni-moderation-latest"},
    "prediction": {"type": "content", "content": "x"}, "presence_penalty": 0.5, "prompt_cache_key": "k",
    "prompt_cache_options": {"ttl": "24h"}, "prompt_cache_retention": "24h", "reasoning_effort": "low",
    "response_format": {"type": "json_object"}, "safety_identifier": "s1", "seed": 7, "service_tier": "auto",
    "stop": ["\n"], "store": True, "temperature": 0.5, "top_logprobs": 2, "top_p": 0.9, "user": "u1",
    "verbosity": "low", "web_search_options": {"search_context_size": "low"},
}
# Parameters that only mean something with another one, sent together.
WITH = {"top_logprobs": {"logprobs": True}, "parallel_tool_calls": {"tools": TOOLS},
        "tool_choice": {"tools": TOOLS}, "tools": {}, "stream_options": {"stream": True}}
CHAT_VALUES |= {"parallel_tool_calls": False, "tool_choice": "required", "tools": TOOLS,
                "stream_options": {"include_usage": True}}
# Sent under another name: Corral's OpenAI adapter sends the one OpenAI's reasoning models require.
SENT_AS = {"max_tokens": "max_completion_tokens"}
# Handled by Corral itself rather than forwarded (each with its own test).
OWN = {"model": "routed: the upstream gets the deployment's model (test_openai_sdk.py)",
       "messages": "parsed and rebuilt (test_openai_sdk.py, test_leak.py)",
       "stream": "test_openai_sdk.py::test_streaming",
       "n": "fanned out as n requests (test_openai_choices.py)"}

EMBED_VALUES: dict[str, Any] = {"dimensions": 64, "encoding_format": "float", "user": "u1", "input": "hi"}
EMBED_OWN = {"model": "routed", "encoding_format": "Corral asks for floats and encodes base64 itself "
             "(test_openai_sdk.py::test_embeddings_base64)", "input": "token arrays are decoded to text "
             "(test_openai_sdk.py::test_token_array_inputs_embed_as_their_text)"}


@functools.cache
def _schemas() -> dict[str, Any]:
    """The spec's schemas, parsed once (libyaml's loader where installed: seconds, not tens)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schemas: dict[str, Any] = yaml.load(SPEC.read_text(), Loader=loader)["components"]["schemas"]
    return schemas


def _properties(name: str) -> dict[str, Any]:
    schemas = _schemas()
    found: dict[str, Any] = {}

    def walk(schema: dict[str, Any]) -> None:
        if "$ref" in schema:
            walk(schemas[schema["$ref"].rsplit("/", 1)[1]])
            return
        for part in schema.get("allOf", []):
            walk(part)
        found.update(schema.get("properties", {}))

    walk(schemas[name])
    return found


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream() as up:
        yield up


@pytest.fixture(scope="module")
def corral(upstream: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    up = {"provider": "up"}
    settings = settings_for(tmp_path_factory.mktemp("contract"),
                            {"up": {"type": "openai", "base_url": f"{upstream.url}/v1"}},
                            {"chat": {"deployments": [{**up, "model": "up-chat"}],
                                      "retry": {"max_attempts": 1}},
                             "emb": {"deployments": [{**up, "model": "up-embed"}]}})
    yield from serve_in_thread(create_app(settings, warmup=False))


def _client(corral: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=corral.url + "/v1", api_key=corral.app_key, max_retries=0)


def _sent(upstream: RecordingUpstream, mark: int, path: str) -> dict[str, Any]:
    [request] = [r for r in upstream.since(mark) if r.path == path]
    body: dict[str, Any] = orjson.loads(request.body)
    return body


def test_every_documented_chat_parameter_has_a_case() -> None:
    documented = set(_properties("CreateChatCompletionRequest"))
    assert documented - set(CHAT_VALUES) - set(OWN) == set(), "a new parameter: add its case"
    assert set(CHAT_VALUES) - documented == set(), "a case for a parameter the spec no longer has"


def test_every_documented_embeddings_parameter_has_a_case() -> None:
    assert set(_properties("CreateEmbeddingRequest")) == set(EMBED_VALUES) | {"model"}


@pytest.mark.parametrize("name", sorted(CHAT_VALUES))
def test_chat_parameter_reaches_the_upstream(corral: RunningServer, upstream: RecordingUpstream,
                                             name: str) -> None:
    params = {**WITH.get(name, {}), name: CHAT_VALUES[name]}
    mark = len(upstream.requests)
    answer = _client(corral).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], extra_body=params)
    assert answer.http_response.status_code == 200
    if params.get("stream"):
        list(answer.parse())  # read to the end
    sent = _sent(upstream, mark, "/v1/chat/completions")
    for key, value in params.items():
        assert sent.get(SENT_AS.get(key, key)) == value, f"{key} did not arrive as sent: {sent}"


@pytest.mark.parametrize("name", sorted(set(EMBED_VALUES) - set(EMBED_OWN)))
def test_embeddings_parameter_reaches_the_upstream(corral: RunningServer, upstream: RecordingUpstream,
                                                   name: str) -> None:
    mark = len(upstream.requests)
    _client(corral).embeddings.create(model="emb", input="hi", extra_body={name: EMBED_VALUES[name]})
    assert _sent(upstream, mark, "/v1/embeddings")[name] == EMBED_VALUES[name]


# Answer fields Corral does not carry yet, each with why; the test fails when one starts to be
# carried (take it off the list) or the spec adds one (carry it, or list it here with a reason).
NOT_CARRIED = {
    "metadata": "answer metadata of stored completions (Corral does not store chat completions)",
    "moderation": "moderated completions' results (no canonical place yet)",
    "message.audio": "audio output (no audio modality in canonical answers yet)",
    "message.function_call": "the deprecated functions API's call (tool_calls are carried)",
    "usage.completion_tokens_details.accepted_prediction_tokens": "predicted outputs' counts",
    "usage.completion_tokens_details.rejected_prediction_tokens": "predicted outputs' counts",
    "usage.completion_tokens_details.audio_tokens": "audio output",
    "usage.completion_tokens_details.text_tokens": "a split Corral does not keep",
    "usage.prompt_tokens_details.audio_tokens": "audio input",
    "usage.prompt_tokens_details.image_tokens": "a split Corral does not keep",
    "usage.prompt_tokens_details.text_tokens": "a split Corral does not keep",
    "usage.prompt_tokens_details.cache_write_tokens": "cache writes are priced in the input (docs/cost.md)",
}


def _documented_answer_fields() -> set[str]:
    schemas = _schemas()
    fields = set(_properties("CreateChatCompletionResponse")) - {"choices", "usage"}
    fields |= {f"message.{k}" for k in schemas["ChatCompletionResponseMessage"]["properties"]}
    for part, detail in schemas["CompletionUsage"]["properties"].items():
        fields |= {f"usage.{part}.{k}" for k in detail.get("properties", {})} or {f"usage.{part}"}
    return fields


def test_every_documented_answer_field_reaches_the_client(corral: RunningServer) -> None:
    """The upstream answers with every documented field set (the recording upstream's `full`
    answer); each one the client does not get back must be on NOT_CARRIED, with its reason."""
    raw = _client(corral).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "full answer please"}])
    got = orjson.loads(raw.http_response.content)
    lost = set()
    for field in _documented_answer_fields():
        node: Any = got
        for part in field.split("."):
            node = (node["choices"][0]["message"] if part == "message" and "choices" in node else node)
            node = node.get(part) if isinstance(node, dict) and part != "message" else node
        if node is None:
            lost.add(field)
    assert lost == set(NOT_CARRIED), f"lost but not listed: {lost - set(NOT_CARRIED)}; " \
                                     f"carried now, take off the list: {set(NOT_CARRIED) - lost}"
