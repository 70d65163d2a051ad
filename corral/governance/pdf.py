"""A small PDF writer for text documents: headings, wrapped paragraphs, lists, tables, code.

Why our own: the governance document needs a PDF a compliance reader can file, and the PDF
libraries on PyPI are large (reportlab) or need system libraries (weasyprint's Pango). Text
on A4 pages needs only the standard fonts every reader has (corral.governance.pdf_text), so
this module and the standard library's zlib are the whole writer. The input is a list of
blocks; corral.governance.document_render builds them from Markdown tokens.

Tables are set one row per block (first cell in bold, then ``Header: value`` lines), not as
a grid: six columns of prose do not fit a portrait page at a readable size. Each page is
numbered "page N of M" at its foot.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from corral.governance.pdf_text import (
    FONTS,
    Block,
    Code,
    Heading,
    Line,
    Paragraph,
    Rule,
    Run,
    Runs,
    Table,
    pdf_text,
    text_width,
    wrap,
)

__all__ = ["Block", "Code", "Heading", "Paragraph", "Rule", "Run", "Table", "write_pdf"]

PAGE_W, PAGE_H = 595.28, 841.89  # A4 in points
MARGIN = 56.0  # 2 cm
TOP, BOTTOM = PAGE_H - MARGIN, MARGIN + 12  # the foot line sits below BOTTOM
WIDTH = PAGE_W - 2 * MARGIN
BODY = 10.0  # text size in points
LEADING = 1.3  # line height as a multiple of the size
HEADING_SIZES = {1: 18.0, 2: 14.0, 3: 12.0}
ROW_INDENT = 14.0  # a table row's "Header: value" lines
FOOT_SIZE = 8.0


def _literal(text: str) -> bytes:
    """A PDF literal string of `text` (already through pdf_text) in WinAnsiEncoding."""
    out = bytearray(b"(")
    for byte in text.encode("latin-1", "replace"):
        if byte in b"()\\":
            out += b"\\" + bytes([byte])
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += b"\\%03o" % byte
    return bytes(out + b")")


def _bold(runs: Runs) -> Runs:
    return [Run(r.text, "code_bold" if r.style.startswith("code") else "bold") for r in runs]


def _plain_text(runs: Runs) -> str:
    return "".join(r.text for r in runs).strip()


class _Pages:
    """The pages' content streams, filled top to bottom; `y` is the top of the next line."""

    def __init__(self) -> None:
        self.pages: list[list[bytes]] = []
        self.y = TOP
        self.new_page()

    def new_page(self) -> None:
        self.pages.append([])
        self.y = TOP

    def keep(self, height: float) -> None:
        """Start a new page unless `height` fits below (or would not fit on any page)."""
        if height > self.y - BOTTOM and self.y < TOP and height <= TOP - BOTTOM:
            self.new_page()

    def gap(self, height: float) -> None:
        if self.y < TOP:
            self.y = max(BOTTOM, self.y - height)

    def text(self, x: float, y: float, font: str, size: float, text: str) -> None:
        self.pages[-1].append(b"BT /%s %.2f Tf %.2f %.2f Td %s Tj ET" % (
            font.encode(), size, x, y, _literal(text)))

    def line(self, line: Line, x: float, size: float, marker: str = "") -> None:
        leading = size * LEADING
        if self.y - leading < BOTTOM:
            self.new_page()
        self.y -= leading
        baseline = self.y + (leading - size) / 2 + size * 0.2
        if marker:
            self.text(x - text_width(marker, "F1", size) - 5, baseline, "F1", size, marker)
        for font, piece_size, text in line.pieces:
            self.text(x, baseline, font, piece_size, text)
            x += text_width(text, font, piece_size)

    def rule(self) -> None:
        self.keep(BODY)
        self.y -= BODY / 2
        self.pages[-1].append(b"0.6 G 0.5 w %.2f %.2f m %.2f %.2f l S 0 G" % (
            MARGIN, self.y, PAGE_W - MARGIN, self.y))
        self.y -= BODY / 2


def _heading(pages: _Pages, block: Heading) -> None:
    size = HEADING_SIZES.get(block.level, BODY + 1)
    lines = wrap(_bold(block.runs), WIDTH, size)
    pages.gap(size * 0.9)
    pages.keep(len(lines) * size * LEADING + 3 * BODY * LEADING)  # never last on a page
    for line in lines:
        pages.line(line, MARGIN, size)
    pages.gap(size * 0.3)


