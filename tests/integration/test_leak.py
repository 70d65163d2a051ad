"""The leak test (issue 14, item 5): personal data and credentials sent through every entry point
of a gateway whose privacy policy is `redact` never reach the upstream, in any field, header or
encoding, and come back to the client where restoration applies.

The upstream is a real HTTP server on loopback that records every request byte for byte and
echoes the last user message (tests/integration/recording_upstream.py): restoration must put the
values back in the echoed answer, streamed ones arriving 3 characters per chunk so that every
placeholder is split across chunks. The corpus and the scanner (raw, any case, JSON-escaped,
URL-encoded, base64 standard and URL-safe, the requests' texts concatenated) are in
tests/integration/leak_corpus.py.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx  # (loaded before the server's threads import it: the SDK reads it mid-import)
import openai
import orjson
import pytest

from corral.api.app import create_app
from corral.privacy.detect import PIIDetector
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.integration.leak_corpus import CORPUS, PROMPT, UNDETECTED, encodings, find_leaks
from tests.integration.recording_upstream import RecordingUpstream

UPSTREAM_KEY = "sk-upstream-leak-test"
ECHO = f"echo: {PROMPT}"
EMAIL = CORPUS["email"][0]


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream() as up:
        yield up


@pytest.fixture(scope="module")
def corral(upstream: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("leak")
    mp = pytest.MonkeyPatch()
    mp.setenv("LEAK_UPSTREAM_KEY", UPSTREAM_KEY)
    up = {"provider": "up"}
    settings = settings_for(
        tmp,
        {"up": {"type": "openai", "base_url": f"{upstream.url}/v1", "api_key_env": "LEAK_UPSTREAM_KEY"}},
        {"chat": {"deployments": [{**up, "model": "up-chat"}], "retry": {"max_attempts": 1}},
         "chat-native": {"deployments": [{**up, "model": "up-chat"}], "batch": "native"},
         # Grounded in a vector store (its id is set once the store exists: see the test).
         "chat-grounded": {"deployments": [{**up, "model": "up-chat"}],
                           "knowledge": {"stores": ["vs_later"], "top_k": 3}},
         "emb": {"deployments": [{**up, "model": "up-embed"}]},
         "emb-native": {"deployments": [{**up, "model": "up-embed"}], "batch": "native"}},
        privacy={"default": {"policy": "redact"}},
        knowledge={"embedding_model": "emb"},
        database_url=f"sqlite:///{tmp / 'corral.db'}",
        jobs={"poll_interval_s": 0.05},
        batches={"check_interval_s": 0.05, "native_poll_interval_s": 0.05},
    )
    try:
        yield from serve_in_thread(create_app(settings, warmup=False))
    finally:
        mp.undo()


@pytest.fixture
def sdk(corral: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=corral.url + "/v1", api_key=corral.app_key, max_retries=0)


class Sent:
    """What the upstream receives from the start of a test; `check()` at its end."""

    def __init__(self, upstream: RecordingUpstream) -> None:
        self.upstream, self.mark = upstream, len(upstream.requests)

    def paths(self) -> list[str]:
        return [r.path for r in self.upstream.since(self.mark)]

    def check(self) -> None:
        requests = list(self.upstream.since(self.mark))
        assert requests, "nothing reached the upstream: the leak check would mean nothing"
        leaks: list[str] = []
        for n, r in enumerate(requests):
            where = f"request {n} {r.method} {r.path}"
            leaks += find_leaks(r.target.encode(), f"{where}: path and query")
            leaks += [leak for name, value in r.headers
                      for leak in find_leaks(f"{name}: {value}".encode(), f"{where}: header {name}")]
            leaks += find_leaks(r.body, f"{where}: body")
        # A value split across requests (chunks of one document, lines of one batch): every
        # string the upstream received, in order, joined without a separator.
        joined = "".join(s for r in requests for s in _strings(r.body))
        leaks += find_leaks(joined.encode(), "all texts joined")
        assert not leaks, "\n".join(leaks)
        assert "[EMAIL_1]" in joined, "placeholders were sent"


@pytest.fixture
def sent(upstream: RecordingUpstream) -> Sent:
    return Sent(upstream)


def _strings(body: bytes) -> Iterator[str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        yield body.decode(errors="replace")
        return
    stack = [data]
    while stack:
        item = stack.pop(0)
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack[:0] = list(item.values())
        elif isinstance(item, list):
            stack[:0] = item


def test_every_corpus_value_is_detected_in_context() -> None:
    """Whole, in one span (a connection string: its credentials). Values the detector misses are
    a detection gap, listed apart in UNDETECTED, not something this test could assert."""
    spans = PIIDetector().detect(PROMPT)
    for name, (value, _) in CORPUS.items():
        secret = "app_admin:Tr0ub4dor-Horse-77" if name == "database_url" else value
        at = PROMPT.index(secret)
        assert any(s.start <= at and s.end >= at + len(secret) for s in spans), f"{name} not detected"
    assert UNDETECTED, "the known gaps are listed (tests/integration/leak_corpus.py)"


@pytest.mark.parametrize("encoding", ["raw", "json-ascii", "url", "url-plus", "base64", "base64url"])
@pytest.mark.parametrize("name", ["slack_bot_token", "email", "address"])
def test_the_scanner_finds_a_planted_value_in_each_encoding(encoding: str, name: str) -> None:
    assert find_leaks(b'{"x": "prefix ' + encodings(CORPUS[name][0])[encoding] + b' suffix"}', "planted")


def test_the_scanner_ignores_case_and_finds_fragments_of_credentials() -> None:
    assert find_leaks(CORPUS["email"][0].upper().encode(), "upper")
    assert find_leaks(b"signature " + CORPUS["jwt"][0][-20:].encode(), "fragment")
    assert not find_leaks(b'{"text": "[EMAIL_1] asked about refunds, token [SECRET_1]"}', "clean")


@pytest.mark.parametrize("offset", range(3))
def test_the_scanner_decodes_base64_of_a_longer_text(offset: int) -> None:
    text = "n" * offset + f"note: card {CORPUS['card'][0]} on file"
    assert find_leaks(base64.b64encode(text.encode()), "planted")


def test_the_scanner_finds_a_value_split_across_requests() -> None:
    bodies = [orjson.dumps({"input": ["call Margaret Thorn"]}), orjson.dumps({"input": ["bury today"]})]
    assert not find_leaks(bodies[0], "one") and not find_leaks(bodies[1], "other")
    assert find_leaks("".join(s for b in bodies for s in _strings(b)).encode(), "joined")


def _conversation() -> Any:
    return [
        {"role": "system", "content": f"You help {CORPUS['person'][0]} ({EMAIL})."},
        {"role": "user", "content": "Look me up."},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": orjson.dumps({"email": EMAIL}).decode()}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": PROMPT},
        {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
    ]


def test_chat_completions(sdk: openai.OpenAI, sent: Sent) -> None:
    answer = sdk.chat.completions.create(model="chat", messages=_conversation(), user=EMAIL)
    assert answer.choices[0].message.content == ECHO
    sent.check()


def test_streamed_chat_completions(sdk: openai.OpenAI, sent: Sent) -> None:
    stream = sdk.chat.completions.create(model="chat", messages=_conversation(),
                                         stream=True, stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == ECHO
    sent.check()


def test_several_answers(sdk: openai.OpenAI, sent: Sent) -> None:
    answer = sdk.chat.completions.create(model="chat", messages=_conversation(), n=2)
    assert [c.message.content for c in answer.choices] == [ECHO, ECHO]
    sent.check()


def _anthropic_turns() -> Any:
    """The same conversation in the Messages API's blocks, with a thinking block a client wrote."""
    return [
        {"role": "user", "content": "Look me up."},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": f"The user is {EMAIL}.", "signature": "client-made"},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"email": EMAIL}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": PROMPT},
                                     {"type": "text", "text": PROMPT}]},
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_messages(corral: RunningServer, sent: Sent, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=corral.url, api_key=corral.app_key, max_retries=0)
    ask: dict[str, Any] = {"model": "chat", "max_tokens": 50, "messages": _anthropic_turns(),
                           "system": f"You help {CORPUS['person'][0]} ({EMAIL}).",
                           "metadata": {"user_id": EMAIL}}
    if stream:
        with client.messages.stream(**ask) as events:
            text = "".join(events.text_stream)
    else:
        text = client.messages.create(**ask).content[0].text  # type: ignore[union-attr]
    assert text == ECHO
    sent.check()


