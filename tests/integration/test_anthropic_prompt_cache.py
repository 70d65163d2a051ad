"""Prompt caching through Corral with the official anthropic SDK: `cache_control` marks reach the
simulated Anthropic upstream on the blocks the client marked (through redaction too), its cache
writes come back in usage, and the request record is priced at the cache-write rates."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from corral.api.app import create_app
from corral.cost import cost_of
from corral.simulator import SimulatorThread, anthropic_dialect
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration.conftest import SIM_KEY
from tests.integration.records import stored_records

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
MANUAL = "The corral manual. " * 200
TOOL = {"name": "get_gate", "description": "Which gate is open", "input_schema": {"type": "object"},
        "cache_control": HOUR}
# claude-haiku-4-5 (prices.json): input $1, 5-minute writes $1.25, 1-hour writes $2, output $5 per 1M.
HAIKU = {"input": 1.0, "write_5m": 1.25, "write_1h": 2.0, "output": 5.0}


@pytest.fixture(scope="module")
def corral(simulator: SimulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    mp = pytest.MonkeyPatch()
    mp.setenv("SIM_KEY", SIM_KEY)
    one = {"retry": {"max_attempts": 1}, "cache_fallback": False}
    haiku = {"provider": "an", "model": "claude-haiku-4-5"}
    settings = settings_for(
        tmp_path_factory.mktemp("corral"),
        {"an": {"type": "anthropic", "base_url": simulator.url, "api_key_env": "SIM_KEY"},
         "oa": {"type": "openai", "base_url": f"{simulator.url}/v1", "api_key_env": "SIM_KEY"}},
        {"claude": {"deployments": [haiku], **one},
         "claude-private": {"deployments": [haiku], "privacy": {"policy": "redact"}, **one},
         "gpt-sim": {"deployments": [{"provider": "oa", "model": "gpt-sim"}], **one}},
    )
    try:
        yield from serve_in_thread(create_app(settings, warmup=False))
    finally:
        mp.undo()


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The bodies the simulated Anthropic upstream received (it runs in this process)."""
    bodies: list[dict[str, Any]] = []
    original = anthropic_dialect.cache_writes

    def spy(body: dict[str, Any]) -> tuple[int, int]:
        bodies.append(body)
        return original(body)

    monkeypatch.setattr(anthropic_dialect, "cache_writes", spy)
    return bodies


def client(corral: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=corral.url, api_key=corral.app_key, max_retries=0)


def _request(model: str = "claude", manual: str = MANUAL) -> dict[str, Any]:
    return {
        "model": model, "max_tokens": 8, "tools": [TOOL],
        "system": [{"type": "text", "text": "You guard the corral."},
                   {"type": "text", "text": manual, "cache_control": HOUR}],
        "messages": [
            {"role": "user", "content": "Which gate?"},
            {"role": "assistant", "content": "The north one."},
            {"role": "user", "content": [
                {"type": "text", "text": "And after dark?", "cache_control": EPHEMERAL},
                {"type": "text", "text": "Be brief."}]},
        ],
    }


