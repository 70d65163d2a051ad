"""Batch input files (JSONL): split into lines as chunks arrive, and check each line's shape.

Why at upload: a batch file that cannot run is refused while its author is still looking
at the upload, with the line number, instead of when a batch made from it fails later.
What needs the batch itself (the batch's `endpoint`, the models the gateway serves) is
checked when the batch is created; `iter_batch_lines` gives the batch runner the same
parsing, so a file accepted here reads the same way there.

Memory: one line at a time (at most `max_line_bytes`) plus the set of custom_ids seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from corral.core.json_limits import JsonTooDeep, check_depth, could_exceed
from corral.files.errors import InvalidFile

BATCH_URLS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses")
MAX_CUSTOM_ID_CHARS = 512


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One request of a batch file; `number` is its 1-based line in the file."""

    number: int
    custom_id: str
    method: str
    url: str
    body: dict[str, Any]


class LineSplitter:
    """Bytes in, complete lines out, never holding more than one line (plus one chunk)."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.lines_seen = 0

    def feed(self, chunk: bytes) -> Iterator[tuple[int, bytes]]:
        """(line number, line without its end) for each line that `chunk` completes."""
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            yield self._line(chunk[start:end])
            start = end + 1
        if start < len(chunk):
            self._pending.append(chunk[start:])
            self._pending_size += len(chunk) - start
            if self._pending_size > self.max_line_bytes:
                raise InvalidFile(f"Line {self.lines_seen + 1} of the batch file is longer than "
                                  f"{self.max_line_bytes} bytes (files.max_batch_line_bytes).")

    def finish(self) -> Iterator[tuple[int, bytes]]:
        """The last line, when the file does not end with a newline."""
        if self._pending:
            yield self._line(b"")

    def _line(self, tail: bytes) -> tuple[int, bytes]:
        line = b"".join((*self._pending, tail)) if self._pending else tail
        self._pending, self._pending_size = [], 0
        self.lines_seen += 1
        if len(line) > self.max_line_bytes:
            raise InvalidFile(f"Line {self.lines_seen} of the batch file is longer than "
                              f"{self.max_line_bytes} bytes (files.max_batch_line_bytes).")
        return self.lines_seen, line.removesuffix(b"\r")


def _bad(number: int, problem: str) -> InvalidFile:
    return InvalidFile(f"Line {number} of the batch file {problem}. Each line must be a JSON object "
                       'like {"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", '
                       '"body": {...}}.')


def _load(number: int, raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad(number, "is not UTF-8 text (save the file as UTF-8)") from None
        raise _bad(number, f"is not valid JSON ({exc})") from None


def parse_batch_line(number: int, raw: bytes) -> BatchLine:
    """One line's request, or InvalidFile naming the line and what is wrong with it."""
    data = _load(number, raw)
    if not isinstance(data, dict):
        raise _bad(number, "is not a JSON object")
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID_CHARS:
        raise _bad(number, f"needs 'custom_id': a non-empty string of at most {MAX_CUSTOM_ID_CHARS} "
                           "characters")
    if data.get("method") != "POST":
        raise _bad(number, f"has method {data.get('method')!r}; batch requests use 'POST'")
    url = data.get("url")
    if url not in BATCH_URLS:
        raise _bad(number, f"has url {url!r}; it must be one of {', '.join(BATCH_URLS)}")
    body = data.get("body")
    if not isinstance(body, dict):
        raise _bad(number, "needs 'body': the request as a JSON object")
    if could_exceed(raw):
        try:
            check_depth(body, level=2, path=("body",))
        except JsonTooDeep as exc:
            raise _bad(number, f"nests too deeply at '{exc.path}' (at most {exc.limit} levels)") from None
    return BatchLine(number, custom_id, "POST", url, body)


class BatchFileChecker:
    """Feed a batch file's chunks; raises InvalidFile at the first bad line."""

    def __init__(self, max_lines: int, max_line_bytes: int) -> None:
        self.max_lines = max_lines
        self._splitter = LineSplitter(max_line_bytes)
        self._ids: set[str] = set()

    @property
    def requests(self) -> int:
        return len(self._ids)

    def feed(self, chunk: bytes) -> None:
        for number, raw in self._splitter.feed(chunk):
            self._check(number, raw)

    def finish(self) -> int:
        """The number of requests; a file without any is refused."""
        for number, raw in self._splitter.finish():
            self._check(number, raw)
        if not self._ids:
            raise InvalidFile("The batch file has no requests; put one JSON request per line.")
        return len(self._ids)

    def _check(self, number: int, raw: bytes) -> None:
        if not raw.strip():
            return  # blank lines (a trailing one, above all) carry nothing
        line = parse_batch_line(number, raw)
        if line.custom_id in self._ids:
            raise _bad(number, f"repeats custom_id {line.custom_id!r}; each request needs its own")
        if len(self._ids) >= self.max_lines:
            raise InvalidFile(f"The batch file has more than {self.max_lines} requests "
                              "(files.max_batch_lines); split it into several batches.")
        self._ids.add(line.custom_id)


async def iter_batch_lines(chunks: AsyncIterator[bytes], max_line_bytes: int) -> AsyncIterator[BatchLine]:
    """The requests of a stored batch file, in order (blank lines skipped), for the batch runner."""
    splitter = LineSplitter(max_line_bytes)
    async for chunk in chunks:
        for number, raw in splitter.feed(chunk):
            if raw.strip():
                yield parse_batch_line(number, raw)
    for number, raw in splitter.finish():
        if raw.strip():
            yield parse_batch_line(number, raw)
