"""`ownership: key`: a key sees only the files, batches, responses and vector stores it created,
even within its team; every other key's object is answered exactly like a missing one (404),
through the official openai SDK. With the default `ownership: team`, keys of one team share
them (OpenAI's project model) and other teams still see nothing (tested where each API is)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import RunningServer
from tests.files.server import new_key
from tests.knowledge.stores.server import client, kb_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with kb_server("sqlite", tmp_path_factory.mktemp("own-key"), chat=True, ownership="key") as running:
        yield running


def _batch_input() -> io.BytesIO:
    line = {"custom_id": "one", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "echo", "messages": [{"role": "user", "content": "hello"}]}}
    return io.BytesIO(json.dumps(line).encode() + b"\n")


def _objects(oa: openai.OpenAI) -> dict[str, Any]:
    """One of each kind of stored object, made by `oa`'s key."""
    upload = oa.files.create(file=("in.jsonl", _batch_input()), purpose="batch")
    batch = oa.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                              completion_window="24h")
    response = oa.responses.create(model="echo", input="remember this")
    store = oa.vector_stores.create(name="mine")
    return {"file": upload.id, "batch": batch.id, "response": response.id, "store": store.id}


def _missing(call: Any) -> str:
    with pytest.raises(openai.NotFoundError) as caught:
        call()
    return str(caught.value)


def test_a_key_sees_only_what_it_created(server: RunningServer) -> None:
    owner = client(server, new_key(server, "acme"))
    other = client(server, new_key(server, "acme"))  # the same team, another key
    made = _objects(owner)

    assert "in.jsonl" not in _missing(lambda: other.files.retrieve(made["file"]))
    _missing(lambda: other.files.content(made["file"]))
    _missing(lambda: other.files.delete(made["file"]))
    assert made["file"] not in {f.id for f in other.files.list()}
    _missing(lambda: other.batches.create(input_file_id=made["file"], endpoint="/v1/chat/completions",
                                          completion_window="24h"))

    _missing(lambda: other.batches.retrieve(made["batch"]))
    _missing(lambda: other.batches.cancel(made["batch"]))
    assert made["batch"] not in {b.id for b in other.batches.list()}

    _missing(lambda: other.responses.retrieve(made["response"]))
    _missing(lambda: other.responses.input_items.list(made["response"]))
    _missing(lambda: other.responses.create(model="echo", input="and now?",
                                            previous_response_id=made["response"]))
    _missing(lambda: other.responses.delete(made["response"]))

    _missing(lambda: other.vector_stores.retrieve(made["store"]))
    _missing(lambda: other.vector_stores.search(made["store"], query="anything"))
    _missing(lambda: other.vector_stores.delete(made["store"]))
    assert made["store"] not in {s.id for s in other.vector_stores.list()}
    search = [{"type": "file_search", "vector_store_ids": [made["store"]]}]
    _missing(lambda: other.responses.create(model="echo", input="search it", tools=search))  # type: ignore[arg-type]

    # Nothing the other key tried changed anything: the owner still has all of it.
    assert owner.files.retrieve(made["file"]).id == made["file"]
    assert owner.batches.retrieve(made["batch"]).id == made["batch"]
    follow = owner.responses.create(model="echo", input="and now?", previous_response_id=made["response"])
    assert follow.previous_response_id == made["response"]
    assert owner.vector_stores.retrieve(made["store"]).id == made["store"]
    assert {made["file"]} <= {f.id for f in owner.files.list()}


def test_the_default_shares_within_a_team(tmp_path: Path) -> None:
    with kb_server("sqlite", tmp_path, chat=True) as running:
        owner = client(running, new_key(running, "acme"))
        colleague = client(running, new_key(running, "acme"))
        stranger = client(running, new_key(running, "globex"))
        made = _objects(owner)
        assert colleague.files.retrieve(made["file"]).id == made["file"]
        assert colleague.batches.retrieve(made["batch"]).id == made["batch"]
        assert colleague.responses.retrieve(made["response"]).id == made["response"]
        assert colleague.vector_stores.retrieve(made["store"]).id == made["store"]
        _missing(lambda: stranger.files.retrieve(made["file"]))
        _missing(lambda: stranger.responses.retrieve(made["response"]))
