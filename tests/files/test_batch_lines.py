"""Batch input files: every line checked, the first bad one named, however the bytes arrive."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from corral.files import InvalidFile, iter_batch_lines
from corral.files.batch_lines import BatchFileChecker


def line(custom_id: object = "r1", method: object = "POST", url: object = "/v1/chat/completions",
         body: object = None, **extra: object) -> bytes:
    data = {"custom_id": custom_id, "method": method, "url": url,
            "body": {"model": "m", "messages": []} if body is None else body, **extra}
    return orjson.dumps(data)


def check(data: bytes, piece: int | None = None, **limits: int) -> int:
    checker = BatchFileChecker(limits.get("max_lines", 50_000), limits.get("max_line_bytes", 1 << 20))
    step = piece or max(len(data), 1)
    for start in range(0, len(data), step):
        checker.feed(data[start:start + step])
    return checker.finish()


DEEP: object = 1
for _ in range(70):
    DEEP = [DEEP]

GOOD = b"\n".join([line("a"), line("b", url="/v1/embeddings", body={"model": "e", "input": "x"}),
                   line("c", url="/v1/responses", body={"model": "m", "input": "hi"})]) + b"\n"


@pytest.mark.parametrize("piece", [None, 1, 7, 64])
def test_a_good_file_passes_however_it_is_split(piece: int | None) -> None:
    assert check(GOOD, piece) == 3
    assert check(GOOD.replace(b"\n", b"\r\n"), piece) == 3  # Windows line ends
    assert check(GOOD.rstrip(b"\n"), piece) == 3  # no newline at the end
    assert check(b"\n" + GOOD + b"\n\n", piece) == 3  # blank lines carry nothing


@pytest.mark.parametrize(("data", "words"), [
    (b"", "has no requests"),
    (b"\n \n", "has no requests"),
    (b"not json\n", "Line 1 of the batch file is not valid JSON"),
    (line("a") + b"\n\xff\xfe{}\n", "Line 2 of the batch file is not UTF-8 text"),
    (b"[1, 2]\n", "Line 1 of the batch file is not a JSON object"),
    (line(custom_id=7), "needs 'custom_id'"),
    (line(custom_id=""), "needs 'custom_id'"),
    (line(custom_id="x" * 513), "needs 'custom_id'"),
    (line(method="GET"), "has method 'GET'"),
    (line(url="/v1/completions"), "has url '/v1/completions'; it must be one of /v1/chat/completions"),
    (line(body=[1]), "needs 'body'"),
    (line(body={"a": DEEP}), "nests too deeply"),
    (b"\n".join([line("a"), line("b"), line("a")]), "Line 3 of the batch file repeats custom_id 'a'"),
])
def test_each_bad_line_is_named(data: bytes, words: str) -> None:
    with pytest.raises(InvalidFile, match=words.replace("(", r"\(").replace("[", r"\[")) as caught:
        check(data, 5)
    assert caught.value.param == "file" and caught.value.status_code == 400


def test_line_and_request_limits() -> None:
    with pytest.raises(InvalidFile, match="Line 2 of the batch file is longer than 100 bytes"):
        check(line("a", body={}) + b"\n" + line("b", body={"x": "y" * 200}) + b"\n", 3, max_line_bytes=100)
    with pytest.raises(InvalidFile, match="longer than 100 bytes"):  # a long last line, no newline
        check(line("b", body={"x": "y" * 200}), 3, max_line_bytes=100)
    with pytest.raises(InvalidFile, match="more than 2 requests"):
        check(b"\n".join(line(str(i)) for i in range(3)), max_lines=2)


async def test_the_runner_reads_the_same_requests() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(GOOD), 10):
            yield GOOD[i:i + 10]

    lines = [x async for x in iter_batch_lines(chunks(), 1 << 20)]
    assert [(x.number, x.custom_id, x.url) for x in lines] == [
        (1, "a", "/v1/chat/completions"), (2, "b", "/v1/embeddings"), (3, "c", "/v1/responses")]
    assert lines[1].body == {"model": "e", "input": "x"}
