"""`POST /v1/vector_stores/{id}/reembed`, Corral's extension, through the openai SDK's
low-level `post` against a real gateway (SQLite; the service is tested on both backends in
test_reembed.py): the owner re-embeds, another team gets a 404, bad input a 400 naming the
field."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from corral.config import LOCAL_EMBED_MODEL_NAME
from tests.conftest import RunningServer
from tests.files.server import new_key
from tests.knowledge.stores.server import client, kb_server, wait_files


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with kb_server("sqlite", tmp_path_factory.mktemp("kb-reembed")) as running:
        yield running


def _reembed(oa: openai.OpenAI, store_id: str, body: Any) -> Any:
    return oa.post(f"/vector_stores/{store_id}/reembed", body=body, cast_to=object)


def test_the_owner_reembeds_a_store_whose_upload_is_gone(server: RunningServer) -> None:
    oa = client(server, new_key(server, "reembed-owner"))
    store = oa.vector_stores.create(name="notes")
    upload = oa.files.create(file=("otters.txt", io.BytesIO(b"Otters hold hands while they sleep.")),
                             purpose="assistants")
    added = oa.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=upload.id)
    assert added.status == "completed"
    oa.files.delete(upload.id)  # re-embedded from the text Corral parsed from it
    answer = _reembed(oa, store.id, {"model": LOCAL_EMBED_MODEL_NAME})
    assert answer["object"] == "vector_store" and answer["id"] == store.id
    assert answer["file_counts"]["total"] == 1
    done = wait_files(oa, store.id)
    assert done.status == "completed" and done.file_counts.completed == 1
    found = oa.vector_stores.search(store.id, query="otters sleeping", max_num_results=1)
    assert [r.file_id for r in found.data] == [upload.id]


def test_another_teams_store_and_bad_input_are_refused(server: RunningServer) -> None:
    key = new_key(server, "reembed-a")
    owner = client(server, key)
    store = owner.vector_stores.create(name="mine")
    with pytest.raises(openai.NotFoundError, match="No such vector store"):
        _reembed(client(server, new_key(server, "reembed-b")), store.id, {"model": LOCAL_EMBED_MODEL_NAME})
    with pytest.raises(openai.BadRequestError, match="no-such-route") as unknown:
        _reembed(owner, store.id, {"model": "no-such-route"})
    assert unknown.value.param == "model" and unknown.value.code == "embedding_model_not_found"
    for body, param in (({}, "model"), ({"model": 5}, "model"), ({"model": " "}, "model"),
                        ({"model": LOCAL_EMBED_MODEL_NAME, "dimensions": 3}, "dimensions")):
        with pytest.raises(openai.BadRequestError) as bad:
            _reembed(owner, store.id, body)
        assert bad.value.param == param, body
    not_json = httpx.post(f"{server.url}/v1/vector_stores/{store.id}/reembed", content=b"{model",
                          headers={"authorization": f"Bearer {key}"}, timeout=10)
    assert not_json.status_code == 400, not_json.text
    assert owner.vector_stores.retrieve(store.id).status == "completed"  # nothing changed
    empty = _reembed(owner, store.id, {"model": LOCAL_EMBED_MODEL_NAME})  # no file: nothing to queue
    assert empty["status"] == "completed" and empty["file_counts"]["total"] == 0
