"""OpenAI's other endpoints through Corral with the official SDK: passed through untranslated to
an OpenAI-compatible upstream that records every byte, but routed, limited, private and recorded
like chat. Bad input, a route with no OpenAI-compatible deployment, a form over the size limit,
a key without inference rights, failover and the privacy policies each have a case."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration.recording_upstream import Recorded, RecordingUpstream

EMAIL = "jane.roe@example.org"


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream() as up:
        yield up


@pytest.fixture(scope="module")
def corral(upstream: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("passthrough")
    up = {"provider": "up"}
    settings = settings_for(
        tmp,
        {"up": {"type": "openai", "base_url": f"{upstream.url}/v1"},
         "gone": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"},  # nothing listens: refused
         "claude": {"type": "anthropic", "base_url": "http://127.0.0.1:9"}},
        {"gpt-3.5-turbo-instruct": {"deployments": [{**up, "model": "up-instruct"}]},
         "omni-moderation-latest": {"deployments": [{**up, "model": "up-moderation"}]},
         "media": {"deployments": [{**up, "model": "up-media"}]},
         "failover": {"deployments": [{"provider": "gone", "model": "x", "priority": 0},
                                      {**up, "model": "up-second", "priority": 1}]},
         "claude": {"deployments": [{"provider": "claude", "model": "claude-x"}]},
         "private": {"deployments": [{**up, "model": "up-private"}]},
         "strict": {"deployments": [{**up, "model": "up-strict"}]},
         "limited": {"deployments": [{**up, "model": "up-limited"}]},
         "dall-e-3": {"deployments": [{**up, "model": "dall-e-3"}]}},
        limits={"routes": {"limited": {"rpm": 2}, "dall-e-3": {"usd_per_day": 0.2}}},
        privacy={"routes": {"private": {"policy": "redact"}, "strict": {"policy": "block"}}},
        server={"max_form_bytes": 64 * 1024},
    )
    yield from serve_in_thread(create_app(settings, warmup=False))


@pytest.fixture
def sdk(corral: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=corral.url + "/v1", api_key=corral.app_key, max_retries=0)


def _sent(upstream: RecordingUpstream, mark: int, path: str) -> Recorded:
    [request] = [r for r in upstream.since(mark) if r.path == path]
    return request


def _record(corral: RunningServer, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        r = httpx.get(f"{corral.url}/admin/requests/{request_id}", timeout=5,
                      headers={"authorization": f"Bearer {corral.admin_key}"})
        if r.status_code == 200 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            found: dict[str, Any] = r.json()
            return found
        time.sleep(0.05)


def test_completion_is_routed_answered_and_recorded(corral: RunningServer, upstream: RecordingUpstream,
                                                    sdk: openai.OpenAI) -> None:
    mark = len(upstream.requests)
    raw = sdk.completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt="Say hi",
                                                   max_tokens=5, extra_body={"best_of": 1, "suffix": "!"})
    answer = raw.parse()
    assert answer.choices[0].text == "echo: Say hi" and answer.usage is not None
    sent = orjson.loads(_sent(upstream, mark, "/v1/completions").body)
    assert sent == {"model": "up-instruct", "prompt": "Say hi", "max_tokens": 5, "best_of": 1, "suffix": "!"}
    assert raw.headers["x-corral-model"] == "up-instruct"
    record = _record(corral, raw.headers["x-request-id"])
    assert record["operation"] == "forward" and record["status"] == "ok"
    assert (record["input_tokens"], record["output_tokens"]) == (11, 7)  # the upstream's usage
    assert record["deployment"] and record["served_model"] == "up-instruct"


def test_streamed_completion_is_relayed_with_usage(corral: RunningServer, sdk: openai.OpenAI) -> None:
    raw = sdk.completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt="a longer prompt",
                                                   stream=True, stream_options={"include_usage": True})
    events = list(raw.parse())
    assert "".join(c.choices[0].text for c in events if c.choices) == "echo: a longer prompt"
    assert events[-1].usage is not None and events[-1].usage.total_tokens == 18
    record = _record(corral, raw.headers["x-request-id"])
    assert record["stream"] is True and record["output_tokens"] == 7


def test_moderation_takes_openais_default_model(upstream: RecordingUpstream, sdk: openai.OpenAI) -> None:
    mark = len(upstream.requests)
    result = sdk.moderations.create(input=["plan the attack", "hello"])
    assert [r.flagged for r in result.results] == [True, False]
    assert orjson.loads(_sent(upstream, mark, "/v1/moderations").body)["model"] == "up-moderation"


def test_images_and_speech(upstream: RecordingUpstream, sdk: openai.OpenAI) -> None:
    images = sdk.images.generate(model="media", prompt="a red square", n=2, size="256x256")
    assert len(images.data) == 2 and images.data[0].revised_prompt == "a red square"
    speech = sdk.audio.speech.create(model="media", input="hello there", voice="alloy", response_format="wav")
    assert speech.content.startswith(b"RIFF") and speech.response.headers["content-type"] == "audio/wav"


def test_uploads_keep_the_file_and_change_only_the_model(upstream: RecordingUpstream,
                                                         sdk: openai.OpenAI) -> None:
    mark = len(upstream.requests)
    audio = ("hello.wav", io.BytesIO(b"the words in the recording"), "audio/wav")
    text = sdk.audio.transcriptions.create(model="media", file=audio, response_format="text")
    assert text.strip() == "the words in the recording"
    body = _sent(upstream, mark, "/v1/audio/transcriptions").body
    assert b"the words in the recording" in body and b"up-media" in body and b'filename="hello.wav"' in body
    translated = sdk.audio.translations.create(model="media", file=("a.mp3", b"bonjour", "audio/mpeg"))
    assert translated.text == "bonjour"
    edited = sdk.images.edit(model="media", image=("in.png", b"\x89PNG fake", "image/png"),
                             prompt="add a hat")
    assert edited.data and edited.data[0].revised_prompt == "add a hat"


def test_rerank(corral: RunningServer) -> None:
    docs = ["blue sky", "red apples are sweet"]
    r = httpx.post(corral.url + "/v1/rerank", headers={"authorization": f"Bearer {corral.app_key}"},
                   json={"model": "media", "query": "red apples", "documents": docs, "top_n": 1})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"index": 1, "relevance_score": 1.0, "document": {"text": docs[1]}}]


def test_failover_to_the_next_deployment(corral: RunningServer, sdk: openai.OpenAI) -> None:
    raw = sdk.completions.with_raw_response.create(model="failover", prompt="x")
    assert raw.parse().choices[0].text == "echo: x"
    assert raw.headers["x-corral-attempts"] == "2" and raw.headers["x-corral-fallback"] == "deployment"


def test_the_routes_rate_limit_holds(upstream: RecordingUpstream, sdk: openai.OpenAI) -> None:
    mark = len(upstream.requests)
    for _ in range(2):
        sdk.moderations.create(model="limited", input="fine")
    with pytest.raises(openai.RateLimitError):
        sdk.images.generate(model="limited", prompt="one too many")
    assert len(list(upstream.since(mark))) == 2


def test_a_route_with_no_openai_compatible_deployment_is_a_clear_400(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.completions.create(model="claude", prompt="x")
    assert "/v1/completions" in caught.value.message and "OpenAI-compatible" in caught.value.message


def test_redact_route_sends_placeholders_and_restores_the_answer(upstream: RecordingUpstream,
                                                                 sdk: openai.OpenAI) -> None:
    mark = len(upstream.requests)
    answer = sdk.completions.create(model="private", prompt=f"Write to {EMAIL} today")
    assert answer.choices[0].text == f"echo: Write to {EMAIL} today"
    streamed = sdk.completions.create(model="private", prompt=f"Write to {EMAIL} today", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == f"echo: Write to {EMAIL} today"
    images = sdk.images.generate(model="private", prompt=f"a card for {EMAIL}")
    assert images.data[0].revised_prompt == f"a card for {EMAIL}"
    sent = [r for r in upstream.since(mark)]
    assert len(sent) == 3 and not any(EMAIL.encode() in r.body for r in sent)


def test_redact_and_block_routes_refuse_what_they_cannot_read(upstream: RecordingUpstream,
                                                               sdk: openai.OpenAI) -> None:
    mark = len(upstream.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.transcriptions.create(model="private", file=("a.wav", b"call me", "audio/wav"))
    assert caught.value.code == "pii_uninspectable" and "'off' or 'log-only'" in caught.value.message
    with pytest.raises(openai.BadRequestError) as blocked:
        sdk.completions.create(model="strict", prompt=f"mail {EMAIL}")
    assert blocked.value.code == "pii_detected" and EMAIL not in blocked.value.message
    assert sdk.completions.create(model="strict", prompt="no personal data here").choices
    assert [r.path for r in upstream.since(mark)] == ["/v1/completions"]  # only the clean one


@pytest.mark.parametrize(("path", "body", "content_type", "status", "param"), [
    ("/v1/completions", b'{"prompt": "x"}', "application/json", 400, "model"),
    ("/v1/completions", b'{"model": 5, "prompt": "x"}', "application/json", 400, "model"),
    ("/v1/completions", b'{"model": "gpt-3.5-turbo-instruct", "stream": "yes"}', "application/json", 400,
     "stream"),
    ("/v1/completions", b'[1, 2]', "application/json", 400, None),
    ("/v1/completions", b'{"model": "no-such-model", "prompt": "x"}', "application/json", 404, "model"),
    ("/v1/audio/transcriptions", b'{"model": "media"}', "application/json", 400, None),
    ("/v1/audio/transcriptions",
     b'--b\r\ncontent-disposition: form-data; name="model"\r\n\r\nmedia\r\n--b--\r\n',
     "multipart/form-data; boundary=b", 400, "file"),
    ("/v1/audio/transcriptions", b"--b\r\nbroken", "multipart/form-data; boundary=b", 400, None),
    ("/v1/audio/transcriptions", b"x" * (64 * 1024 + 1), "multipart/form-data; boundary=b", 413, None),
])
def test_bad_input_gets_a_clear_error(corral: RunningServer, upstream: RecordingUpstream, path: str,
                                      body: bytes, content_type: str, status: int, param: str | None) -> None:
    mark = len(upstream.requests)
    r = httpx.post(corral.url + path, content=body, timeout=10,
                   headers={"authorization": f"Bearer {corral.app_key}", "content-type": content_type})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"] and error["param"] == param
    assert list(upstream.since(mark)) == []


def test_keys_are_required(corral: RunningServer) -> None:
    for key in (None, "sk-corral-not-a-key"):
        headers = {"authorization": f"Bearer {key}"} if key else {}
        r = httpx.post(corral.url + "/v1/moderations", json={"input": "x"}, headers=headers, timeout=10)
        assert r.status_code == 401, r.text


def test_metadata_tags_the_record_for_cost_attribution(corral: RunningServer, sdk: openai.OpenAI) -> None:
    chat = sdk.chat.completions.with_raw_response.create(
        model="media", messages=[{"role": "user", "content": "hi"}], metadata={"report_type": "kyc"})
    reply = sdk.responses.with_raw_response.create(model="media", input="hi",
                                                   metadata={"report_type": "aml", "service": "reports"})
    assert _record(corral, chat.headers["x-request-id"])["extras"]["tags"] == {"report_type": "kyc"}
    assert _record(corral, "req_" + reply.parse().id.removeprefix("resp_"))["extras"]["tags"] == {
        "report_type": "aml", "service": "reports"}



def test_images_are_priced_per_image_and_held_to_the_budget(corral: RunningServer,
                                                            upstream: RecordingUpstream,
                                                            sdk: openai.OpenAI) -> None:
    """DALL-E answers report no tokens: each image is priced by size and quality, the record
    says so, and a dollar budget sees them (before: ~$0, so a budget never stopped images)."""
    raw = sdk.images.with_raw_response.generate(model="dall-e-3", prompt="an owl", n=2, size="1024x1792")
    row = _record(corral, raw.headers["x-request-id"])
    assert row["extras"]["units"] == {"unit": "image", "count": 2, "variant": ["1024x1792", "standard"]}
    assert row["cost_usd"] == pytest.approx(0.16)
    mark = len(upstream.requests)
    with pytest.raises(openai.RateLimitError) as refused:  # $0.16 spent, 2 more would be $0.32
        sdk.images.generate(model="dall-e-3", prompt="two more owls", n=2, size="1024x1792")
    assert "usd_per_day" in refused.value.message or "budget" in refused.value.message.lower()
    assert not list(upstream.since(mark))  # refused before the provider
