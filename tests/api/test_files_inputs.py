"""Bad uploads and list queries get an OpenAI-shaped error a person can act on, and store nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import RunningServer
from tests.files.server import MAX_FILE, MIB, new_key, serve_files, stored

LINE = b'{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}}\n'


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_files(request, tmp_path_factory)


@pytest.fixture(scope="module")
def key(server: RunningServer) -> str:
    return new_key(server, "inputs")


def form(fields: dict[str, str], file: tuple[str, bytes] | None = None) -> bytes:
    """A multipart/form-data body with boundary `b`: the fields, then the file part if any."""
    parts = [b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v.encode())
             for k, v in fields.items()]
    if file is not None:
        parts.append(b'--b\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n\r\n%s\r\n'
                     % (file[0].encode(), file[1]))
    return b"".join(parts) + b"--b--\r\n"


def upload(server: RunningServer, key: str, body: bytes) -> httpx.Response:
    return httpx.post(server.url + "/v1/files", content=body, timeout=30, headers={
        "authorization": f"Bearer {key}", "content-type": "multipart/form-data; boundary=b"})


def assert_error(r: httpx.Response, status: int, param: str | None, words: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and words in error["message"], error


@pytest.mark.parametrize(("fields", "file", "param", "words"), [
    ({"purpose": "batch"}, None, "file", "'file' is required"),
    ({}, ("a.txt", b"x"), "purpose", "'purpose' is required: one of assistants, batch, user_data"),
    ({"purpose": "fine-tune"}, ("a.txt", b"x"), "purpose",
     "'fine-tune' is not supported by Corral; use one of: assistants, batch, user_data"),
    ({"purpose": "batch_output"}, ("a.txt", b"x"), "purpose", "for files Corral writes"),
    ({"purpose": "user_data", "expires_after[anchor]": "last_active_at",
      "expires_after[seconds]": "3600"}, ("a.txt", b"x"), "expires_after[anchor]", "'created_at'"),
    ({"purpose": "user_data", "expires_after[anchor]": "created_at", "expires_after[seconds]": "60"},
     ("a.txt", b"x"), "expires_after[seconds]", "from 3600 (1 hour) to 2592000 (30 days)"),
    ({"purpose": "user_data", "expires_after[anchor]": "created_at"}, ("a.txt", b"x"),
     "expires_after[seconds]", "needs both anchor and seconds"),
    ({"purpose": "user_data", "colour": "blue"}, ("a.txt", b"x"), "colour", "Unrecognized form field"),
    ({"purpose": "batch"}, ("in.jsonl", b""), "file", "has no requests"),
    ({"purpose": "batch"}, ("in.jsonl", LINE + b"\xc3\x28\n"), "file",
     "Line 2 of the batch file is not UTF-8 text"),
    ({"purpose": "batch"}, ("in.jsonl", LINE + b"{oops\n"), "file",
     "Line 2 of the batch file is not valid JSON"),
    ({"purpose": "batch"}, ("in.jsonl", LINE + LINE), "file", "repeats custom_id 'a'"),
    ({"purpose": "batch"}, ("", LINE), "file", "with a filename"),
])
def test_bad_uploads_are_400s(server: RunningServer, key: str, fields: dict[str, str],
                              file: tuple[str, bytes] | None, param: str, words: str) -> None:
    assert_error(upload(server, key, form(fields, file)), 400, param, words)
    assert stored(server, "inputs") == (0, 0)


@pytest.mark.parametrize(("headers", "body", "words"), [
    ({"content-type": "application/json"}, b'{"purpose": "batch"}', "Send the upload as multipart/form-data"),
    ({"content-type": "multipart/form-data; boundary=b"},
     b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nno closing boundary',
     "ended before the closing boundary"),
    ({"content-type": "multipart/form-data"}, b"", "no valid boundary"),
])
def test_malformed_bodies_are_400s(server: RunningServer, key: str, headers: dict[str, str],
                                   body: bytes, words: str) -> None:
    r = httpx.post(server.url + "/v1/files", content=body, timeout=10,
                   headers={"authorization": f"Bearer {key}", **headers})
    assert_error(r, 400, None, words)
    assert stored(server, "inputs") == (0, 0)


def test_a_declared_oversize_body_is_refused_before_it_is_read(server: RunningServer, key: str) -> None:
    r = upload(server, key, form({"purpose": "user_data"}, ("big.bin", b"x" * (MAX_FILE + 70_000))))
    assert_error(r, 413, "file", f"limit of {MAX_FILE} bytes per file (files.max_file_bytes)")
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert stored(server, "inputs") == (0, 0)


def test_purpose_after_the_file_still_checks_the_batch(server: RunningServer, key: str) -> None:
    """A form may send the file first: the batch is then read back and checked before it commits."""
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n\r\n'
            + LINE + b'[]\r\n--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--b--\r\n')
    assert_error(upload(server, key, body), 400, "file", "Line 2 of the batch file is not a JSON object")
    r = upload(server, key, body.replace(b"[]", b""))
    assert r.status_code == 200 and r.json()["purpose"] == "batch", r.text
    httpx.delete(server.url + "/v1/files/" + r.json()["id"], headers={"authorization": f"Bearer {key}"})
    assert stored(server, "inputs") == (0, 0)


@pytest.mark.parametrize(("query", "param", "words"), [
    ("limit=0", "limit", "from 1 to 10000"),
    ("limit=10001", "limit", "from 1 to 10000"),
    ("limit=ten", "limit", "from 1 to 10000"),
    ("order=sideways", "order", "'asc' or 'desc'"),
    ("purpose=btach", "purpose", "Unknown purpose 'btach'"),
    ("after=file-nope", "after", "names no file of this list"),
])
def test_bad_list_queries_are_400s(server: RunningServer, key: str, query: str, param: str,
                                   words: str) -> None:
    r = httpx.get(f"{server.url}/v1/files?{query}", headers={"authorization": f"Bearer {key}"})
    assert_error(r, 400, param, words)


def test_the_inference_scope_is_needed(server: RunningServer) -> None:
    admin_only = new_key(server, "admins", scopes=("admin",))
    for method, path in [("GET", "/v1/files"), ("POST", "/v1/files"), ("GET", "/v1/files/file-x"),
                         ("DELETE", "/v1/files/file-x"), ("GET", "/v1/files/file-x/content")]:
        r = httpx.request(method, server.url + path, headers={"authorization": f"Bearer {admin_only}"})
        assert_error(r, 403, None, "lacks the 'inference' permission")
        assert httpx.request(method, server.url + path).status_code == 401


def test_a_client_that_leaves_mid_upload_leaves_nothing(server: RunningServer) -> None:
    """Rows written while the bytes arrive are removed when the client goes away."""
    leaver = new_key(server, "leaver")
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="half.bin"\r\n\r\n'
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n"
                     % (leaver.encode(), MAX_FILE) + head + b"h" * (MIB + MIB // 2))
        assert wait_for(lambda: stored(server, "leaver") == (1, 1)), "the first chunk was not written"
    assert wait_for(lambda: stored(server, "leaver") == (0, 0)), "the partial upload was left behind"


def wait_for(condition: Callable[[], bool], within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
