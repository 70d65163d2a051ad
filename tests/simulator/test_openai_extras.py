"""The simulator's extra OpenAI endpoints (completions, moderations, images, audio, rerank),
checked with the official OpenAI SDK where it has the method, and httpx otherwise."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from corral.simulator import SimSettings, running_simulator, sim_text

from .helpers import sse_json

pytestmark = pytest.mark.asyncio

PROMPT = "Write about owls"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def base() -> AsyncIterator[str]:
    faults = [{"fault": "server_error", "model": "broken-*"}]
    async with running_simulator(SimSettings(output_tokens=6, require_key="sk-sim"), faults) as url:
        yield url


@pytest.fixture
async def client(base: str) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-sim", max_retries=0)
    yield sdk
    await sdk.close()


@pytest.fixture
async def http(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer sk-sim"}) as h:
        yield h


async def test_completions_unary(client: openai.AsyncOpenAI) -> None:
    done = await client.completions.create(model="sim-instruct", prompt=PROMPT)
    assert done.object == "text_completion" and done.id.startswith("cmpl-")
    assert done.choices[0].text == sim_text(PROMPT, 6) and done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.completion_tokens == 6 and done.usage.prompt_tokens == 4

    many = await client.completions.create(
        model="sim-instruct", prompt=[PROMPT, "Other words here"], n=2, max_tokens=3, echo=True
    )
    assert [c.index for c in many.choices] == [0, 1, 2, 3]
    assert many.choices[1].text == PROMPT + sim_text(PROMPT, 3)
    assert many.choices[2].text == "Other words here" + sim_text("Other words here", 3)
    assert {c.finish_reason for c in many.choices} == {"length"}
    assert many.usage is not None and many.usage.completion_tokens == 12

    tokens = await client.completions.create(model="sim-instruct", prompt=[1, 2, 3], logprobs=2)
    assert tokens.usage is not None and tokens.usage.prompt_tokens == 3
    assert tokens.choices[0].logprobs is not None and len(tokens.choices[0].logprobs.tokens or []) == 6

    stopped = await client.completions.create(model="sim-instruct", prompt=PROMPT, stop=["owls"])
    assert stopped.choices[0].text == "Write about " and stopped.choices[0].finish_reason == "stop"


async def test_completions_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.completions.create(
        model="sim-instruct", prompt=PROMPT, stream=True, stream_options={"include_usage": True}
    )
    text, finish, usage = "", None, None
    async for chunk in stream:
        assert chunk.object == "text_completion"
        for choice in chunk.choices:
            text += choice.text
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    assert text == sim_text(PROMPT, 6) and finish == "stop"
    assert usage is not None and usage.total_tokens == 10


async def test_completions_stream_fault(http: httpx.AsyncClient) -> None:
    body = {"model": "sim-instruct", "prompt": PROMPT, "stream": True}
    resp = await http.post("/v1/completions", json=body, headers={"x-sim-fault": "stream_error"})
    events = sse_json(resp.content)
    assert [e["choices"][0]["text"] for e in events[:2]] == ["Write", " about"]
    assert events[-1]["error"]["type"] == "server_error" and b"[DONE]" not in resp.content


async def test_moderations(client: openai.AsyncOpenAI) -> None:
    texts = ["I will kill them", "nice tea"]
    mod = await client.moderations.create(model="omni-moderation-latest", input=texts)
    assert mod.id.startswith("modr-") and mod.model == "omni-moderation-latest"
    bad, fine = mod.results
    assert bad.flagged and bad.categories.violence and bad.category_scores.violence > 0.9
    assert not fine.flagged and fine.category_scores.violence < 0.01
    parts: Any = [{"type": "text", "text": "plan an attack"},
                  {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    multi = await client.moderations.create(model="omni-moderation-latest", input=parts)
    assert len(multi.results) == 1 and multi.results[0].flagged
    assert multi.results[0].category_applied_input_types.violence == ["text", "image"]


async def test_images(client: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
    gen = await client.images.generate(model="gpt-image-1", prompt="an owl", n=2, response_format="b64_json")
    assert len(gen.data) == 2 and all(base64.b64decode(d.b64_json or "").startswith(PNG) for d in gen.data)
    assert gen.usage is not None and gen.usage.input_tokens_details.text_tokens == 2
    assert gen.usage.input_tokens_details.image_tokens == 0

    by_url = await client.images.generate(model="dall-e-2", prompt="an owl", response_format="url")
    fetched = await http.get(by_url.data[0].url or "")
    assert fetched.headers["content-type"] == "image/png" and fetched.content.startswith(PNG)

    owl = ("owl.png", PNG + b"fake", "image/png")
    edit = await client.images.edit(model="gpt-image-1", prompt="add a hat", image=[owl, owl], n=1)
    assert edit.usage is not None and edit.usage.input_tokens_details.image_tokens > 0
    assert base64.b64decode(edit.data[0].b64_json or "").startswith(PNG)
    variation = await client.images.create_variation(model="dall-e-2", image=owl, n=3)
    assert len(variation.data) == 3


async def test_speech(client: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
    speech = client.audio.speech
    short = await speech.create(model="tts-1", input="Hi", voice="alloy", response_format="wav")
    long = await speech.create(model="tts-1", input="Hi" * 50, voice="alloy", response_format="wav")
    assert short.response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(long.content)) as audio:
        assert audio.getnchannels() == 1 and audio.getframerate() == 24000 and audio.getnframes() > 0
    assert len(long.content) > len(short.content)
    mp3 = await client.audio.speech.create(model="tts-1", input="Hi", voice="alloy")
    assert mp3.response.headers["content-type"] == "audio/mpeg" and mp3.content

    missing = await http.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "voice"


async def test_transcriptions_and_translations(client: openai.AsyncOpenAI) -> None:
    said = b"My name is Jane Roe, call me at 555-0100"
    audio = ("note.wav", said, "audio/wav")
    plain = await client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert plain.text == said.decode() and plain.usage is not None and plain.usage.type == "duration"
    verbose = await client.audio.transcriptions.create(model="whisper-1", file=audio,
                                                       response_format="verbose_json")
    assert verbose.text == said.decode() and verbose.segments and verbose.segments[0].end == verbose.duration
    text = await client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="text")
    assert text.strip() == said.decode()
    srt = await client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> ")
    vtt = await client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="vtt")
    assert vtt.startswith("WEBVTT")
    mp3 = ("a.mp3", b"\xff\xfb\x90", "audio/mpeg")
    binary = await client.audio.transcriptions.create(model="whisper-1", file=mp3)
    assert binary.text == "transcript of 3 bytes"
    translated = await client.audio.translations.create(model="whisper-1", file=audio)
    assert translated.text == said.decode()


async def test_rerank(http: httpx.AsyncClient) -> None:
    docs = ["green pear", {"text": "a red apple"}, "apple pie"]
    for path in ("/v1/rerank", "/rerank", "/v2/rerank"):
        resp = await http.post(path, json={"model": "sim-rerank", "query": "red apple", "documents": docs})
        body = resp.json()
        assert resp.status_code == 200 and body["model"] == "sim-rerank" and body["usage"]["total_tokens"] > 0
        assert [r["index"] for r in body["results"]] == [1, 2, 0]
        best = {"index": 1, "relevance_score": 0.666667, "document": {"text": "a red apple"}}
        assert body["results"][0] == best
    top = await http.post("/v1/rerank", json={"model": "m", "query": "apple", "documents": docs, "top_n": 1,
                                              "return_documents": False})
    assert top.json()["results"] == [{"index": 2, "relevance_score": 0.5}]


async def test_faults_auth_and_stats(base: str, client: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
    with pytest.raises(openai.RateLimitError):
        await client.completions.create(model="m", prompt="x", extra_headers={"x-sim-fault": "rate_limit"})
    with pytest.raises(openai.InternalServerError):
        await client.moderations.create(model="m", input="x", extra_headers={"x-sim-fault": "server_error"})
    with pytest.raises(openai.InternalServerError):  # the schedule: model broken-* gets server_error
        await client.audio.transcriptions.create(model="broken-whisper", file=("a.wav", b"x", "audio/wav"))
    with pytest.raises(openai.APIStatusError) as overloaded:
        await client.images.generate(model="m", prompt="x", extra_headers={"x-sim-fault": "unavailable"})
    assert overloaded.value.status_code == 503
    limited = await http.post("/v1/rerank", json={"model": "m", "query": "q", "documents": ["d"]},
                              headers={"x-sim-fault": "rate_limit"})
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.APIConnectionError):  # reset: a TCP RST before any answer
        await client.audio.speech.create(model="tts-1", input="x", voice="alloy",
                                         extra_headers={"x-sim-fault": "reset"})
    slow = await client.moderations.create(model="m", input="x",
                                           extra_headers={"x-sim-fault": "hang", "x-sim-hang-s": "0.05"})
    assert not slow.results[0].flagged
    async with httpx.AsyncClient(base_url=base) as anonymous:
        denied = await anonymous.post("/v1/moderations", json={"model": "m", "input": "x"})
        assert denied.status_code == 401
    stats = (await http.get("/sim/stats")).json()
    assert stats["faults"] == {"rate_limit": 2, "server_error": 2, "unavailable": 1, "reset": 1, "hang": 1}
    assert stats["endpoints"]["openai.audio.transcriptions"] == 1 and stats["rejected"] == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"prompt": "x"}),
        ("/v1/completions", {"model": "m", "prompt": {"not": "valid"}}),
        ("/v1/moderations", {"input": "x"}),
        ("/v1/moderations", {"model": "m", "input": 3}),
        ("/v1/images/generations", {"prompt": "x"}),
        ("/v1/images/generations", {"model": "m", "prompt": "x", "n": "two"}),
        ("/v1/audio/speech", {"input": "x", "voice": "alloy"}),
        ("/v1/audio/speech", {"model": "m", "voice": "alloy"}),
        ("/v1/rerank", {"query": "q", "documents": ["d"]}),
        ("/v1/rerank", {"model": "m", "query": "q", "documents": "d"}),
    ],
)
async def test_bad_json_input(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    resp = await http.post(path, json=body)
    assert resp.status_code == 400
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("path", "data", "files"),
    [
        ("/v1/audio/transcriptions", {}, {"file": ("a.wav", b"x")}),
        ("/v1/audio/transcriptions", {"model": "whisper-1"}, {}),
        ("/v1/audio/translations", {"model": "m", "response_format": "xml"}, {"file": ("a.wav", b"x")}),
        ("/v1/images/edits", {"prompt": "x"}, {"image": ("a.png", PNG)}),
        ("/v1/images/edits", {"model": "m", "prompt": "x"}, {"mask": ("a.png", PNG)}),
        ("/v1/images/variations", {"model": "m", "n": "99"}, {"image": ("a.png", PNG)}),
    ],
)
async def test_bad_multipart_input(
    http: httpx.AsyncClient, path: str, data: dict[str, str], files: dict[str, Any]
) -> None:
    resp = await http.post(path, data=data, files=files or {"unused": ("u", b"u")})
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"


async def test_a_schedule_can_target_each_extra_endpoint() -> None:
    """`endpoint:` in a fault schedule names the extra endpoints too, so a gateway's failover
    on, say, moderations can be tested without touching chat."""
    faults = [{"fault": "server_error", "endpoint": "moderations"},
              {"fault": "rate_limit", "endpoint": "images.generations"}]
    async with running_simulator(SimSettings(output_tokens=6, require_key="sk-sim"), faults) as url:
        sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-sim", max_retries=0)
        try:
            with pytest.raises(openai.InternalServerError):
                await sdk.moderations.create(model="m", input="x")
            with pytest.raises(openai.RateLimitError):
                await sdk.images.generate(model="m", prompt="x")
            done = await sdk.completions.create(model="m", prompt=PROMPT)  # not targeted
            assert done.choices[0].text == sim_text(PROMPT, 6)
        finally:
            await sdk.close()
