"""Ownership, bad input, resource limits, records and privacy for /v1/responses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from corral.responses import store as store_module
from tests.conftest import RunningServer
from tests.fakes import FakeProvider
from tests.files.server import new_key
from tests.integration.records import stored_records
from tests.responses.server import MAX_BODY, client, serve

EMAIL = "margaret.thornbury@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory)


def post(server: RunningServer, body: Any, key: str | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else None
    return httpx.post(server.url + "/v1/responses", json=None if content else body, content=content,
                      headers={"authorization": f"Bearer {key or server.app_key}",
                               "content-type": "application/json"}, timeout=10)


def test_another_teams_response_is_404_exactly_like_a_missing_one(server: RunningServer) -> None:
    owner = client(server)
    intruder = client(server, new_key(server, "intruder"))
    made = owner.responses.create(model="echo", input="team secret")
    missing = "resp_" + "0" * 24
    calls = {
        "get": lambda rid: intruder.responses.retrieve(rid),
        "delete": lambda rid: intruder.responses.delete(rid),
        "input_items": lambda rid: intruder.responses.input_items.list(rid),
        "cancel": lambda rid: intruder.responses.cancel(rid),
        "previous_response_id": lambda rid: intruder.responses.create(model="echo", input="leak?",
                                                                       previous_response_id=rid),
    }
    for name, call in calls.items():
        answers = []
        for rid in (made.id, missing):
            with pytest.raises(openai.NotFoundError) as caught:
                call(rid)
            answers.append(str(caught.value.body).replace(rid, "ID"))
        assert answers[0] == answers[1], f"{name}: another team's id is told apart from a missing one"
    assert owner.responses.retrieve(made.id).output_text == "echo: team secret", "nothing was deleted"


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"model": "echo", "input": "x", "temprature": 1}, "temprature", "Unrecognized request argument"),
    ({"model": "echo", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type", "only 'function'"),
    ({"model": "echo", "input": "x", "metadata": {str(i): "v" for i in range(17)}}, "metadata", "16 keys"),
    ({"model": "echo", "input": "x", "metadata": {"k": "v" * 513}}, "metadata.k", "512"),
    ({"model": "echo", "input": [{"type": "item_reference", "id": "m"}]}, "input[0].type", "not supported"),
    ({"model": "echo", "input": "x", "background": True, "store": False}, "background", "requires 'store'"),
    ({"input": "x"}, "model", "required"),
])
def test_bad_input_is_a_400_naming_the_parameter(server: RunningServer, body: dict[str, Any], param: str,
                                                 words: str) -> None:
    answer = post(server, body)
    error = answer.json()["error"]
    assert answer.status_code == 400 and error["param"] == param and words in error["message"], error
    assert error["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_or_not_an_object(server: RunningServer) -> None:
    assert post(server, b"{not json").status_code == 400
    assert post(server, b"[1, 2]").json()["error"]["message"] == "The request body must be a JSON object."


def test_huge_input_is_refused_with_413(server: RunningServer) -> None:
    answer = post(server, {"model": "echo", "input": "x" * MAX_BODY})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"


def test_a_conversation_cannot_grow_past_one_request_body(server: RunningServer) -> None:
    sdk = client(server)
    big = "y" * (MAX_BODY * 2 // 5)  # fits the window; with its echoed answer and the next input, too big
    first = sdk.responses.create(model="echo", input=big)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="echo", input=big, previous_response_id=first.id)
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert "more than one request may carry" in caught.value.message


def test_a_chain_past_the_limit_is_a_400(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_CHAIN", 3)
    sdk = client(server)
    previous = None
    for turn in range(3):
        previous = sdk.responses.create(model="echo", input=f"turn {turn}", previous_response_id=previous).id
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="echo", input="one more", previous_response_id=previous)
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert "Corral's limit is 3" in caught.value.message


def test_each_response_leaves_a_priced_chat_record(server: RunningServer) -> None:
    made = client(server).responses.create(model="echo", input="count my cost")
    streamed = list(client(server).responses.create(model="echo", input="and mine", stream=True))[-1]
    ids = {"req_" + made.id.removeprefix("resp_"), "req_" + streamed.response.id.removeprefix("resp_")}  # type: ignore[union-attr]
    rows = asyncio.run(stored_records(server, lambda r: r["request_id"] in ids, expected=2))
    assert {r["request_id"] for r in rows} == ids
    for row in rows:
        assert row["operation"] == "chat" and row["status"] == "ok" and row["route"] == "echo"
        assert row["cost_usd"] > 0 and row["input_tokens"] == 7


def test_a_background_response_is_recorded_with_its_job(server: RunningServer) -> None:
    sdk = client(server)
    made = sdk.responses.create(model="echo", input="in the background", background=True)
    request_id = "req_" + made.id.removeprefix("resp_")
    [row] = asyncio.run(stored_records(server, lambda r: r["request_id"] == request_id))
    assert row["extras"]["job_id"] == made.id and row["cost_usd"] > 0 and row["status"] == "ok"


def test_a_redacting_route_sends_placeholders_upstream(server: RunningServer) -> None:
    FakeProvider.calls.clear()
    sdk = client(server)
    made = sdk.responses.create(model="private", input=f"Write to {EMAIL} today.")
    sent = " ".join(m.text() for m in FakeProvider.calls[-1].messages)
    assert EMAIL not in sent and "[EMAIL_1]" in sent, sent
    assert made.output_text == f"echo: Write to {EMAIL} today.", "the client gets its own values back"
    follow = sdk.responses.create(model="private", input="And again?", previous_response_id=made.id)
    history = " ".join(m.text() for m in FakeProvider.calls[-1].messages)
    assert EMAIL not in history, "the stored conversation is redacted again when it is sent on"
    assert follow.output_text == "echo: And again?"


def test_a_client_that_leaves_cancels_the_upstream_call(server: RunningServer) -> None:
    FakeProvider.cancelled.clear()
    FakeProvider.delay_s = 5.0
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + "/v1/responses", json={"model": "slow", "input": "wait"}, timeout=0.5,
                   headers={"authorization": f"Bearer {server.app_key}"})
    for _ in range(50):
        if FakeProvider.cancelled:
            break
        asyncio.run(asyncio.sleep(0.05))
    assert FakeProvider.cancelled, "the upstream call was left running after the client left"
