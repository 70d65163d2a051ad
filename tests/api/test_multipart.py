"""The streaming multipart reader: the same parts however the body is cut, and a 400 for
every malformed shape (never a hang or a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from corral.api.multipart import MAX_PARTS, MalformedMultipart, MultipartReader, boundary_of
from corral.core.errors import InvalidRequest

B = b"xYzBoundary"


async def parts(body: bytes, piece: int, boundary: bytes = B) -> list[tuple[str, str | None, bytes]]:
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), piece):
            yield body[start:start + piece]
        yield b""  # Starlette ends a body with an empty chunk

    out = []
    async for part in MultipartReader(stream(), boundary):
        out.append((part.name, part.filename, b"".join([c async for c in part])))
    return out


def encoded(data: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, bytes]:
    request = httpx.Request("POST", "http://x/", data=data, files=files or {"f": ("f", b"")})
    return request.read(), boundary_of(request.headers["content-type"])


# File bytes that look like the start of a boundary, split anywhere.
TRICKY = b"a\r\n--xYzBoundar\r\n--\r\n-" + bytes(range(256)) + b"\r\n--xYzBoundarY tail"


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 13, 64, 100_000])
async def test_the_same_parts_however_the_body_is_cut(piece: int) -> None:
    body = (b"preamble to ignore\r\n--xYzBoundary\r\n"
            b'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            b"--xYzBoundary  \r\n"  # transport padding after a boundary is allowed
            b'Content-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + TRICKY + b"\r\n"
            b"--xYzBoundary\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n"
            b"--xYzBoundary--\r\nepilogue to ignore")
    assert await parts(body, piece) == [("purpose", None, b"batch"), ("file", "in.jsonl", TRICKY),
                                        ("empty", None, b"")]


@pytest.mark.parametrize("piece", [1, 7, 4096])
async def test_what_httpx_and_the_openai_sdk_send(piece: int) -> None:
    body, boundary = encoded({"purpose": "batch", "expires_after[seconds]": "3600"},
                             {"file": ("données été.jsonl", TRICKY * 50)})
    assert await parts(body, piece, boundary) == [
        ("purpose", None, b"batch"), ("expires_after[seconds]", None, b"3600"),
        ("file", "données été.jsonl", TRICKY * 50)]


async def test_an_rfc_2231_filename() -> None:
    body = (b"--xYzBoundary\r\nContent-Disposition: form-data; name=\"file\"; "
            b"filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\nhi\r\n--xYzBoundary--")
    assert await parts(body, 4) == [("file", "été.txt", b"hi")]


async def test_an_unread_part_is_skipped() -> None:
    body, boundary = encoded({"a": "1" * 1000, "b": "2"}, {})
    reader = MultipartReader(_once(body), boundary)
    first = await reader.next_part()
    second = await reader.next_part()
    assert first is not None and second is not None and second.name == "b"
    assert await second.text(10) == "2"
    assert (await reader.next_part()) is not None  # the file part
    assert await reader.next_part() is None


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


@pytest.mark.parametrize(("body", "words"), [
    (b"--xYzBoundary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "ended before"),
    (b"", "ended before"),
    (b"no boundary at all" * 5000, "no boundary at its start"),
    (b"--xYzBoundary\r\nContent-Type: text/plain\r\n\r\nx\r\n--xYzBoundary--", "Content-Disposition"),
    (b"--xYzBoundary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--xYzBoundary--", "has no name"),
    (b"--xYzBoundary\r\nX-Big: " + b"h" * 20_000 + b"\r\n\r\nx\r\n--xYzBoundary--", "headers are too long"),
    (b"--xYzBoundaryjunk\r\n", "text follows a boundary"),
    (b"".join(b"--xYzBoundary\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n" % i
              for i in range(MAX_PARTS + 1)) + b"--xYzBoundary--", f"more than {MAX_PARTS} parts"),
])
async def test_malformed_bodies_are_a_400(body: bytes, words: str) -> None:
    with pytest.raises(MalformedMultipart, match=words) as caught:
        await parts(body, 1000)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(("content_type", "words"), [
    (None, "Send the upload as multipart/form-data"),
    ("application/json", "Send the upload as multipart/form-data"),
    ("multipart/form-data", "no valid boundary"),
    ("multipart/form-data; boundary=" + "b" * 71, "no valid boundary"),
])
def test_the_content_type_must_name_a_boundary(content_type: str | None, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        boundary_of(content_type)
    assert boundary_of('multipart/form-data; boundary="a b:c"') == b"a b:c"
