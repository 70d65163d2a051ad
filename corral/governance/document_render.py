"""The governance document as a standalone HTML page or a PDF, from its Markdown.

corral.governance.document writes Markdown; this module only reads it, through
markdown-it-py's tokens, so a section added there appears in every format. Raw HTML in the
Markdown is not passed through (``html: False``): a configuration value such as a base URL
or a model name is shown as text, never read as markup, and images are off, so the page
loads nothing. The page carries its stylesheet inline and a Content-Security-Policy that
allows only that stylesheet, by hash (`HTML_CSP`, also sent as a header by the API).
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

from corral import __version__
from corral.governance.pdf import Block, Code, Heading, Paragraph, Rule, Run, Table, write_pdf
from corral.governance.pdf_text import Runs, Style

__all__ = ["FORMATS", "HTML_CSP", "PAGE_CSP", "Format", "document_title", "pdf_blocks", "render",
           "render_html", "render_pdf"]

Format = Literal["md", "html", "pdf"]
#: Each format's media type (the API's content-type).
FORMATS: dict[str, str] = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
                           "pdf": "application/pdf"}
DEFAULT_TITLE = "Corral governance document"
LIST_INDENT = 18.0

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1a1a1a;
margin:0 auto;max-width:60rem;padding:1.5rem}
h1{font-size:1.8rem;border-bottom:2px solid #333;padding-bottom:.3rem}
h2{font-size:1.35rem;margin-top:2rem;border-bottom:1px solid #bbb;padding-bottom:.2rem}
h1,h2,h3{break-after:avoid;page-break-after:avoid}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}
th{background:#eee}
tr{break-inside:avoid;page-break-inside:avoid}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;background:#f3f3f3;
padding:0 .15em;overflow-wrap:anywhere}
pre{background:#f3f3f3;padding:.6rem;overflow-x:auto}
@media print{body{max-width:none;padding:0;font-size:10.5pt}th{background:#ddd}a{color:inherit}}
@page{size:A4;margin:18mm 16mm}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
#: The page may apply its own stylesheet and nothing else: no script, image, font or request.
#: In the page's <meta> too, so a saved copy keeps it (browsers ignore frame-ancestors there).
PAGE_CSP = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'"
HTML_CSP = PAGE_CSP + "; frame-ancestors 'none'"


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def document_title(tokens: list[Token]) -> str:
    """The first level-1 heading's text, else the default title."""
    for i, token in enumerate(tokens[:-1]):
        if token.type == "heading_open" and token.tag == "h1":
            parts = tokens[i + 1].children or []
            text = "".join(c.content for c in parts if c.type in ("text", "code_inline"))
            return text.strip() or DEFAULT_TITLE
    return DEFAULT_TITLE


def render_html(markdown: str) -> str:
    """A standalone, print-friendly HTML page of `markdown` (nothing loaded from elsewhere)."""
    parser = _parser()
    tokens = parser.parse(markdown)
    body = parser.renderer.render(tokens, parser.options, {})
    return "\n".join([
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(PAGE_CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="Corral {escape(__version__)}">',
        f"<title>{escape(document_title(tokens))}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        body.rstrip("\n"),
        "</main>",
        "</body>",
        "</html>",
        "",
    ])


def _runs(inline: Token) -> Runs:
    """An inline token's text with its emphasis, for the PDF (links keep their address)."""
    runs: Runs = []
    strong = em = 0
    href, link_start = "", 0
    for child in inline.children or []:
        style: Style = "bold" if strong else "italic" if em else "regular"
        kind = child.type
        if kind in ("text", "html_inline"):
            runs.append(Run(child.content, style))
        elif kind == "code_inline":
            runs.append(Run(child.content, "code"))
        elif kind in ("softbreak", "hardbreak"):
            runs.append(Run(" " if kind == "softbreak" else "\n", style))
        elif kind in ("strong_open", "strong_close"):
            strong += 1 if kind == "strong_open" else -1
        elif kind in ("em_open", "em_close"):
            em += 1 if kind == "em_open" else -1
        elif kind == "link_open":
            href, link_start = str(child.attrGet("href") or ""), len(runs)
        elif kind == "link_close":
            shown = "".join(r.text for r in runs[link_start:])
            if href and href.removeprefix("mailto:") != shown:  # an autolink shows its address
                runs.append(Run(f" ({href})", style))
            href = ""
    return runs


def _table(tokens: list[Token], start: int, indent: float) -> tuple[Table, int]:
    """The table opening at `start`, and the index after its closing token."""
    headers: list[Runs] = []
    rows: list[list[Runs]] = []
    in_head = False
    i = start
    while tokens[i].type != "table_close":
        kind = tokens[i].type
        if kind in ("thead_open", "thead_close"):
            in_head = kind == "thead_open"
        elif kind == "tr_open" and not in_head:
            rows.append([])
        elif kind == "inline":
            (headers if in_head else rows[-1]).append(_runs(tokens[i]))
        i += 1
    return Table(headers, rows, indent), i + 1


def pdf_blocks(tokens: list[Token]) -> list[Block]:
    """The Markdown's structure (its tokens) as corral.governance.pdf blocks."""
    blocks: list[Block] = []
    lists: list[int | None] = []  # per open list: the next number, or None for bullets
    quotes = 0
    marker = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        indent = LIST_INDENT * (len(lists) + quotes)
        if kind == "heading_open":
            blocks.append(Heading(int(token.tag[1:]), _runs(tokens[i + 1])))
            i += 3
            continue
        if kind == "paragraph_open":
            blocks.append(Paragraph(_runs(tokens[i + 1]), indent, marker))
            marker = ""
            i += 3
            continue
        if kind == "table_open":
            table, i = _table(tokens, i, indent)
            blocks.append(table)
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(int(token.attrGet("start") or 1) if kind == "ordered_list_open" else None)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            number = lists[-1]
            marker = "-" if number is None else f"{number}."
            if number is not None:
                lists[-1] = number + 1
        elif kind in ("blockquote_open", "blockquote_close"):
            quotes += 1 if kind == "blockquote_open" else -1
        elif kind in ("fence", "code_block"):
            blocks.append(Code(token.content, indent))
        elif kind == "hr":
            blocks.append(Rule())
        i += 1
    return blocks


def render_pdf(markdown: str) -> bytes:
    """The PDF of `markdown`: A4 pages, headings, wrapped text, one block per table row."""
    tokens = _parser().parse(markdown)
    return write_pdf(pdf_blocks(tokens), document_title(tokens))


def render(markdown: str, fmt: Format | str) -> bytes:
    """The document in `fmt` (a key of FORMATS) as bytes, ready to write or send."""
    if fmt == "html":
        return render_html(markdown).encode()
    if fmt == "pdf":
        return render_pdf(markdown)
    if fmt == "md":
        return markdown.encode()
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
