"""`cache_control` through chat completions, as OpenAI-SDK users of Anthropic models send it (on
content parts, on a message, on a tool): the marks reach Anthropic on the same blocks and the
cache writes are priced; a malformed mark is a 400 naming its place, never dropped in silence."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from corral.simulator import SimulatorThread, anthropic_dialect
from tests.conftest import RunningServer
from tests.integration.test_anthropic_prompt_cache import EPHEMERAL, HOUR, MANUAL, _marks, corral, received

__all__ = ["corral", "received"]  # the fixtures, shared with the Messages API's test

TOOL = {"type": "function", "cache_control": HOUR,
        "function": {"name": "get_gate", "description": "Which gate is open",
                     "parameters": {"type": "object", "properties": {}}}}


def _client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)


def _messages() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": [{"type": "text", "text": "You guard the corral."},
                                       {"type": "text", "text": MANUAL, "cache_control": HOUR}]},
        {"role": "user", "content": "Which gate?", "cache_control": EPHEMERAL},  # the message: its text
        {"role": "assistant", "content": "The north one."},
        {"role": "user", "content": [{"type": "text", "text": "And after dark?"},
                                     {"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL}]},
    ]


def test_marks_on_parts_messages_and_tools_reach_anthropic_and_writes_are_counted(
        corral: RunningServer, sim: SimulatorThread, received: list[dict[str, Any]]) -> None:
    answer = _client(corral).chat.completions.create(model="claude", max_tokens=8, messages=_messages(),
                                                     tools=[TOOL])  # type: ignore[list-item]
    [body] = received
    assert _marks(body) == [("tools[0]", HOUR), ("system[1]", HOUR), ("messages[0].content[0]", EPHEMERAL),
                            ("messages[2].content[1]", EPHEMERAL)]
    first = {"type": "text", "text": "Which gate?", "cache_control": EPHEMERAL}
    assert body["messages"][0]["content"] == [first]
    five, hour = anthropic_dialect.cache_writes(body)
    assert hour > 950 and five > 0
    assert answer.usage is not None and answer.usage.prompt_tokens >= five + hour  # writes are input


def test_other_providers_answer_without_the_hint(corral: RunningServer, sim: SimulatorThread,
                                                 received: list[dict[str, Any]]) -> None:
    answer = _client(corral).chat.completions.create(model="gpt-sim", max_tokens=8, messages=_messages())
    assert received == [] and answer.choices[0].message.content


@pytest.mark.parametrize(("where", "mark", "says"), [
    ("part", {"type": "persistent"}, "messages[3].content[1].cache_control"),
    ("message", {"type": "ephemeral", "ttl": "2h"}, "messages[1].cache_control.ttl"),
    ("tool", {"type": "ephemeral", "scope": "org"}, "tools[0].cache_control"),
])
def test_a_malformed_mark_is_a_400_naming_its_place(corral: RunningServer, sim: SimulatorThread,
                                                    received: list[dict[str, Any]], where: str,
                                                    mark: dict[str, Any], says: str) -> None:
    messages, tool = _messages(), dict(TOOL)
    if where == "part":
        messages[3]["content"][1]["cache_control"] = mark
    elif where == "message":
        messages[1]["cache_control"] = mark
    else:
        tool["cache_control"] = mark
    with pytest.raises(openai.BadRequestError) as bad:
        _client(corral).chat.completions.create(
            model="claude", max_tokens=8, messages=messages, tools=[tool])  # type: ignore[arg-type,list-item]
    assert bad.value.body["param"] == says, bad.value.body  # type: ignore[index]
    assert received == []
