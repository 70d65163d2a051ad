"""Done means: a client of a background response or a batch learns it finished from a signed
webhook, verified by the official openai SDK, without polling; exactly once per finish on a
healthy receiver, retried with backoff when the receiver is down or hangs, and never to another
team's endpoint. On a real server (uvicorn) with real receivers (loopback HTTP)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest

from tests.webhooks.receiver import unwrap
from tests.webhooks.server import Hooked, hooked_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hooked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooked]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from hooked_server(request.param, Path(tmp_path_factory.mktemp(f"hooks-{request.param}")),
                                 monkeypatch)


def _status(sdk: openai.OpenAI, response_id: str) -> str:
    return str(sdk.responses.retrieve(response_id).status)


def test_a_background_response_sends_one_signed_response_completed(hooked: Hooked) -> None:
    sdk = hooked.sdk()
    made = sdk.responses.create(model="echo", input="tell me later", background=True)
    main = hooked.receivers["main"]
    [delivery] = main.wait(made.id)  # no polling of Corral: the receiver is told
    event = unwrap(delivery, hooked.secrets["main"])
    assert event.type == "response.completed" and event.data.id == made.id
    assert event.object == "event" and event.id.startswith("evt_")
    assert abs(event.created_at - time.time()) < 60
    assert delivery.headers["webhook-id"].startswith("wh_")
    assert _status(sdk, made.id) == "completed"  # what the receiver fetches next is final
    assert b"tell me later" not in delivery.body, "the event carries ids, never content"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(delivery, hooked.secrets["growth"])  # another endpoint's secret does not verify it
    time.sleep(0.5)  # nothing else about it arrives: exactly one delivery
    assert len(main.wait(made.id, timeout_s=0)) == 1
    assert hooked.metric("response.completed", "delivered") >= 1


def test_a_failed_response_sends_response_failed(hooked: Hooked) -> None:
    made = hooked.sdk().responses.create(model="fail-429", input="no luck", background=True)
    [delivery] = hooked.receivers["main"].wait(made.id)
    event = unwrap(delivery, hooked.secrets["main"])
    assert event.type == "response.failed" and event.data.id == made.id


def test_a_cancelled_response_sends_response_cancelled_and_nothing_else(hooked: Hooked) -> None:
    sdk = hooked.sdk()
    made = sdk.responses.create(model="slow", input="take your time", background=True)
    deadline = time.monotonic() + 5
    while _status(sdk, made.id) == "queued" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sdk.responses.cancel(made.id).status == "cancelled"
    assert sdk.responses.cancel(made.id).status == "cancelled"  # again: still one event
    [delivery] = hooked.receivers["main"].wait(made.id)
    assert unwrap(delivery, hooked.secrets["main"]).type == "response.cancelled"
    time.sleep(0.5)
    assert len(hooked.receivers["main"].wait(made.id, timeout_s=0)) == 1


def test_an_endpoint_gets_only_the_events_it_lists(hooked: Hooked) -> None:
    sdk = hooked.sdk("filter-team")
    ok = sdk.responses.create(model="echo", input="fine", background=True)
    bad = sdk.responses.create(model="fail-429", input="no luck", background=True)
    failures = hooked.receivers["failures"]
    [delivery] = failures.wait(bad.id)
    assert unwrap(delivery, hooked.secrets["failures"]).type == "response.failed"
    assert _status(sdk, ok.id) == "completed"
    time.sleep(0.3)
    assert failures.accepted(ok.id) == []


def test_another_teams_endpoint_receives_nothing(hooked: Hooked) -> None:
    mine = hooked.sdk().responses.create(model="echo", input="mine", background=True)
    theirs = hooked.sdk("growth").responses.create(model="echo", input="theirs", background=True)
    main, growth = hooked.receivers["main"], hooked.receivers["growth"]
    assert unwrap(main.wait(mine.id)[0], hooked.secrets["main"]).data.id == mine.id
    assert unwrap(growth.wait(theirs.id)[0], hooked.secrets["growth"]).data.id == theirs.id
    time.sleep(0.3)
    assert growth.accepted(mine.id) == [] and main.accepted(theirs.id) == []
    for name in ("retry", "hang", "failures"):  # nor does any other team's endpoint
        assert hooked.receivers[name].accepted(mine.id) == []


def test_a_receiver_that_is_down_gets_it_later_with_backoff(hooked: Hooked) -> None:
    retry = hooked.receivers["retry"]  # refuses connections: not listening yet
    retried = hooked.metric("response.completed", "retried")
    made = hooked.sdk("retry-team").responses.create(model="echo", input="are you there", background=True)
    deadline = time.monotonic() + 10
    while hooked.metric("response.completed", "retried") < retried + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hooked.metric("response.completed", "retried") >= retried + 2, "refused attempts are retried"
    retry.up()  # then answers 500 once, then accepts
    [delivery] = retry.wait(made.id)
    event = unwrap(delivery, hooked.secrets["retry"])
    assert event.type == "response.completed" and event.data.id == made.id
    first, last = retry.seen[0], retry.seen[-1]
    assert first.status == 500 and last is delivery
    assert first.headers["webhook-id"] == delivery.headers["webhook-id"], "one id across retries"
    assert delivery.at - first.at >= 0.1, "the retry after the 500 waited its backoff"


def test_a_receiver_that_hangs_is_cut_at_the_timeout_and_retried(hooked: Hooked) -> None:
    hang = hooked.receivers["hang"]  # holds the first POST for 8 s; the endpoint's timeout is 0.5 s
    made = hooked.sdk("hang-team").responses.create(model="echo", input="quick", background=True)
    [delivery] = hang.wait(made.id, timeout_s=6)
    assert unwrap(delivery, hooked.secrets["hang"]).type == "response.completed"
    first = hang.seen[0]
    assert first is not delivery and first.headers["webhook-id"] == delivery.headers["webhook-id"]
    assert delivery.at - first.at < 4, "the hanging attempt was cut, not waited out (8 s)"


def _batch(sdk: openai.OpenAI, lines: list[dict[str, object]]) -> str:
    data = io.BytesIO(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    uploaded = sdk.files.create(file=("in.jsonl", data), purpose="batch")
    return sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                              completion_window="24h").id


def _line(custom_id: str, url: str = "/v1/chat/completions") -> dict[str, object]:
    return {"custom_id": custom_id, "method": "POST", "url": url,
            "body": {"model": "echo", "messages": [{"role": "user", "content": custom_id}]}}


def test_a_finished_batch_sends_batch_completed(hooked: Hooked) -> None:
    sdk = hooked.sdk()
    batch_id = _batch(sdk, [_line("a"), _line("b")])
    [delivery] = hooked.receivers["main"].wait(batch_id)
    event = unwrap(delivery, hooked.secrets["main"])
    assert event.type == "batch.completed" and event.data.id == batch_id
    assert sdk.batches.retrieve(batch_id).status == "completed"
    time.sleep(0.5)  # the checks that still run find it final: their events are the same one
    assert len(hooked.receivers["main"].wait(batch_id, timeout_s=0)) == 1


def test_a_batch_that_fails_validation_sends_batch_failed(hooked: Hooked) -> None:
    sdk = hooked.sdk()
    batch_id = _batch(sdk, [_line("a", url="/v1/embeddings")])
    [delivery] = hooked.receivers["main"].wait(batch_id)
    assert unwrap(delivery, hooked.secrets["main"]).type == "batch.failed"
    assert sdk.batches.retrieve(batch_id).status == "failed"
