"""A streaming multipart/form-data reader: each part's bytes are handed on as they arrive.

Why not Starlette's form parser: it needs python-multipart (not installed) and spools
every file part to a temporary file before the endpoint sees it, so a 200 MB upload
would first land on the replica's local disk, whole, with no per-file limit. Here the
endpoint reads the file part as a stream and writes it straight into the database,
refusing it the moment it passes the limit. The format needed is small (RFC 7578: parts
separated by a boundary, each with a Content-Disposition naming it); the header block
of a part is parsed by the standard library's `email` parser (quoting, RFC 2231 names).

Bounds: a part's headers at most `MAX_HEADER_BYTES`, at most `MAX_PARTS` parts, at most
`MAX_PREAMBLE_BYTES` before the first boundary. A part's body is unbounded here: its
reader applies the limit that fits it (the file's size limit, a field's length).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from corral.core.errors import InvalidRequest

MAX_HEADER_BYTES = 16 * 1024
MAX_PARTS = 16
MAX_PREAMBLE_BYTES = 64 * 1024
_HEADER_END = b"\r\n\r\n"


class MalformedMultipart(InvalidRequest):
    def __init__(self, problem: str) -> None:
        super().__init__(f"The multipart/form-data body is malformed: {problem}. Send the upload as "
                         "multipart/form-data with the fields 'file' and 'purpose'.")


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a `multipart/form-data` Content-Type, or a 400 saying what to send."""
    message = Message()
    message["content-type"] = content_type or ""
    if message.get_content_type() != "multipart/form-data":
        raise InvalidRequest("Send the upload as multipart/form-data (fields 'file' and 'purpose'); "
                             f"the request's Content-Type is {content_type or 'missing'!r}.")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70 or not boundary.isascii():
        raise MalformedMultipart("the Content-Type has no valid boundary parameter")
    return boundary.encode("ascii")


def _decode(block: bytes) -> str:
    """Header bytes as text: clients send non-ASCII filenames as UTF-8 (httpx, browsers)."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("latin-1")


class Part:
    """One form field or file: its name, its filename (files only), and its bytes, read once."""

    def __init__(self, reader: MultipartReader, headers: Message) -> None:
        self._reader = reader
        if headers.get_content_disposition() != "form-data":
            raise MalformedMultipart("a part lacks 'Content-Disposition: form-data'")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise MalformedMultipart("a part's Content-Disposition has no name")
        self.name = name
        filename = headers.get_filename()
        self.filename = filename
        self.content_type = headers.get("content-type")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._reader.body()

    async def text(self, limit: int) -> str:
        """A small field's value as text, at most `limit` bytes."""
        data = b""
        async for chunk in self:
            data += chunk
            if len(data) > limit:
                raise InvalidRequest(f"The form field '{self.name}' is longer than {limit} bytes.",
                                     param=self.name)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(f"The form field '{self.name}' is not UTF-8 text.",
                                 param=self.name) from None


class MultipartReader:
    """Parts of a multipart body, in order: `async for part in reader`; read each before the next."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        self._stream = stream
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")  # the first boundary has no line break before it
        self._parts = 0
        self._in_body = False
        self._started = False
        self._done = False

    async def _fill(self) -> None:
        async for chunk in self._stream:
            if chunk:
                self._buffer += chunk
                return
        raise MalformedMultipart("the body ended before the closing boundary")

    async def _find(self, needle: bytes, limit: int, what: str) -> int:
        while (at := self._buffer.find(needle)) < 0:
            if len(self._buffer) > limit:
                raise MalformedMultipart(what)
            await self._fill()
        return at

    async def body(self) -> AsyncIterator[bytes]:
        """The current part's bytes up to the next boundary (nothing once it is read)."""
        keep = len(self._delimiter) - 1  # a boundary may start in these last bytes
        while self._in_body:
            at = self._buffer.find(self._delimiter)
            if at >= 0:
                piece = bytes(self._buffer[:at])
                del self._buffer[:at + len(self._delimiter)]
                self._in_body = False
                if piece:
                    yield piece
                return
            if len(self._buffer) > keep:
                piece = bytes(self._buffer[:-keep])
                del self._buffer[:-keep]
                yield piece
            await self._fill()

    def __aiter__(self) -> MultipartReader:
        return self

    async def __anext__(self) -> Part:
        part = await self.next_part()
        if part is None:
            raise StopAsyncIteration
        return part

    async def next_part(self) -> Part | None:
        """The next part (the unread rest of the current one is skipped), or None at the end."""
        async for _ in self.body():
            pass
        if not self._started:
            at = await self._find(self._delimiter, MAX_PREAMBLE_BYTES, "no boundary at its start")
            del self._buffer[:at + len(self._delimiter)]
            self._started = True
        if self._done:
            return None
        while len(self._buffer) < 2:
            await self._fill()
        if self._buffer.startswith(b"--"):
            self._done = True  # the closing boundary; anything after it is ignored
            return None
        at = await self._find(b"\r\n", MAX_HEADER_BYTES, "a boundary line is too long")
        if self._buffer[:at].strip(b" \t"):
            raise MalformedMultipart("text follows a boundary on its line")
        del self._buffer[:at + 2]
        return self._part(await self._headers())

    async def _headers(self) -> Message:
        if self._buffer.startswith(b"\r\n"):
            block = b""
            del self._buffer[:2]
        else:
            at = await self._find(_HEADER_END, MAX_HEADER_BYTES, "a part's headers are too long")
            block = bytes(self._buffer[:at])
            del self._buffer[:at + len(_HEADER_END)]
        if len(block) > MAX_HEADER_BYTES:
            raise MalformedMultipart("a part's headers are too long")
        return HeaderParser(policy=compat32).parsestr(_decode(block) + "\r\n\r\n")

    def _part(self, headers: Message) -> Part:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise MalformedMultipart(f"more than {MAX_PARTS} parts")
        self._in_body = True
        return Part(self, headers)
