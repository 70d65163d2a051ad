"""What every parser shares: the limits one upload may use, a budget that enforces them from
inside the parsing thread, text decoding and whitespace clean-up.

Why a cooperative budget: parsing runs in a worker thread (ingestion), and Python cannot stop
a thread from outside. So each parser works in small steps (a page, a block, a thousand
lines) and calls `Budget.check()` between them; the C libraries are handed only bounded input
(file size, XML parts read through a size cap, libxml2's depth limit, a page count checked
before any page is read), so no single step can run away. The time bound is the parsing
thread's CPU time (`time.thread_time`), not wall time: a parse that waits on a busy machine is
not failed for the machine's load, while a parse that burns CPU on a hostile file is.
"""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass
from typing import Literal

from corral.knowledge.parsers.errors import DocumentTooComplex, UnsupportedFormat

MIB = 1024 * 1024
SUPPORTED = "txt, md, html, pdf, docx"
BlockKind = Literal["heading", "paragraph", "table", "list", "code"]  # Block.kind's values


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on the work one file may cause. The defaults let a 1,000-page manual through
    (measured: about 6 ms of CPU per PDF page, 40x below the time bound) and stop a file
    built to stall or exhaust the process. Each becomes `DocumentTooComplex(limit=<field>)`."""

    max_bytes: int = 64 * MIB  # the upload itself (knowledge.max_file_bytes is the same 64 MiB)
    max_pages: int = 2_000  # PDF pages, counted before any page is read
    max_expanded_bytes: int = 128 * MIB  # docx: XML read out of the zip, in total
    max_cpu_seconds: float = 60.0  # CPU time of the parsing thread
    max_chars: int = 20_000_000  # extracted text (about 5M tokens, 6,000 chunks of 800)


class Budget:
    """One parse's running account against its limits. Not shared between threads: each
    parse makes its own."""

    def __init__(self, limits: ParseLimits, filename: str) -> None:
        self.limits = limits
        self.filename = filename
        self._deadline = time.thread_time() + limits.max_cpu_seconds
        self._chars = 0

    def check(self) -> None:
        """Raise once the CPU time is spent; cheap enough to call per page or per block."""
        if time.thread_time() > self._deadline:
            raise DocumentTooComplex(
                f"{self.filename} took more than {self.limits.max_cpu_seconds:g} s of CPU to parse "
                "(ParseLimits.max_cpu_seconds); split it into smaller files.", limit="max_cpu_seconds")

    def take(self, text: str) -> str:
        """Count `text` against max_chars (and the clock); returns it for chaining."""
        self._chars += len(text)
        if self._chars > self.limits.max_chars:
            raise DocumentTooComplex(
                f"{self.filename} holds more than {self.limits.max_chars:,} characters of text "
                "(ParseLimits.max_chars); split it into smaller files.", limit="max_chars")
        return text


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def looks_binary(data: bytes) -> bool:
    """NUL bytes in the first 8 KiB and no UTF-16/32 byte-order mark: not a text file."""
    head = data[:8192]
    return b"\x00" in head and not any(head.startswith(bom) for bom, _ in _BOMS)


def decode_text(data: bytes, filename: str) -> str:
    """Bytes of a text file as str. A byte-order mark decides; else UTF-8; else Windows-1252,
    the encoding of nearly every non-UTF-8 text file in the wild (it never fails, so a
    stray byte becomes one odd character rather than a failed file). Binary data is refused."""
    if looks_binary(data):
        raise UnsupportedFormat(f"{filename} is binary data, not text. Supported formats: {SUPPORTED}.")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_SPACE = re.compile(r"\s+")


def squash(text: str) -> str:
    """Inline text as one line: runs of whitespace (newlines, tabs, NBSP) become one space."""
    return _SPACE.sub(" ", text).strip()
