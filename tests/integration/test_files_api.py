"""The Files API through the official openai SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import RunningServer
from tests.files.server import MAX_FILE, MAX_JSON_BODY, new_key, serve_files, stored


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_files(request, tmp_path_factory)


def client(server: RunningServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def batch_file(n: int) -> bytes:
    return b"".join(json.dumps({"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}}
                               ).encode() + b"\n" for i in range(n))


def test_create_list_retrieve_content_delete(server: RunningServer) -> None:
    sdk = client(server, new_key(server, "cycle"))
    data = batch_file(3)
    made = sdk.files.create(file=("input.jsonl", io.BytesIO(data)), purpose="batch")
    assert made.id.startswith("file-") and made.object == "file" and made.status == "processed"
    assert (made.bytes, made.filename, made.purpose) == (len(data), "input.jsonl", "batch")
    assert made.expires_at == made.created_at + 30 * 86_400  # batch files: 30 days, as OpenAI
    assert sdk.files.retrieve(made.id) == made
    assert [f.id for f in sdk.files.list()] == [made.id]
    assert sdk.files.content(made.id).read() == data
    deleted = sdk.files.delete(made.id)
    assert (deleted.id, deleted.deleted) == (made.id, True)
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        sdk.files.content(made.id)
    assert list(sdk.files.list()) == []
    assert stored(server, "cycle") == (0, 0)


def test_a_large_file_streams_in_chunks_past_the_json_body_limit(server: RunningServer) -> None:
    sdk = client(server, new_key(server, "large"))
    data = bytes(range(256)) * (MAX_FILE // 256)  # exactly the limit: 3 chunks, 3x max_body_bytes
    assert len(data) == MAX_FILE > MAX_JSON_BODY
    made = sdk.files.create(file=("blob.bin", data), purpose="user_data",
                            expires_after={"anchor": "created_at", "seconds": 3600})
    assert made.bytes == MAX_FILE and made.expires_at == made.created_at + 3600
    assert sdk.files.content(made.id).read() == data
    assert stored(server, "large") == (1, 3)


def test_paging_with_the_sdk(server: RunningServer) -> None:
    sdk = client(server, new_key(server, "pages"))
    ids = [sdk.files.create(file=(f"f{i}.txt", b"%d" % i), purpose="user_data" if i % 2 else "assistants").id
           for i in range(5)]
    first = sdk.files.list(limit=2)
    assert [f.id for f in first.data] == ids[:2:-1][:2] and first.has_more
    assert [f.id for f in sdk.files.list(limit=2)] == ids[::-1]  # the SDK follows `after` itself
    assert [f.id for f in sdk.files.list(limit=3, order="asc")] == ids
    assert [f.id for f in sdk.files.list(purpose="user_data", order="asc")] == ids[1::2]
    last = sdk.files.list(limit=2, after=ids[1])
    assert [f.id for f in last.data] == [ids[0]] and not last.has_more


def test_another_team_gets_404_as_for_a_missing_id(server: RunningServer) -> None:
    owner, other = client(server, new_key(server, "owner")), client(server, new_key(server, "intruder"))
    made = owner.files.create(file=("secret.jsonl", batch_file(1)), purpose="batch")
    missing = "file-" + "0" * 24
    for file_id in (made.id, missing):
        for call in (other.files.retrieve, other.files.content, other.files.delete):
            with pytest.raises(openai.NotFoundError) as caught:
                call(file_id)
            assert caught.value.body == {"message": f"No such File object: {file_id}",
                                         "type": "invalid_request_error", "param": "file_id",
                                         "code": "not_found"}
    assert list(other.files.list()) == []
    with pytest.raises(openai.BadRequestError):  # not even as a paging cursor
        other.files.list(after=made.id)
    assert owner.files.content(made.id).read() == batch_file(1)  # the failed delete changed nothing


def test_an_oversize_upload_is_a_413_and_stores_nothing(server: RunningServer) -> None:
    sdk = client(server, new_key(server, "big"))
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.files.create(file=("big.bin", b"x" * (MAX_FILE + 1)), purpose="user_data")
    assert caught.value.status_code == 413
    assert caught.value.body["code"] == "file_too_large"
    assert f"limit of {MAX_FILE} bytes" in caught.value.body["message"]
    assert stored(server, "big") == (0, 0)
    assert list(sdk.files.list()) == []


def test_a_bad_batch_file_is_refused_at_upload(server: RunningServer) -> None:
    sdk = client(server, new_key(server, "badbatch"))
    data = batch_file(2) + b'{"custom_id": "req-9", "method": "POST", "url": "/v1/images", "body": {}}\n'
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.files.create(file=("in.jsonl", data), purpose="batch")
    assert caught.value.body["param"] == "file"
    assert caught.value.body["message"].startswith("Line 3 of the batch file has url '/v1/images'")
    assert stored(server, "badbatch") == (0, 0)