_FIELDS: dict[str, tuple[dict[str, Any], str | None]] = {  # request fields -> why they leak (None: not)
    "tool definitions": ({"tools": [{"type": "function", "function": {
        "name": "lookup", "description": f"Looks up {EMAIL}",
        "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": PROMPT}}}}}]},
        None),
    "message name": ({"messages": [{"role": "user", "name": "Margaret_Thornbury", "content": PROMPT}]},
                     "the name is redacted, but 'Margaret_Thornbury' is not detected, and request-wide "
                     "consistency (issue 14 item 2) does not treat an underscore-joined variant of a "
                     "detected name as the same value"),
    "stop": ({"stop": [EMAIL]}, None),
    "response_format": ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "record", "schema": {"type": "object", "description": PROMPT}}}}, None),
    "metadata": ({"metadata": {"customer": EMAIL}, "store": True}, None),
    "prediction": ({"prediction": {"type": "content", "content": PROMPT}}, None),
    "safety_identifier": ({"safety_identifier": EMAIL}, None),
    "user and headers": ({"user": EMAIL, "extra_headers": {"x-customer": EMAIL, "x-note": PROMPT}}, None),
}


@pytest.mark.parametrize("field", [
    pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=why)] if why else [])
    for name, (_, why) in _FIELDS.items()
])
def test_other_chat_fields(sdk: openai.OpenAI, sent: Sent, field: str) -> None:
    extra = dict(_FIELDS[field][0])
    messages: Any = extra.pop("messages", [{"role": "user", "content": PROMPT}])
    answer = sdk.chat.completions.create(model="chat", messages=messages, **extra)
    assert answer.choices[0].message.content == ECHO
    sent.check()


