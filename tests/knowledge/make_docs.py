"""Small real documents built in the tests: PDFs written by hand (the format is text with a
byte-offset table, so a few lines make a valid file), Word files through python-docx (MIT,
a dev dependency), zips built with zipfile. Nothing here is parsed by the code under test."""

from __future__ import annotations

import io
import zipfile

Line = tuple[float, str]  # (font size, text); text "" leaves a paragraph gap


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(lines: list[Line]) -> bytes:
    y = 760.0
    ops = []
    for size, text in lines:
        if not text:
            y -= size * 1.5
            continue
        ops.append(f"BT /F1 {size:g} Tf 72 {y:.1f} Td ({_escape(text)}) Tj ET")
        y -= size * 1.25
    return "\n".join(ops).encode("latin-1")


def make_pdf(pages: list[list[Line]], *, repeat: int = 1) -> bytes:
    """A PDF with Helvetica text: one page per entry, or the first page's content shared by
    `repeat` pages (a 100,000-page file stays a few MB)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"",
                            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                            b"/Encoding /WinAnsiEncoding >>"]
    kids: list[int] = []
    contents = [_content(lines) for lines in pages]
    content_ids = []
    for body in contents:
        objects.append(b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream")
        content_ids.append(len(objects))
    total = len(pages) * repeat
    for n in range(total):
        cid = content_ids[n % len(content_ids)]
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>" % cid)
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (total, b" ".join(b"%d 0 R" % k for k in kids))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % off for off in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def make_zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


def docx_bomb(expanded_mib: int) -> bytes:
    """A .docx whose document.xml inflates to `expanded_mib` MiB of whitespace (a zip of ~1/1000th)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", b"<Types/>")
        with z.open("word/document.xml", "w") as part:
            part.write(b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">')
            chunk = b" " * (1024 * 1024)
            for _ in range(expanded_mib):
                part.write(chunk)
            part.write(b"<w:body/></w:document>")
    return out.getvalue()
