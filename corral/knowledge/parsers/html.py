"""HTML: headings h1-h6, paragraphs, lists, tables, preformatted text and the loose text of
containers, in reading order; scripts, styles, navigation, forms and embedded objects are
dropped; entities are decoded; the charset comes from the BOM or <meta charset>.

Why lxml (BSD-3-Clause, libxml2 underneath): measured on a 225 KB real page (the Rust
documentation's print.html), lxml builds the tree in 23 ms, the stdlib's html.parser takes
73 ms just to tokenize, and selectolax (MIT, Lexbor) 14 ms. Hostile nesting decided it: on
200,000 nested <div>s libxml2 stops at its fixed depth limit of 256 in 1 ms (we turn that
into `DocumentTooComplex(limit="max_depth")`), html.parser took 3.3 s, and selectolax had
not finished after 70 s. lxml is also what the docx reader uses, so HTML costs no new
dependency. Each call gets its own parser (lxml parsers are not shared between threads),
and the tree is walked with `iterwalk`, never recursion.
"""

from __future__ import annotations

import lxml.etree as etree
import lxml.html

from corral.knowledge.parsers.base import BlockKind, Budget, squash
from corral.knowledge.parsers.errors import CorruptDocument, DocumentTooComplex
from corral.knowledge.types import Block, Document

DROP = ("script", "style", "noscript", "template", "nav", "form", "button", "select", "iframe",
        "object", "embed", "svg", "canvas", "audio", "video", "head")
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Elements that end the running paragraph; their own text starts a new one.
BREAKS = frozenset({"div", "section", "article", "main", "header", "footer", "aside", "address",
                    "blockquote", "figure", "figcaption", "details", "summary", "fieldset", "dl",
                    "dt", "dd", "hr", "br", "body", "center", "caption", "li", "ul", "ol", "tr"})


def _text(el: etree._Element) -> str:
    return squash("".join(el.itertext()))


def _list_text(el: etree._Element, budget: Budget) -> str:
    """A ul/ol as one item a line, nested lists indented, numbered as the source numbers them."""
    lines: list[str] = []
    walker = etree.iterwalk(el, events=("start", "end"))
    depth = 0
    for event, node in walker:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in ("ul", "ol"):
            depth += 1 if event == "start" else -1
        elif tag == "li" and event == "start":
            own = squash((node.text or "") + "".join(
                "".join(c.itertext()) + (c.tail or "") for c in node if c.tag not in ("ul", "ol")))
            if own:
                lines.append("  " * min(depth - 1, 8) + "- " + own)
            budget.check()
    return "\n".join(lines)


def _table_text(el: etree._Element) -> str:
    """One row a line, cells joined by ' | '; a nested table's text stays inside its cell."""
    rows = [row for row in el.iter("tr") if next(row.iterancestors("table")) is el]
    lines = [" | ".join(_text(cell) for cell in row if cell.tag in ("td", "th")) for row in rows]
    return "\n".join(line for line in lines if line.strip(" |"))


class _Walk:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.blocks: list[Block] = []
        self.running: list[str] = []

    def emit(self, text: str, kind: BlockKind = "paragraph", level: int = 0) -> None:
        if text.strip():
            self.blocks.append(Block(self.budget.take(text), kind=kind, level=level))

    def flush(self) -> None:
        self.emit(squash("".join(self.running)))
        self.running = []

    def run(self, body: etree._Element) -> None:
        walker = etree.iterwalk(body, events=("start", "end"))
        for n, (event, el) in enumerate(walker):
            if n % 500 == 0:
                self.budget.check()
            tag = el.tag if isinstance(el.tag, str) else ""
            if event == "end":
                if tag in BREAKS or tag in HEADINGS or tag in ("p", "pre", "table", "ul", "ol"):
                    self.flush()
                if el is not body:
                    self.running.append(el.tail or "")
                continue
            if tag in BREAKS or tag in HEADINGS or tag in ("p", "pre", "table", "ul", "ol"):
                self.flush()
            if tag in HEADINGS:
                self.emit(_text(el), "heading", HEADINGS[tag])
            elif tag == "pre":
                self.emit("".join(el.itertext()).strip("\n"), "code")
            elif tag == "table":
                self.emit(_table_text(el), "table")
            elif tag in ("ul", "ol"):
                self.emit(_list_text(el, self.budget), "list")
            else:
                self.running.append(el.text or "")
                continue
            walker.skip_subtree()


def parse_html(data: bytes, budget: Budget) -> Document:
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError) as e:  # only whitespace, or nothing lxml can read
        raise CorruptDocument(f"{budget.filename} is not readable HTML ({e}).") from None
    if any(err.type_name == "ERR_RESOURCE_LIMIT" for err in parser.error_log):
        raise DocumentTooComplex(f"{budget.filename} nests its elements more than 256 deep (libxml2's "
                                 "limit), which no real page does.", limit="max_depth")
    budget.check()
    title_el = root.find(".//title")
    title = _text(title_el) if title_el is not None else None
    etree.strip_elements(root, *DROP, with_tail=False)
    hidden = [el for el in root.iter() if el.get("role") in ("navigation", "search")
              or el.get("aria-hidden") == "true" or el.get("hidden") is not None]
    for el in hidden:
        el.drop_tree()
    body = root.find("body")
    walk = _Walk(budget)
    walk.run(body if body is not None else root)
    if not title:
        title = next((b.text for b in walk.blocks if b.kind == "heading"), None)
    return Document(blocks=walk.blocks, title=title or None, media_type="text/html")