@pytest.mark.parametrize("stream", [False, True])
def test_passed_through_completions(sdk: openai.OpenAI, sent: Sent, stream: bool) -> None:
    """/v1/completions is passed through untranslated; its prose is redacted all the same."""
    prompt = f"Write to {EMAIL}. {PROMPT}"
    if stream:
        events = sdk.completions.create(model="chat", prompt=prompt, user=EMAIL, stream=True)
        text = "".join(c.choices[0].text for c in events if c.choices)
    else:
        text = sdk.completions.create(model="chat", prompt=prompt, user=EMAIL).choices[0].text
    assert text == "echo: " + prompt
    sent.check()


def test_passed_through_moderations_images_and_rerank(corral: RunningServer, sdk: openai.OpenAI,
                                                      sent: Sent) -> None:
    assert len(sdk.moderations.create(model="chat", input=[PROMPT, EMAIL]).results) == 2
    assert sdk.images.generate(model="chat", prompt=PROMPT).data[0].revised_prompt == PROMPT
    r = httpx.post(corral.url + "/v1/rerank", headers={"authorization": f"Bearer {corral.app_key}"},
                   json={"model": "chat", "query": f"mail for {EMAIL}", "documents": [PROMPT, "x"]},
                   timeout=10)
    assert r.status_code == 200 and PROMPT in [x["document"]["text"] for x in r.json()["results"]]
    sent.check()


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_embeddings(sdk: openai.OpenAI, sent: Sent, encoding_format: Any) -> None:
    answer = sdk.embeddings.create(model="emb", input=[PROMPT, EMAIL], user=EMAIL,
                                   encoding_format=encoding_format)
    assert len(answer.data) == 2
    sent.check()