def _paragraph(pages: _Pages, block: Paragraph) -> None:
    lines = wrap(block.runs, WIDTH - block.indent, BODY)
    for i, line in enumerate(lines):
        pages.line(line, MARGIN + block.indent, BODY, block.marker if i == 0 else "")
    pages.gap(BODY * 0.5)


def _code(pages: _Pages, block: Code) -> None:
    size = BODY * 0.85
    per_line = max(1, int((WIDTH - block.indent - 10) / (0.6 * size)))
    for raw in pdf_text(block.text.rstrip("\n")).split("\n"):
        for start in range(0, max(len(raw), 1), per_line):
            pages.line(Line([("F4", size, raw[start:start + per_line])], 0), MARGIN + block.indent + 10, size)
    pages.gap(BODY * 0.5)


def _row_lines(headers: list[str], row: list[Runs], width: float) -> list[tuple[Line, float]]:
    """One table row: (line, indent) pairs, the first cell in bold, then one field per column."""
    if len(row) == 2:  # a two-column table reads as "label: value"
        runs = [*_bold(row[0]), Run(": ", "bold"), *row[1]] if _plain_text(row[0]) else row[1]
        return [(line, 0.0) for line in wrap(runs, width, BODY)]
    out = [(line, 0.0) for line in wrap(_bold(row[0]), width, BODY)]
    for header, cell in zip(headers[1:], row[1:], strict=False):
        if not _plain_text(cell):
            continue
        label = [Run(header + ": ", "italic")] if header else []
        out += [(line, ROW_INDENT) for line in wrap([*label, *cell], width - ROW_INDENT, BODY)]
    return out


def _table(pages: _Pages, block: Table) -> None:
    headers = [_plain_text(h) for h in block.headers]
    width = WIDTH - block.indent
    for row in block.rows:
        lines = _row_lines(headers, row, width)
        pages.keep(len(lines) * BODY * LEADING)  # a row stays on one page when it can
        for line, indent in lines:
            pages.line(line, MARGIN + block.indent + indent, BODY)
        pages.gap(BODY * 0.45)
    pages.gap(BODY * 0.3)


def _foot(pages: _Pages, title: str) -> None:
    count = len(pages.pages)
    for number, content in enumerate(pages.pages, 1):
        text = pdf_text(f"{title} - page {number} of {count}")
        x = (PAGE_W - text_width(text, "F1", FOOT_SIZE)) / 2
        content.append(b"0.35 g")
        content.append(b"BT /F1 %.2f Tf %.2f %.2f Td %s Tj ET" % (FOOT_SIZE, x, MARGIN / 2, _literal(text)))


def _serialise(contents: list[bytes], title: str) -> bytes:
    """The file: catalog, page tree, fonts, pages, and a cross-reference table of byte offsets."""
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: page tree (filled in once pages exist)

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    fonts = b" ".join(b"/%s %d 0 R" % (name.encode(), add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % base.encode()))
        for name, base in FONTS.items())
    resources = add(b"<< /Font << %s >> /ProcSet [/PDF /Text] >>" % fonts)
    info = add(b"<< /Title %s /Producer (Corral) >>" % _literal(pdf_text(title)))
    kids: list[int] = []
    for content in contents:
        data = zlib.compress(content, 6)
        stream = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data))
        kids.append(add(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources %d 0 R "
                        b"/Contents %d 0 R >>" % (PAGE_W, PAGE_H, resources, stream)))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, info, xref)
    return bytes(out)


def write_pdf(blocks: Sequence[Block], title: str) -> bytes:
    """The PDF file for `blocks` on A4 pages; `title` goes in the page foot and the file's info."""
    pages = _Pages()
    for block in blocks:
        if isinstance(block, Heading):
            _heading(pages, block)
        elif isinstance(block, Paragraph):
            _paragraph(pages, block)
        elif isinstance(block, Code):
            _code(pages, block)
        elif isinstance(block, Table):
            _table(pages, block)
        else:
            pages.rule()
    _foot(pages, title)
    return _serialise([b"\n".join(content) for content in pages.pages], title)
