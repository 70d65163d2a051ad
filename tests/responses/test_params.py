"""A create body's checks: every refusal is a 400 that names the parameter."""

from __future__ import annotations

from typing import Any

import pytest

from corral.core.errors import InvalidRequest
from corral.responses.canonical import chat_request
from corral.responses.params import parse_create

BASE: dict[str, Any] = {"model": "echo", "input": "hi"}
FN = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def parse(**fields: Any) -> Any:
    return parse_create({**BASE, **fields}, "resp_1", 1700000000)


def test_a_minimal_request_echoes_the_documented_defaults() -> None:
    body = parse().body
    assert body["id"] == "resp_1" and body["object"] == "response" and body["status"] == "in_progress"
    assert (body["store"], body["background"], body["parallel_tool_calls"]) == (True, False, True)
    assert body["tool_choice"] == "auto" and body["tools"] == [] and body["metadata"] == {}
    assert body["text"] == {"format": {"type": "text"}} and body["truncation"] == "disabled"
    assert body["temperature"] is None and body["top_p"] is None and body["output"] == []


def test_supported_fields_are_echoed() -> None:
    body = parse(instructions="be terse", tools=[FN], tool_choice={"type": "function", "name": "get_weather"},
                 max_output_tokens=64, temperature=0.5, top_p=1, metadata={"k": "v"}, store=False,
                 user="u1", safety_identifier="s1", truncation="auto", reasoning={"effort": "low"},
                 text={"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}},
                       "verbosity": "low"}, parallel_tool_calls=False, service_tier="auto",
                 prompt_cache_key="k", include=[], top_logprobs=0).body
    assert body["instructions"] == "be terse" and body["max_output_tokens"] == 64
    assert body["tools"] == [{**FN, "description": None, "strict": None}]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert body["reasoning"] == {"effort": "low", "summary": None} and body["text"]["verbosity"] == "low"
    assert (body["temperature"], body["top_p"]) == (0.5, 1.0)
    assert (body["store"], body["truncation"]) == (False, "auto")
    assert body["service_tier"] == "default" and body["metadata"] == {"k": "v"}


def test_a_file_search_tool_is_echoed_with_its_defaults_and_not_sent_to_the_model() -> None:
    search = {"type": "file_search", "vector_store_ids": ["vs_1", "vs_1"]}
    draft = parse_create({"model": "m", "input": "hi", "tools": [search, FN],
                          "tool_choice": {"type": "file_search"}, "include": ["file_search_call.results"]},
                         "resp_1", 0)
    assert draft.include_results and draft.body["tool_choice"] == {"type": "file_search"}
    assert draft.body["tools"][0] == {"type": "file_search", "vector_store_ids": ["vs_1"], "filters": None,
                                      "max_num_results": 10,
                                      "ranking_options": {"ranker": "auto", "score_threshold": 0.0}}
    chat = chat_request(draft.body, draft.items, stream=False)
    assert [t.name for t in chat.tools or []] == ["get_weather"] and chat.tool_choice == "auto"
    alone = parse_create({"model": "m", "input": "hi", "tools": [search], "tool_choice": "required"}, "r", 0)
    assert chat_request(alone.body, alone.items, stream=False).tools is None


REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"model": None}, "model", "required"),
    ({"input": None}, "input", "string or a non-empty list"),
    ({"input": []}, "input", "non-empty"),
    ({"bogus": 1, "other": 2}, "bogus", "Unrecognized request argument(s): 'bogus', 'other'"),
    ({"conversation": "conv_1"}, "conversation", "previous_response_id"),
    ({"prompt": {"id": "p"}}, "prompt", "not supported"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type", "only 'function' and 'file_search' tools"),
    ({"tools": [{"type": "file_search", "vector_store_ids": []}]}, "tools[0].vector_store_ids", "non-empty"),
    ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}] * 2}, "tools[1]", "At most one"),
    ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"],
                 "ranking_options": {"hybrid_search": {"embedding_weight": 1, "text_weight": 1}}}]},
     "tools[0].ranking_options.hybrid_search", "not supported"),
    ({"tool_choice": {"type": "file_search"}, "tools": [FN]}, "tool_choice", "no 'file_search' tool"),
    ({"tools": [{"type": "function", "name": "has space"}]}, "tools[0].name", "1-64 letters"),
    ({"tools": [{**FN, "defer": True}]}, "tools[0].defer", "Unrecognized field"),
    ({"tool_choice": "required"}, "tool_choice", "no 'tools'"),
    ({"tool_choice": {"type": "function", "name": "nope"}, "tools": [FN]}, "tool_choice", "not in 'tools'"),
    ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice", "not supported"),
    ({"max_output_tokens": 8}, "max_output_tokens", "from 16"),
    ({"max_output_tokens": True}, "max_output_tokens", "whole number"),
    ({"temperature": 2.5}, "temperature", "from 0 to 2"),
    ({"top_p": "1"}, "top_p", "from 0 to 1"),
    ({"store": "yes"}, "store", "true or false"),
    ({"background": True, "store": False}, "background", "requires 'store'"),
    ({"background": True, "stream": True}, "stream", "poll"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "at most 16 keys"),
    ({"metadata": {"k" * 65: "v"}}, "metadata", "at most 64 characters"),
    ({"metadata": {"k": "v" * 513}}, "metadata.k", "at most 512"),
    ({"metadata": {"k": 1}}, "metadata.k", "must be a string"),
    ({"safety_identifier": "s" * 65}, "safety_identifier", "at most 64"),
    ({"previous_response_id": "resp_\x00"}, "previous_response_id", "NUL"),
    ({"text": {"format": {"type": "json_schema", "name": "r"}}}, "text.format", "'schema'"),
    ({"text": {"format": {"type": "xml"}}}, "text.format", "'text', 'json_object' or 'json_schema'"),
    ({"text": {"verbosity": "loud"}}, "text.verbosity", "'low'"),
    ({"reasoning": {"effort": "max"}}, "reasoning.effort", "one of"),
    ({"reasoning": {"effort": "low", "summary": "auto"}}, "reasoning.summary", "summaries"),
    ({"include": ["message.output_text.logprobs"]}, "include", "may only hold 'file_search_call.results'"),
    ({"top_logprobs": 3}, "top_logprobs", "Log probabilities"),
    ({"service_tier": "priority"}, "service_tier", "'auto' or 'default'"),
    ({"truncation": "middle"}, "truncation", "'auto' or 'disabled'"),
    ({"stream_options": {"include_obfuscation": False}}, "stream_options", "only allowed with 'stream'"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
     "input[0].content[0].type", "File inputs"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0].file_id", "image_url"),
    ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type", "function_call_output"),
    ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role", "one of"),
    ({"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
     "input[0].content[0].type", "assistant messages"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f"}]}, "input[0].arguments", "string"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[" * 200 + "]" * 200}]},
     "input[0].arguments", "nested"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_image"}]}]},
     "input[0].output[0]", "input_text"),
]


@pytest.mark.parametrize(("fields", "param", "words"), REFUSED, ids=[r[1] + ":" + r[2][:20] for r in REFUSED])
def test_each_bad_field_is_a_400_naming_it(fields: dict[str, Any], param: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(**fields)
    assert caught.value.status_code == 400
    assert caught.value.param == param, caught.value.message
    assert words in caught.value.message