def test_responses(sdk: openai.OpenAI, sent: Sent) -> None:
    answer = sdk.responses.create(model="chat", input=PROMPT, instructions=f"Address {EMAIL}.",
                                  metadata={"customer": CORPUS["person"][0]}, user=EMAIL)
    assert answer.output_text == ECHO
    followed = sdk.responses.create(model="chat", previous_response_id=answer.id, input=[
        {"type": "function_call_output", "call_id": "call_9", "output": PROMPT},
        {"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}])
    assert followed.output_text == ECHO
    sent.check()


def test_streamed_responses(sdk: openai.OpenAI, sent: Sent) -> None:
    text = "".join(e.delta for e in sdk.responses.create(model="chat", input=PROMPT, stream=True)
                   if e.type == "response.output_text.delta")
    assert text == ECHO
    sent.check()


def test_background_responses(sdk: openai.OpenAI, sent: Sent) -> None:
    queued = sdk.responses.create(model="chat", input=PROMPT, background=True)
    answer = _poll(lambda: sdk.responses.retrieve(queued.id),
                   lambda r: r.status not in ("queued", "in_progress"))
    assert answer.status == "completed" and answer.output_text == ECHO
    sent.check()


@pytest.mark.parametrize("native", [False, True], ids=["run-by-corral", "native"])
@pytest.mark.parametrize("endpoint", ["/v1/chat/completions", "/v1/embeddings", "/v1/responses"])
def test_batch_lines(sdk: openai.OpenAI, sent: Sent, endpoint: Any, native: bool) -> None:
    suffix = "-native" if native else ""
    bodies: dict[str, dict[str, Any]] = {
        "/v1/chat/completions": {"model": f"chat{suffix}", "messages": [{"role": "user", "content": PROMPT}]},
        "/v1/embeddings": {"model": f"emb{suffix}", "input": [PROMPT]},
        "/v1/responses": {"model": f"chat{suffix}", "input": PROMPT},
    }
    body = bodies[endpoint]
    lines = b"".join(orjson.dumps({"custom_id": f"line-{i}", "method": "POST", "url": endpoint,
                                   "body": body}) + b"\n" for i in range(2))
    upload = sdk.files.create(file=("leak.jsonl", io.BytesIO(lines)), purpose="batch")
    batch = sdk.batches.create(input_file_id=upload.id, endpoint=endpoint, completion_window="24h")
    done = _poll(lambda: sdk.batches.retrieve(batch.id), lambda b: b.status in ("completed", "failed"))
    assert done.status == "completed" and done.output_file_id, done
    answers = [orjson.loads(line)["response"]["body"]
               for line in sdk.files.content(done.output_file_id).read().splitlines()]
    assert len(answers) == 2
    for answer in answers:
        if endpoint == "/v1/chat/completions":
            assert answer["choices"][0]["message"]["content"] == ECHO
        elif endpoint == "/v1/responses":
            assert answer["output"][-1]["content"][0]["text"] == ECHO
    forwarded = native and endpoint != "/v1/responses"  # a Responses line is always run by Corral
    assert ("/v1/files" in sent.paths()) is forwarded, "native lines went to the provider's batch API"
    sent.check()


DOCUMENT = "\n\n".join(
    f"Customer record {i}. {PROMPT} Notes: the customer asked about refunds and delivery times "
    "for the parcel shipped from the Lyon warehouse last week." for i in range(3)
)


def test_vector_store_ingestion_and_retrieval(corral: RunningServer, sdk: openai.OpenAI, sent: Sent) -> None:
    """Chunks go to the embedding route, search queries too, and the retrieved chunks into the
    chat prompt (Responses `file_search`, a grounded chat route). A chunk's overlap once began
    inside the JWT: its signature reached the embedder and the chat provider (fixed in
    corral/knowledge/chunking.py, `_Chunker.tail`)."""
    store = sdk.vector_stores.create(name="leak")
    upload = sdk.files.create(file=("customers.txt", io.BytesIO(DOCUMENT.encode())), purpose="assistants")
    batch = sdk.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[upload.id], poll_interval_ms=50)
    assert batch.file_counts.completed == 1, batch
    found = sdk.vector_stores.search(store.id, query=f"What is the IBAN of {CORPUS['person'][0]}?")
    assert found.data
    question = f"What is the card of {EMAIL}?"
    answer = sdk.responses.create(model="chat", input=question,
                                  tools=[{"type": "file_search", "vector_store_ids": [store.id],
                                          "max_num_results": 3}])
    assert answer.output_text == f"echo: {question}"
    corral.gateway.routes.routes["chat-grounded"].settings.knowledge.stores = [store.id]
    grounded = sdk.chat.completions.create(model="chat-grounded",
                                           messages=[{"role": "user", "content": question}])
    assert grounded.choices[0].message.content == f"echo: {question}"
    chats = [r.body for r in sent.upstream.since(sent.mark) if r.path == "/v1/chat/completions"]
    assert len(chats) == 2 and all(b"=== SOURCES" in body for body in chats), "both were grounded"
    sent.check()


def _poll(get: Any, done: Any, timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
