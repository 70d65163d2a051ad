"""The governance document as HTML and PDF (corral.governance.document_render, .pdf, .pdf_text)."""

from __future__ import annotations

import ctypes
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from click.testing import CliRunner

from corral.config import Settings, default_settings_data
from corral.governance.cli import governance
from corral.governance.document import governance_document
from corral.governance.document_render import PAGE_CSP, STYLE, render, render_html, render_pdf
from corral.governance.pdf_text import _WIDTHS, Run, pdf_text, wrap

FIXED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _settings(**extra: Any) -> Settings:
    return Settings.model_validate({**default_settings_data(), **extra})


def _doc(settings: Settings | None = None) -> str:
    return governance_document(settings or _settings(), now=lambda: FIXED)


def _sha(markdown: str) -> str:
    found = re.search(r"Configuration SHA-256 \| `([0-9a-f]{64})`", markdown)
    assert found, "the document no longer names its configuration hash"
    return found.group(1)


def _pdf_text(data: bytes) -> tuple[int, str]:
    doc = pdfium.PdfDocument(data)
    try:
        pages = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
        return len(doc), "\n".join(pages)
    finally:
        doc.close()


def test_html_page_has_the_headings_tables_and_no_outside_resources() -> None:
    markdown = _doc()
    page = render_html(markdown)
    assert page.startswith("<!doctype html>")
    assert "<title>Corral governance document</title>" in page
    assert '<meta name="generator" content="Corral ' in page
    for heading in re.findall(r"^## (.+)$", markdown, re.MULTILINE):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("<table>") == markdown.count("\n| --- |") and "<th>Route</th>" in page
    assert _sha(markdown) in page
    assert not re.search(r"<(script|img|link|iframe)\b|src=|url\(", page)
    assert f"<style>{STYLE}</style>" in page and PAGE_CSP in page.replace("&#x27;", "'")


def test_html_escapes_configuration_values_and_raw_html() -> None:
    data = default_settings_data()
    data["providers"]["evil"] = {"type": "openai", "base_url": "https://x.example/<script>alert(1)</script>",
                                 "api_key_env": "EVIL_KEY"}
    data["models"]["<b>shout</b>"] = {"deployments": [{"provider": "evil", "model": "gpt-<img src=x>"}]}
    page = render_html(_doc(Settings.model_validate(data)))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page and "<img" not in page and "<b>shout" not in page
    raw = render_html("# T\n\n<script>alert(1)</script>\n\n![x](https://evil.example/x.png)\n\n"
                      "| a | b |\n| --- | --- |\n| <iframe> | `<b>` |\n")
    assert not re.search(r"<(script|img|iframe|b)\b", raw)
    assert "&lt;iframe&gt;" in raw and "<code>&lt;b&gt;</code>" in raw


def test_pdf_of_the_default_document_has_pages_headings_and_the_hash() -> None:
    markdown = _doc()
    data = render_pdf(markdown)
    assert data.startswith(b"%PDF-1.4") and data.endswith(b"%%EOF\n")
    pages, text = _pdf_text(data)
    assert pages > 1
    for heading in re.findall(r"^#{1,2} (.+)$", markdown, re.MULTILINE):
        assert heading in text, heading
    assert _sha(markdown) in text
    assert f"page 1 of {pages}" in text and f"page {pages} of {pages}" in text


def test_pdf_cross_reference_offsets_point_at_their_objects() -> None:
    data = render_pdf(_doc())
    start = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert data[start:].startswith(b"xref\n0 ")
    lines = data[start:].split(b"\n")
    count = int(lines[1].split()[1])
    entries = lines[3:2 + count]
    for number, entry in enumerate(entries, 1):
        assert len(entry) + 1 == 20, entry  # each entry is 20 bytes with its end of line
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number)


def test_pdf_tables_read_as_one_block_per_row() -> None:
    text = _pdf_text(render_pdf("# T\n\n| Route | Provider | Where |\n| --- | --- | --- |\n"
                                "| `chat` | openai | a third party |\n"))[1]
    assert "chat\nProvider: openai\nWhere: a third party" in text.replace("\r\n", "\n")


def test_non_latin_text_does_not_break_the_pdf() -> None:
    markdown = ("# Ünïcødé “quotes” \u2013 dash → arrow … 中文 😀\n\n"
                "A paragraph with \u2018single\u2019 quotes, em—dash, tab\tand a control \x07 char.\n\n"
                "- item ≥ one\n- item two\n\n```\ncode → line\n```\n\n" + "x" * 400 + "\n")
    pages, text = _pdf_text(render_pdf(markdown))
    assert pages >= 1
    assert 'Ünïcødé "quotes" - dash -> arrow ... ?? ?' in text
    assert "item >= one" in text and "code -> line" in text
    assert pdf_text("naïve café ﬁ") == "naïve café fi"
    assert pdf_text("cafe\u0301 a\u20dd") == "café a"  # combined, or dropped when it cannot be


def test_pdf_links_keep_their_address_once() -> None:
    text = _pdf_text(render_pdf("# T\n\nSee [the docs](https://docs.example/x) or <https://a.example>.\n"))[1]
    assert "See the docs (https://docs.example/x) or https://a.example." in text


def test_long_words_are_cut_to_the_line() -> None:
    lines = wrap([Run("y" * 500)], 200, 10)
    assert len(lines) > 1 and all(line.width <= 200 for line in lines)
    assert "".join(p[2] for line in lines for p in line.pieces) == "y" * 500


def test_width_tables_match_pdfium_standard_fonts() -> None:
    """Catches a mistyped width: PDFium's standard fonts agree with Adobe's AFM widths, except
    its substitute Helvetica-Bold's '@' (1072 against the AFM's 975)."""
    doc = pdfium.PdfDocument.new()
    try:
        for name, base in (("F1", "Helvetica"), ("F2", "Helvetica-Bold")):
            font = pdfium_c.FPDFText_LoadStandardFont(doc, base.encode())
            for ch, expected in _WIDTHS[name].items():
                width = ctypes.c_float()
                size = ctypes.c_float(1000)
                assert pdfium_c.FPDFFont_GetGlyphWidth(font, ord(ch), size, ctypes.byref(width))
                if (name, ch) != ("F2", "@"):
                    assert round(width.value) == expected, (base, ch)
    finally:
        doc.close()


def test_cli_writes_each_format(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "corral.yaml"
    config.write_text("{}\n")
    md = runner.invoke(governance, ["doc", "-c", str(config)])
    assert md.exit_code == 0, md.output
    assert md.output.startswith("# Corral governance document\n")
    out = tmp_path / "g.html"
    html = runner.invoke(governance, ["doc", "-c", str(config), "--format", "html", "--output", str(out)])
    assert html.exit_code == 0, html.output
    assert out.read_text().startswith("<!doctype html>")
    pdf = runner.invoke(governance, ["doc", "-c", str(config), "--format", "pdf"])  # stdout is no terminal
    assert pdf.exit_code == 0 and pdf.stdout_bytes.startswith(b"%PDF-")
    bad = runner.invoke(governance, ["doc", "-c", str(config), "--format", "docx"])
    assert bad.exit_code == 2


def test_render_refuses_unknown_formats() -> None:
    assert render("# x\n", "md") == b"# x\n"
    with pytest.raises(ValueError, match="unknown format"):
        render("# x\n", "docx")