def _marks(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """(where, cache_control) for every marked block of an Anthropic body."""
    system = body.get("system")
    groups = [("tools", body.get("tools") or []), ("system", system if isinstance(system, list) else [])]
    groups += [(f"messages[{i}].content", m["content"]) for i, m in enumerate(body["messages"])
               if isinstance(m["content"], list)]
    return [(f"{where}[{j}]", b["cache_control"]) for where, blocks in groups
            for j, b in enumerate(blocks) if "cache_control" in b]


def _expected_cost(usage: anthropic.types.Usage) -> float:
    writes_5m = usage.cache_creation.ephemeral_5m_input_tokens if usage.cache_creation else 0
    writes_1h = usage.cache_creation.ephemeral_1h_input_tokens if usage.cache_creation else 0
    return (usage.input_tokens * HAIKU["input"] + writes_5m * HAIKU["write_5m"]
            + writes_1h * HAIKU["write_1h"] + usage.output_tokens * HAIKU["output"]) / 1e6


def test_marks_reach_anthropic_and_writes_are_priced(corral: RunningServer, sim: SimulatorThread,
                                                     received: list[dict[str, Any]]) -> None:
    message = client(corral).messages.create(**_request())
    [body] = received
    assert _marks(body) == [("tools[0]", HOUR), ("system[1]", HOUR), ("messages[2].content[0]", EPHEMERAL)]
    assert body["system"][1]["text"] == MANUAL and body["messages"][2]["content"][1] == {
        "type": "text", "text": "Be brief."}
    five, hour = anthropic_dialect.cache_writes(body)  # the simulator's rule, on what it received
    assert hour > 950 and five > 0
    usage = message.usage
    assert usage.cache_creation_input_tokens == five + hour
    split = usage.cache_creation
    assert split is not None
    assert (split.ephemeral_5m_input_tokens, split.ephemeral_1h_input_tokens) == (five, hour)
    assert usage.cache_read_input_tokens == 0 and 0 < usage.input_tokens < 100

    raw_id = "req_" + message.id.removeprefix("msg_")
    [row] = asyncio.run(stored_records(corral, lambda r: r["request_id"] == raw_id))
    assert row["input_tokens"] == usage.input_tokens + five + hour
    assert (row["extras"]["cache_write_tokens"], row["extras"]["cache_write_1h_tokens"]) == (five, hour)
    assert row["priced"] and row["cost_usd"] == pytest.approx(_expected_cost(usage), rel=1e-9)
    as_input = (row["input_tokens"] * HAIKU["input"] + usage.output_tokens * HAIKU["output"]) / 1e6
    assert row["cost_usd"] > as_input  # the write rates, not the plain input price
    assert cost_of(row)[0] == pytest.approx(row["cost_usd"])  # a stored row re-prices the same


def test_streamed_usage_carries_the_writes(corral: RunningServer, sim: SimulatorThread,
                                           received: list[dict[str, Any]]) -> None:
    with client(corral).messages.stream(**_request()) as stream:
        final = stream.get_final_message()
    [body] = received
    assert _marks(body)[-1] == ("messages[2].content[0]", EPHEMERAL)
    assert final.usage.cache_creation_input_tokens == sum(anthropic_dialect.cache_writes(body)) > 0


def test_a_mark_survives_redaction(corral: RunningServer, sim: SimulatorThread,
                                   received: list[dict[str, Any]]) -> None:
    """The privacy stage rewrites the marked system block; the mark stays on it."""
    client(corral).messages.create(**_request("claude-private", "Write to warden@corral.example. " + MANUAL))
    [body] = received
    assert "warden@corral.example" not in body["system"][1]["text"]
    assert _marks(body) == [("tools[0]", HOUR), ("system[1]", HOUR), ("messages[2].content[0]", EPHEMERAL)]


def test_other_providers_answer_without_the_hint(corral: RunningServer, sim: SimulatorThread,
                                                 received: list[dict[str, Any]]) -> None:
    message = client(corral).messages.create(**_request("gpt-sim"))
    assert received == [] and message.usage.cache_creation_input_tokens == 0


def test_five_breakpoints_are_a_400(corral: RunningServer, sim: SimulatorThread,
                                    received: list[dict[str, Any]]) -> None:
    request = _request()
    request["messages"][0]["content"] = [{"type": "text", "text": "Which gate?", "cache_control": EPHEMERAL}]
    request["messages"][1]["content"] = [{"type": "text", "text": "North.", "cache_control": EPHEMERAL}]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client(corral).messages.create(**request)
    assert bad.value.status_code == 400
    error = bad.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error" and "at most 4 cache breakpoints" in error["message"]
    with pytest.raises(anthropic.BadRequestError, match="'persistent' is unknown"):
        unknown = {**TOOL, "cache_control": {"type": "persistent"}}
        client(corral).messages.create(**{**_request(), "tools": [unknown]})
    assert received == []  # refused before any upstream call
