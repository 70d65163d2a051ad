"""Input items: one stored shape each, and the canonical conversation they become."""

from __future__ import annotations

from typing import Any

import pytest

from corral.core.errors import InvalidRequest
from corral.core.types import ImagePart, Message, TextPart, ToolCall
from corral.responses.canonical import chat_request
from corral.responses.items import normalize_input, to_messages
from corral.responses.params import parse_create


def test_a_string_is_one_user_message_with_an_id() -> None:
    [item] = normalize_input("hello")
    assert item["id"].startswith("msg_") and item["type"] == "message" and item["role"] == "user"
    assert item["content"] == [{"type": "input_text", "text": "hello"}] and item["status"] == "completed"


def test_every_supported_item_is_stored_in_its_resource_shape() -> None:
    items = normalize_input([
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"}, {"type": "input_image", "image_url": "data:,x"}]},
        {"role": "assistant", "content": "earlier answer"},
        {"type": "message", "role": "assistant", "id": "msg_old", "status": "completed",
         "content": [{"type": "output_text", "text": "old", "annotations": []}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}", "id": "fc_x"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
    ])
    assert [i["type"] for i in items] == ["message"] * 4 + ["function_call", "function_call_output"]
    assert items[1]["content"][1] == {"type": "input_image", "image_url": "data:,x", "detail": "auto"}
    assert items[2]["content"] == [{"type": "output_text", "text": "earlier answer", "annotations": [],
                                    "logprobs": []}]
    assert items[4]["id"].startswith("fc_") and items[5]["id"].startswith("fco_")
    assert len({i["id"] for i in items}) == 6, "ids are Corral's own and unique within a response"


def test_function_calls_join_the_assistant_turn_and_outputs_answer_them() -> None:
    items = normalize_input([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "let me check"},
        {"type": "function_call", "call_id": "a", "name": "w", "arguments": '{"c": 1}'},
        {"type": "function_call", "call_id": "b", "name": "w", "arguments": '{"c": 2}'},
        {"type": "function_call_output", "call_id": "a", "output": "sunny"},
        {"type": "function_call_output", "call_id": "b", "output": [{"type": "input_text", "text": "rain"}]},
        {"type": "function_call", "call_id": "c", "name": "w", "arguments": "{}"},
    ])
    assert to_messages(items) == [
        Message("user", "weather?"),
        Message("assistant", "let me check",
                tool_calls=[ToolCall("a", "w", '{"c": 1}'), ToolCall("b", "w", '{"c": 2}')]),
        Message("tool", "sunny", tool_call_id="a"),
        Message("tool", "rain", tool_call_id="b"),
        Message("assistant", None, tool_calls=[ToolCall("c", "w", "{}")]),
    ]


def test_images_stay_parts() -> None:
    items = normalize_input([{"role": "user", "content": [
        {"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "https://x/y.png",
                                                "detail": "low"}]}])
    assert to_messages(items) == [Message("user", [TextPart("see"), ImagePart("https://x/y.png", "low")])]


def test_the_canonical_request_carries_every_parameter() -> None:
    draft = parse_create({
        "model": "m", "input": "hi", "instructions": "be brief", "max_output_tokens": 20, "temperature": 0.2,
        "top_p": 0.9, "safety_identifier": "s", "user": "u", "reasoning": {"effort": "high"},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        "tool_choice": {"type": "function", "name": "f"}, "parallel_tool_calls": False,
        "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": True},
                 "verbosity": "high"},
    }, "resp_1", 0)
    chat = chat_request(draft.body, draft.items, stream=True)
    assert chat.messages == [Message("system", "be brief"), Message("user", "hi")]
    assert (chat.max_tokens, chat.temperature, chat.top_p, chat.user) == (20, 0.2, 0.9, "s")
    assert chat.stream and chat.include_usage
    assert chat.tool_choice == {"type": "function", "function": {"name": "f"}}
    assert chat.parallel_tool_calls is False
    assert chat.tools is not None and chat.tools[0].strict is True
    schema = {"name": "r", "schema": {"type": "object"}, "strict": True}
    assert chat.response_format == {"type": "json_schema", "json_schema": schema}
    assert chat.extra == {"reasoning_effort": "high", "verbosity": "high"}


def test_without_tools_no_tool_settings_are_sent() -> None:
    draft = parse_create({"model": "m", "input": "hi", "text": {"format": {"type": "json_object"}}}, "r", 0)
    chat = chat_request(draft.body, draft.items, stream=False)
    assert chat.tools is None and chat.tool_choice is None and chat.parallel_tool_calls is None
    assert chat.response_format == {"type": "json_object"} and chat.extra == {} and not chat.include_usage


@pytest.mark.parametrize(("item", "param"), [
    ({"role": "user", "content": "hi", "prefix": True}, "input[0].prefix"),
    ({"role": "user", "content": [{"type": "input_text", "text": "hi", "lang": "en"}]},
     "input[0].content[0].lang"),
    ({"role": "user", "content": [{"type": "input_image", "image_url": "data:,x", "format": "png"}]},
     "input[0].content[0].format"),
])
def test_a_field_corral_does_not_read_is_refused_by_name_not_dropped(item: dict[str, Any],
                                                                     param: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        normalize_input([item])
    assert bad.value.param == param and "remove it" in bad.value.message


def test_output_passed_back_with_its_empty_and_citation_fields_is_accepted() -> None:
    [item] = normalize_input([{"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                               "content": [{"type": "output_text", "text": "old", "logprobs": [],
                                            "annotations": [{"type": "url_citation", "url": "https://x"}]}]}])
    assert item["content"][0]["text"] == "old"
