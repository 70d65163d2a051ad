"""A graceful stop's deadline ends open streams with each API's own error event (corral.core.drain).

The server process's signal path is tests/integration/test_graceful_shutdown.py; here the cut
itself, on each streaming dialect, read by the official SDK a user brings: the OpenAI SDK raises
on a chat completion stream's error, the Anthropic SDK on a Messages `error` event, and a
Responses stream carries an `error` event, then `response.failed`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from corral.api.app import create_app
from corral.core.drain import cut_open_streams
from tests.conftest import RunningServer, serve_in_thread, settings_for

MESSAGE = "shutting down"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    settings = settings_for(tmp_path, {"fake": {"type": "fake"}},
                            {"slow": {"deployments": [{"provider": "fake", "model": "slow"}]}})
    yield from serve_in_thread(create_app(settings, warmup=False))


def _cut(server: RunningServer) -> None:
    """What the stop's timer does, on the server's own loop."""
    server.server.servers[0].get_loop().call_soon_threadsafe(cut_open_streams)


def _drain(chunks: Iterator[Any]) -> list[Any]:
    started = time.monotonic()
    seen = list(chunks)
    assert time.monotonic() - started < 2, "the stream ran on (200 words, 4 s) instead of ending"
    return seen


def test_a_cut_chat_stream_raises_an_api_error_in_the_openai_sdk(server: RunningServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)
    chunks = iter(client.chat.completions.create(model="slow", stream=True,
                                                 messages=[{"role": "user", "content": "hi"}]))
    next(chunks)
    _cut(server)
    with pytest.raises(openai.APIError, match=MESSAGE):
        _drain(chunks)


def test_a_cut_messages_stream_raises_in_the_anthropic_sdk(server: RunningServer) -> None:
    client = anthropic.Anthropic(base_url=server.url, api_key=server.app_key, max_retries=0)
    events = iter(client.messages.create(model="slow", max_tokens=300, stream=True,
                                         messages=[{"role": "user", "content": "hi"}]))
    next(events)
    _cut(server)
    with pytest.raises(anthropic.APIStatusError, match=MESSAGE):
        _drain(events)


def test_a_cut_responses_stream_ends_with_an_error_event_then_failed(server: RunningServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)
    events = iter(client.responses.create(model="slow", input="hi", stream=True))
    next(events)
    _cut(server)
    rest = _drain(events)
    types = [e.type for e in rest]
    assert types[-2:] == ["error", "response.failed"], types
    assert MESSAGE in rest[-2].message
