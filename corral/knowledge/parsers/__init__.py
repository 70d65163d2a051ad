"""File bytes -> `Document`: `parse(data, filename, media_type)` picks the format by content
first (a PDF, zip or Office signature decides, whatever the name says), then by extension
and media type for text, and refuses everything else with an error the API turns into a
400 or a file `failed` (`corral.knowledge.parsers.errors`).

| format | module | library | structure kept |
|---|---|---|---|
| txt (and other plain text) | plain.py | stdlib | paragraphs, bulleted lists |
| md | markdown.py | stdlib (own line reader) | headings, paragraphs, lists, code, tables |
| html | html.py | lxml (BSD-3-Clause) | h1-h6, paragraphs, lists, tables, pre |
| pdf | pdf.py | pypdfium2 (Apache-2.0 / BSD-3-Clause) | headings by font size, paragraphs, lists |
| docx | docx.py | lxml | headings by style, paragraphs, lists, tables |

Blocks follow one text convention, which the chunker relies on: a table is one row a line
with cells joined by " | ", its first line the header row; a list is one item a line
("- item", nested items indented two spaces a level); a heading's `level` is 1 for the
outermost (a docx Title, an h1, a `#`).

Parsing is synchronous CPU work meant for a worker thread: it is thread-safe (no shared
mutable state; PDFium, which is not thread-safe, behind one lock) and bounded by
`ParseLimits` (size, pages, expansion, characters, CPU seconds).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from corral.knowledge.parsers.base import SUPPORTED, Budget, ParseLimits, looks_binary
from corral.knowledge.parsers.errors import (
    CorruptDocument,
    DocumentTooComplex,
    EmptyDocument,
    EncryptedDocument,
    ParseError,
    UnsupportedFormat,
)
from corral.knowledge.types import Document

__all__ = ["SUPPORTED", "CorruptDocument", "DocumentTooComplex", "EmptyDocument", "EncryptedDocument",
           "ParseError", "ParseLimits", "UnsupportedFormat", "detect", "parse"]

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MARKDOWN = frozenset({"md", "markdown", "mdown", "mkd", "mdx"})
HTML = frozenset({"html", "htm", "xhtml"})
# Signatures of formats we do not read, named in the error so the user knows what was seen.
# Only signatures no text file starts with; other binary data is caught by its NUL bytes.
_OTHER = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF87a", "a GIF image"),
          (b"GIF89a", "a GIF image"), (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
          (b"Rar!\x1a\x07", "a RAR archive"), (b"\x7fELF", "a program"), (b"{\\rtf", "an RTF document"),
          (b"%!PS-Adobe", "a PostScript file"))
_HTML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])",
                         re.I | re.S)


def detect(data: bytes, filename: str, media_type: str | None) -> str:
    """The format to read `data` as: "pdf", "docx", "ole", "html", "md" or "txt"."""
    head = data[:1024]
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    mt = (media_type or "").split(";")[0].strip().lower()
    if head.lstrip().startswith(b"%PDF-") or (b"%PDF-" in head and (ext == "pdf" or mt == "application/pdf")):
        return "pdf"  # readers accept up to 1 KiB of junk before the header; we do for a .pdf
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "docx"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if ext == "pdf" or mt == "application/pdf":
        raise CorruptDocument(f"{filename} is not a PDF: it does not start with a PDF header.")
    if ext == "docx" or mt == DOCX_TYPE:
        raise CorruptDocument(f"{filename} is not a .docx: a Word document is a zip archive, and this "
                              "is not one.")
    for magic, what in _OTHER:
        if head.startswith(magic):
            raise UnsupportedFormat(f"{filename} looks like {what}. Supported formats: {SUPPORTED}.")
    if looks_binary(data):
        raise UnsupportedFormat(f"{filename} is binary data of a format Corral does not read. "
                                f"Supported formats: {SUPPORTED}.")
    if ext in HTML or mt in ("text/html", "application/xhtml+xml") or _HTML_START.match(head):
        return "html"
    if ext in MARKDOWN or mt in ("text/markdown", "text/x-markdown"):
        return "md"
    return "txt"


def parse(data: bytes, filename: str, media_type: str | None = None,
          limits: ParseLimits | None = None) -> Document:
    """Read one uploaded file. Raises a `ParseError` subclass when the file cannot be read:
    unsupported, corrupt, encrypted, empty, or past one of `limits`."""
    limits = limits or ParseLimits()
    name = filename.rsplit("/", 1)[-1][:200] or "the file"
    if len(data) > limits.max_bytes:
        raise DocumentTooComplex(f"{name} is {len(data):,} bytes, more than {limits.max_bytes:,} "
                                 "(ParseLimits.max_bytes); split it.", limit="max_bytes")
    if not data.strip():
        raise EmptyDocument(f"{name} is empty.")
    budget = Budget(limits, name)
    kind = detect(data, name, media_type)
    document = _reader(kind)(data, budget)
    if not any(block.text.strip() for block in document.blocks):
        raise EmptyDocument(f"{name} contains no text.")
    return document


# format -> (module, function). Imported on first use: PDFium alone is 8 MB of shared library.
_READERS = {"pdf": ("pdf", "parse_pdf"), "docx": ("docx", "parse_docx"), "ole": ("docx", "parse_ole"),
            "html": ("html", "parse_html"), "md": ("markdown", "parse_markdown"),
            "txt": ("plain", "parse_text")}


def _reader(kind: str) -> Callable[[bytes, Budget], Document]:
    module, function = _READERS[kind]
    reader: Callable[[bytes, Budget], Document] = getattr(
        importlib.import_module(f"corral.knowledge.parsers.{module}"), function)
    return reader
