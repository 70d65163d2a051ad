"""corral.knowledge.parsers: each format's structure, and every kind of bad input refused
quickly with its documented error. Documents are built here (tests/knowledge/make_docs.py);
fixtures/encrypted.pdf is make_pdf's output encrypted with pypdf (AES-256, password "secret")."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import docx
import pytest

from corral.knowledge.parsers import (
    CorruptDocument,
    DocumentTooComplex,
    EmptyDocument,
    EncryptedDocument,
    ParseError,
    ParseLimits,
    UnsupportedFormat,
    detect,
    parse,
)
from corral.knowledge.types import Block, Document
from tests.knowledge.make_docs import docx_bomb, make_pdf, make_zip

FIXTURES = Path(__file__).parent / "fixtures"


def kinds(doc: Document) -> list[tuple[str, int, str]]:
    return [(b.kind, b.level, b.text) for b in doc.blocks]


def blocks_of(doc: Document, kind: str) -> list[Block]:
    return [b for b in doc.blocks if b.kind == kind]


# --- structure ---------------------------------------------------------------------------

MARKDOWN = b"""---
title: front matter is not content
---
# Guide

Intro paragraph with **bold**, a [link](http://example.com) and `code`.
It wraps onto a second line.

## Setup
- first item
- second item
  continued here
  - nested item

1. one
2. two

```python
def f():
    return 1
```

| Name | Value |
|------|------:|
| a    | 1     |
| b    | 2     |

Setext Title
------------
Last words.
"""


def test_markdown_structure() -> None:
    doc = parse(MARKDOWN, "guide.md")
    assert doc.title == "Guide"
    assert kinds(doc) == [
        ("heading", 1, "Guide"),
        ("paragraph", 0, "Intro paragraph with bold, a link and code. It wraps onto a second line."),
        ("heading", 2, "Setup"),
        ("list", 0, "- first item\n- second item continued here\n  - nested item\n- one\n- two"),
        ("code", 0, "def f():\n    return 1"),
        ("table", 0, "Name | Value\na | 1\nb | 2"),
        ("heading", 2, "Setext Title"),
        ("paragraph", 0, "Last words."),
    ]


HTML = """<!DOCTYPE html><html><head><title>Page title</title><style>p{color:red}</style>
<script>var secret = "do not index";</script></head><body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Caf&eacute; &amp; Bar</h1>
<p>First <b>bold</b> paragraph&nbsp;with&#160;entities &lt;tag&gt;.</p>
<div>Loose text in a div<p>inner paragraph</p>tail text</div>
<h2>Menu</h2>
<ul><li>Coffee<ul><li>Espresso</li></ul></li><li>Tea</li></ul>
<table><thead><tr><th>Item</th><th>Price</th></tr></thead>
<tbody><tr><td>Coffee</td><td>2.50</td></tr><tr><td>Tea</td><td>2.00</td></tr></tbody></table>
<pre>line one
  line two</pre>
<noscript>enable javascript</noscript><footer>Contact us</footer>
</body></html>"""


def test_html_structure() -> None:
    doc = parse(HTML.encode(), "page.html")
    assert doc.title == "Page title"
    assert kinds(doc) == [
        ("heading", 1, "Café & Bar"),
        ("paragraph", 0, "First bold paragraph with entities <tag>."),
        ("paragraph", 0, "Loose text in a div"),
        ("paragraph", 0, "inner paragraph"),
        ("paragraph", 0, "tail text"),
        ("heading", 2, "Menu"),
        ("list", 0, "- Coffee\n  - Espresso\n- Tea"),
        ("table", 0, "Item | Price\nCoffee | 2.50\nTea | 2.00"),
        ("code", 0, "line one\n  line two"),
        ("paragraph", 0, "Contact us"),
    ]
    text = " ".join(b.text for b in doc.blocks)
    assert "secret" not in text and "Home" not in text and "javascript" not in text


def test_html_charset_from_meta_and_sniffed_without_extension() -> None:
    data = '<html><head><meta charset="windows-1252"></head><body><p>na\xefve</p></body></html>'
    doc = parse(data.encode("cp1252"), "upload", None)
    assert doc.media_type == "text/html" and doc.blocks == [Block("naïve")]


def make_word(title: bool = True) -> bytes:
    d = docx.Document()
    if title:
        d.add_heading("Quarterly Report", 0)
    d.add_heading("Summary", 1)
    d.add_paragraph("Revenue grew in every region.")
    d.add_paragraph("North", style="List Bullet")
    d.add_paragraph("South", style="List Bullet")
    d.add_heading("Details", 2)
    table = d.add_table(rows=3, cols=2)
    for r, row in enumerate([("Region", "Revenue"), ("North", "10"), ("South", "12")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_paragraph("Closing remarks.")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def test_docx_structure() -> None:
    doc = parse(make_word(), "report.docx", "application/octet-stream")
    assert doc.title == "Quarterly Report"
    assert kinds(doc) == [
        ("heading", 1, "Quarterly Report"),
        ("heading", 2, "Summary"),  # Heading 1 under a Title
        ("paragraph", 0, "Revenue grew in every region."),
        ("list", 0, "- North\n- South"),
        ("heading", 3, "Details"),
        ("table", 0, "Region | Revenue\nNorth | 10\nSouth | 12"),
        ("paragraph", 0, "Closing remarks."),
    ]


def test_docx_without_title_keeps_word_levels() -> None:
    doc = parse(make_word(title=False), "report.docx")
    assert [(b.level, b.text) for b in blocks_of(doc, "heading")] == [(1, "Summary"), (2, "Details")]


def test_pdf_structure() -> None:
    page = [(20, "Annual Review"), (11, ""), (14, "Background"),
            (11, "The project started in spring. It grew quickly over"),
            (11, "the summer and reached every team."), (11, ""),
            (11, "A second paragraph follows the gap."), (11, ""),
            (11, "\x95 first point"), (11, "\x95 second point"), (11, ""),
            (14, "Results"), (11, "Everything worked."), (9, "3")]
    doc = parse(make_pdf([page, page[11:]]), "review.pdf")
    headings = [(b.level, b.text) for b in blocks_of(doc, "heading")]
    assert headings[:3] == [(1, "Annual Review"), (2, "Background"), (2, "Results")]
    paragraphs = [b.text for b in blocks_of(doc, "paragraph")]
    joined = "The project started in spring. It grew quickly over the summer and reached every team."
    assert joined in paragraphs
    assert "A second paragraph follows the gap." in paragraphs
    assert blocks_of(doc, "list")[0].text == "- first point\n- second point"
    assert "3" not in paragraphs  # a page number alone at the foot of a page is dropped


def test_plain_text_paragraphs_and_lists() -> None:
    text = "Title line\nwrapped here\n\n- one\n- two\n  more\n\n\n\xe9t\xe9 in latin-1\n".encode("cp1252")
    doc = parse(text, "notes.txt", "text/plain")
    assert kinds(doc) == [("paragraph", 0, "Title line wrapped here"), ("list", 0, "- one\n- two more"),
                          ("paragraph", 0, "été in latin-1")]


def test_utf16_text_with_bom() -> None:
    doc = parse("\ufeffhello world".encode("utf-16-le"), "a.txt")
    assert doc.blocks == [Block("hello world")]


@pytest.mark.parametrize(("data", "name", "media_type", "kind"), [
    (b"%PDF-1.7 ...", "x.bin", None, "pdf"),
    (b"PK\x03\x04....", "x", None, "docx"),
    (b"<!doctype html><p>x", "x.txt", None, "html"),
    (b"# x", "x.markdown", None, "md"),
    (b"# x", "x", "text/markdown; charset=utf-8", "md"),
    (b"plain", "README", None, "txt"),
    (b"# PDF notes: files start with %PDF-", "notes.md", None, "md"),
])
def test_detect(data: bytes, name: str, media_type: str | None, kind: str) -> None:
    assert detect(data, name, media_type) == kind


# --- bad input ---------------------------------------------------------------------------

def refused(data: bytes, name: str, error: type[ParseError], limits: ParseLimits | None = None,
            within_s: float = 2.0) -> ParseError:
    start = time.perf_counter()
    with pytest.raises(error) as caught:
        parse(data, name, limits=limits)
    assert time.perf_counter() - start < within_s, "the refusal must be quick"
    assert caught.value.status_code == 400 and caught.value.message
    return caught.value


@pytest.mark.parametrize(("data", "name"), [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "photo.png"),
    (b"\x00\x01\x02binary" * 100, "blob.dat"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.doc"),
    (make_zip({"xl/workbook.xml": b"<workbook/>"}), "sheet.xlsx"),
])
def test_unsupported_formats_name_the_supported_ones(data: bytes, name: str) -> None:
    error = refused(data, name, UnsupportedFormat)
    assert error.code == "unsupported_file" and "txt, md, html, pdf, docx" in error.message


@pytest.mark.parametrize(("data", "name"), [
    (make_pdf([[(12, "hello world")]])[:400], "cut.pdf"),  # truncated
    (b"%PDF-1.4\nnot really a pdf", "fake.pdf"),
    (b"just text", "renamed.pdf"),  # a .pdf without a PDF header
    (make_zip({"notes.txt": b"hello"}), "report.docx"),  # a zip that is no Word document
    (b"PK\x03\x04" + b"\x00" * 50, "broken.docx"),  # a damaged zip
    (b"plain text", "renamed.docx"),
    (make_zip({"word/document.xml": b"<w:document><unclosed>"}), "bad.docx"),
])
def test_corrupt_files(data: bytes, name: str) -> None:
    error = refused(data, name, CorruptDocument)
    assert error.code == "invalid_file" and error.reason == "corrupt"


def test_encrypted_pdf() -> None:
    error = refused((FIXTURES / "encrypted.pdf").read_bytes(), "locked.pdf", EncryptedDocument)
    assert "password" in error.message


def test_encrypted_office_file() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500 + "EncryptionInfo".encode("utf-16-le")
    refused(data, "locked.docx", EncryptedDocument)


@pytest.mark.parametrize(("data", "name"), [
    (b"", "empty.txt"),
    (b"  \n\n\t ", "blank.md"),
    (b"<html><body><script>x()</script></body></html>", "empty.html"),
    (make_pdf([[]]), "scan.pdf"),  # a page with no text layer
    (make_zip({"word/document.xml": b'<w:document xmlns:w="http://schemas.openxmlformats.org/'
                                    b'wordprocessingml/2006/main"><w:body/></w:document>'}), "empty.docx"),
])
def test_empty_documents(data: bytes, name: str) -> None:
    refused(data, name, EmptyDocument)


def test_pdf_with_100k_pages_is_refused_before_reading_a_page() -> None:
    data = make_pdf([[(12, "page")]], repeat=100_000)
    assert refused(data, "huge.pdf", DocumentTooComplex).limit == "max_pages"  # type: ignore[attr-defined]


def test_docx_decompression_bomb_is_refused_at_the_default_limit() -> None:
    data = docx_bomb(130)  # 130 MiB of XML in a ~0.6 MB zip
    assert len(data) < 2_000_000
    error = refused(data, "bomb.docx", DocumentTooComplex)
    assert error.limit == "max_expanded_bytes"  # type: ignore[attr-defined]


def test_entities_are_not_expanded() -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
              b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>'
              b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
              b"<w:p><w:r><w:t>&d;&d;&d;&d;</w:t></w:r></w:p><w:p><w:r><w:t>ok</w:t></w:r></w:p></w:body></w:document>")
    doc = parse(make_zip({"word/document.xml": laughs}), "laughs.docx")
    assert sum(len(b.text) for b in doc.blocks) < 100


def test_deeply_nested_html() -> None:
    data = b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>"
    assert refused(data, "deep.html", DocumentTooComplex).limit == "max_depth"  # type: ignore[attr-defined]


def test_oversized_upload() -> None:
    error = refused(b"x" * 2048, "big.txt", DocumentTooComplex, ParseLimits(max_bytes=1024))
    assert error.limit == "max_bytes"  # type: ignore[attr-defined]


def test_cpu_budget_stops_a_long_parse() -> None:
    data = ("\n".join(f"- item {n}" for n in range(200_000))).encode()
    error = refused(data, "long.md", DocumentTooComplex, ParseLimits(max_cpu_seconds=0.05))
    assert error.limit == "max_cpu_seconds"  # type: ignore[attr-defined]


def test_text_limit() -> None:
    error = refused(b"word " * 10_000, "long.txt", DocumentTooComplex, ParseLimits(max_chars=1000))
    assert error.limit == "max_chars"  # type: ignore[attr-defined]


def test_parsing_is_thread_safe() -> None:
    """PDFs, Word files and HTML parsed from several threads at once give the same documents."""
    inputs = [(make_pdf([[(18, "Title"), (11, f"Body {n}.")]]), f"{n}.pdf") for n in range(4)]
    inputs += [(make_word(), "r.docx"), (HTML.encode(), "p.html")] * 2
    expected = [parse(data, name) for data, name in inputs]
    results: list[list[Document]] = [[] for _ in range(4)]

    def work(slot: int) -> None:
        for _ in range(3):
            blocks = [b for data, name in inputs for b in parse(data, name).blocks]
            results[slot].append(Document(blocks=blocks))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    want = [b for doc in expected for b in doc.blocks]
    assert all(len(r) == 3 and all(doc.blocks == want for doc in r) for r in results)
