"""The official openai SDK's `client.responses.*` against a real Corral with fake models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from corral.core.types import Message, ToolCall
from tests.conftest import RunningServer
from tests.fakes import FakeProvider
from tests.responses.server import client, serve

TOOLS: list[Any] = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                    "required": ["city"]}}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory)


@pytest.fixture(autouse=True)
def _clean() -> None:
    FakeProvider.calls.clear()


def upstream() -> list[Message]:
    """What the provider was last sent."""
    return FakeProvider.calls[-1].messages


def test_string_input_gives_a_response_shaped_as_the_spec(server: RunningServer) -> None:
    made = client(server).responses.create(model="echo", input="hello there", metadata={"k": "v"})
    assert made.id.startswith("resp_") and made.object == "response" and made.status == "completed"
    assert made.output_text == "echo: hello there" and made.model == "echo"
    [item] = made.output
    assert item.type == "message" and item.id.startswith("msg_") and item.role == "assistant"
    assert item.status == "completed" and item.content[0].annotations == [] and item.content[0].logprobs == []
    assert made.usage is not None and (made.usage.input_tokens, made.usage.output_tokens) == (7, 3)
    assert made.usage.total_tokens == 10 and made.usage.input_tokens_details.cached_tokens == 2
    assert made.usage.output_tokens_details.reasoning_tokens == 0
    assert made.metadata == {"k": "v"} and made.error is None and made.incomplete_details is None
    assert made.completed_at is not None and made.created_at <= made.completed_at
    assert made.tools == [] and made.tool_choice == "auto" and made.parallel_tool_calls is True
    assert made.model_extra is not None and made.model_extra["store"] is True
    assert client(server).responses.retrieve(made.id) == made
    assert upstream() == [Message("user", "hello there")]


def test_item_input_and_instructions(server: RunningServer) -> None:
    made = client(server).responses.create(model="echo", instructions="Be terse.", input=[
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"role": "assistant", "content": "an earlier answer"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "second"}]},
    ])
    assert made.output_text == "echo: second" and made.instructions == "Be terse."
    assert upstream() == [Message("system", "Be terse."), Message("developer", "Answer in English."),
                          Message("user", "first"), Message("assistant", "an earlier answer"),
                          Message("user", "second")]
    items = list(client(server).responses.input_items.list(made.id, order="asc"))
    assert [(i.type, getattr(i, "role", None)) for i in items] == [
        ("message", "developer"), ("message", "user"), ("message", "assistant"), ("message", "user")]


def test_previous_response_id_continues_the_conversation_without_its_instructions(
    server: RunningServer,
) -> None:
    sdk = client(server)
    first = sdk.responses.create(model="echo", input="one", instructions="Old rules.")
    second = sdk.responses.create(model="echo", input="two", previous_response_id=first.id)
    third = sdk.responses.create(model="echo", input="three", previous_response_id=second.id,
                                 instructions="New rules.")
    assert third.previous_response_id == second.id and third.output_text == "echo: three"
    assert upstream() == [Message("system", "New rules."), Message("user", "one"),
                          Message("assistant", "echo: one"), Message("user", "two"),
                          Message("assistant", "echo: two"), Message("user", "three")]
    [own] = sdk.responses.input_items.list(third.id).data  # its own input; the chain is not repeated
    assert own.content[0].text == "three"  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True])
def test_function_calling_round_trip(server: RunningServer, stream: bool) -> None:
    sdk = client(server)
    if stream:
        with sdk.responses.stream(model="tool-call", input="Weather in Paris?", tools=TOOLS) as events:
            deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
            asked = events.get_final_response()
        assert "".join(deltas) == '{"city": "Paris"}' and len(deltas) == 2
    else:
        asked = sdk.responses.create(model="tool-call", input="Weather in Paris?", tools=TOOLS)
    [call] = asked.output
    assert call.type == "function_call" and call.id is not None and call.id.startswith("fc_")
    assert (call.name, call.arguments, call.call_id, call.status) == (
        "get_weather", '{"city": "Paris"}', "call_fake_1", "completed")
    assert asked.tools[0].type == "function" and asked.tools[0].name == "get_weather"
    answered = sdk.responses.create(model="tool-call", previous_response_id=asked.id, tools=TOOLS,
                                    input=[{"type": "function_call_output", "call_id": call.call_id,
                                            "output": "sunny, 21 C"}])
    assert answered.output_text == "tool said: sunny, 21 C"
    assert upstream()[1:] == [Message("assistant", None, tool_calls=[
        ToolCall("call_fake_1", "get_weather", '{"city": "Paris"}')]),
        Message("tool", "sunny, 21 C", tool_call_id="call_fake_1")]
    assert FakeProvider.calls[-1].tools is not None and FakeProvider.calls[-1].tools[0].name == "get_weather"


def test_stream_true_sends_the_event_sequence_and_stores_the_result(server: RunningServer) -> None:
    sdk = client(server)
    events = list(sdk.responses.create(model="echo", input="stream me now", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: stream me now" and kinds.count("response.output_text.delta") == 4
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == text and final.usage is not None and final.usage.output_tokens == 4
    assert sdk.responses.retrieve(final.id).output_text == text


def test_stream_helper_collects_text(server: RunningServer) -> None:
    with client(server).responses.stream(model="echo", input="helper works") as events:
        snapshots = [e.snapshot for e in events if e.type == "response.output_text.delta"]
        final = events.get_final_response()
    assert snapshots[-1] == "echo: helper works" and final.output_text == "echo: helper works"


def test_a_failure_mid_stream_is_an_error_event_then_failed(server: RunningServer) -> None:
    sdk = client(server)
    events = list(sdk.responses.create(model="break-after-2", input="a b c d e", stream=True))
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.status == "failed" and failed.error is not None and failed.error.code == "server_error"
    assert sdk.responses.retrieve(failed.id).status == "failed"
    with sdk.responses.stream(model="break-after-2", input="a b c d e") as helper:
        kinds = [e.type for e in helper]
    assert kinds[-2:] == ["error", "response.failed"]


def test_an_upstream_error_before_any_output_is_an_http_error(server: RunningServer) -> None:
    with pytest.raises(openai.RateLimitError):
        client(server).responses.create(model="fail-429", input="hi")
    with pytest.raises(openai.RateLimitError):
        client(server).responses.create(model="fail-429", input="hi", stream=True)


@pytest.mark.parametrize("stream", [False, True])
def test_store_false_keeps_nothing(server: RunningServer, stream: bool) -> None:
    sdk = client(server)
    if stream:
        events = list(sdk.responses.create(model="echo", input="forget me", store=False, stream=True))
        assert events[-1].type == "response.completed"
        made = events[-1].response
    else:
        made = sdk.responses.create(model="echo", input="forget me", store=False)
    assert made.output_text == "echo: forget me"
    assert made.model_extra is not None and made.model_extra["store"] is False
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.create(model="echo", input="again", previous_response_id=made.id)
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_delete_removes_it_and_it_can_no_longer_be_chained(server: RunningServer) -> None:
    sdk = client(server)
    made = sdk.responses.create(model="echo", input="short lived")
    sdk.responses.delete(made.id)  # the SDK discards the body (id, object response.deleted, deleted)
    for call in (lambda: sdk.responses.retrieve(made.id), lambda: sdk.responses.delete(made.id),
                 lambda: sdk.responses.input_items.list(made.id),
                 lambda: sdk.responses.create(model="echo", input="x", previous_response_id=made.id)):
        with pytest.raises(openai.NotFoundError):
            call()


def test_input_items_page_with_the_sdk(server: RunningServer) -> None:
    sdk = client(server)
    made = sdk.responses.create(model="echo", input=[{"role": "user", "content": str(i)} for i in range(5)])
    every = [i.id for i in sdk.responses.input_items.list(made.id, order="asc")]
    page = sdk.responses.input_items.list(made.id, limit=2)
    assert [i.id for i in page.data] == every[::-1][:2] and page.has_more
    assert [i.id for i in sdk.responses.input_items.list(made.id, limit=2)] == every[::-1]  # follows `after`
    last = sdk.responses.input_items.list(made.id, limit=2, order="asc", after=every[2])
    assert [i.id for i in last.data] == every[3:] and not last.has_more
    texts = [i.content[0].text for i in sdk.responses.input_items.list(made.id, order="asc")]  # type: ignore[union-attr,index]
    assert texts == ["0", "1", "2", "3", "4"]


def test_cancel_is_only_for_background_responses(server: RunningServer) -> None:
    sdk = client(server)
    made = sdk.responses.create(model="echo", input="foreground")
    with pytest.raises(openai.BadRequestError, match="background"):
        sdk.responses.cancel(made.id)
