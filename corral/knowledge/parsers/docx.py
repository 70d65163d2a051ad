"""Word documents (.docx, Office Open XML): headings by paragraph style (Title, Heading 1-9,
or any style with an outline level, following `basedOn`), paragraphs, numbered and bulleted
lists (numbering or a List style), tables (one row a line), in body order, content controls
included; deleted tracked changes and field codes left out.

Why our own reader over lxml rather than python-docx (MIT): measured on a generated 1,600-
paragraph, 40-table report, python-docx takes 125 ms to walk paragraphs and tables and
1,089 ms once each paragraph's style name is looked up, where reading the same XML with lxml
takes 7-13 ms and this reader turns it into blocks in about 140 ms. python-docx also loads
every part of the package into memory (images included), while this reader opens only the
three XML parts it needs, each through a size cap, which is what bounds a decompression
bomb: a 1 MB zip can declare a 1 GB document.xml, and nothing past
`ParseLimits.max_expanded_bytes` is ever inflated. The XML parser resolves no entities,
loads no DTD and keeps libxml2's depth and text-node limits.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

import lxml.etree as etree

from corral.knowledge.parsers.base import SUPPORTED, Budget, squash
from corral.knowledge.parsers.errors import (
    CorruptDocument,
    DocumentTooComplex,
    EncryptedDocument,
    UnsupportedFormat,
)
from corral.knowledge.types import Block, Document

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: legacy .doc, or an encrypted .docx
_HEADING_NAME = re.compile(r"^heading\s*([1-9])$")


def parse_ole(data: bytes, budget: Budget) -> Document:
    """A Compound File is never parsed: say whether it is an encrypted Office file or a legacy one."""
    if "EncryptionInfo".encode("utf-16-le") in data[:1_000_000]:
        raise EncryptedDocument(f"{budget.filename} is a password-protected Office document; save an "
                                "unprotected copy and upload that.")
    raise UnsupportedFormat(f"{budget.filename} is a legacy Office file (.doc, .xls or .ppt); save it as "
                            f".docx or PDF. Supported formats: {SUPPORTED}.")


@dataclass(frozen=True, slots=True)
class _Style:
    heading: int  # 0: not a heading; -1: the Title style
    is_list: bool


class _Package:
    """The zip, read part by part through the expansion budget."""

    def __init__(self, data: bytes, budget: Budget) -> None:
        self.budget = budget
        self.left = budget.limits.max_expanded_bytes
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError):
            raise CorruptDocument(f"{budget.filename} is not a valid .docx: the zip archive is damaged "
                                  "or truncated.") from None

    def has(self, name: str) -> bool:
        return name in self.zip.NameToInfo

    def xml(self, name: str) -> etree._Element | None:
        if not self.has(name):
            return None
        try:
            with self.zip.open(name) as part:
                raw = part.read(self.left + 1)
        except RuntimeError:  # zipfile's "File is encrypted"
            raise EncryptedDocument(f"{self.budget.filename} is an encrypted zip archive.") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError):
            raise CorruptDocument(f"{self.budget.filename} is damaged: {name} cannot be "
                                  "decompressed.") from None
        self.left -= len(raw)
        if self.left < 0:
            raise DocumentTooComplex(
                f"{self.budget.filename} expands to more than "
                f"{self.budget.limits.max_expanded_bytes:,} bytes of XML (ParseLimits.max_expanded_bytes); "
                "it looks like a decompression bomb.",
                limit="max_expanded_bytes")
        self.budget.check()
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 remove_comments=True, remove_pis=True)
        try:
            return etree.fromstring(raw, parser=parser)
        except etree.XMLSyntaxError as e:
            if "depth" in str(e).lower() or "huge" in str(e).lower():
                raise DocumentTooComplex(f"{self.budget.filename}: {name} is nested too deeply or holds a "
                                         "text run too large to read.", limit="max_depth") from None
            raise CorruptDocument(f"{self.budget.filename} is damaged: {name} is not well-formed "
                                  "XML.") from None


def _main_part(pkg: _Package) -> str:
    rels = pkg.xml("_rels/.rels")
    for rel in rels.iter("{*}Relationship") if rels is not None else ():
        if rel.get("Type", "").endswith("/officeDocument"):
            return (rel.get("Target") or "").lstrip("/")
    return "word/document.xml"


def _val(el: etree._Element, path: str, w: str) -> str | None:
    """The w:val of the element at `path` ("pPr/outlineLvl": namespace added), if there is one."""
    found = el.find("/".join(f"{w}{step}" for step in path.split("/")))
    return found.get(f"{w}val") if found is not None else None


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _level(name: str, outline: int | None) -> int:
    """A heading level from a style name or an outline level (0-based; 9 is body text)."""
    if name == "title":
        return -1
    if m := _HEADING_NAME.match(name):
        return int(m.group(1))
    return outline + 1 if outline is not None and outline < 9 else 0


def _styles(root: etree._Element | None, w: str) -> dict[str, _Style]:
    """styleId -> heading level and list-ness, `basedOn` followed (at most 10 steps)."""
    if root is None:
        return {}
    raw: dict[str, tuple[int, bool, str | None]] = {}
    for st in root.iter(f"{w}style"):
        name = (_val(st, "name", w) or "").strip().lower()
        listy = st.find(f"{w}pPr/{w}numPr") is not None or name.startswith("list")
        raw[st.get(f"{w}styleId") or ""] = (_level(name, _number(_val(st, "pPr/outlineLvl", w))), listy,
                                             _val(st, "basedOn", w))
    out: dict[str, _Style] = {}
    for sid in raw:
        heading, is_list, cur, steps = 0, False, sid, 0
        while cur in raw and steps < 10:
            level, listy, based_on = raw[cur]
            heading, is_list = heading or level, is_list or listy
            cur, steps = based_on or "", steps + 1
        out[sid] = _Style(heading, is_list)
    return out


class _Body:
    """Body elements in order: paragraphs become headings, list items or paragraphs."""

    def __init__(self, w: str, styles: dict[str, _Style], budget: Budget) -> None:
        self.w, self.styles, self.budget = w, styles, budget
        self.blocks: list[Block] = []
        self.items: list[str] = []
        self.title: str | None = None

    def text(self, el: etree._Element) -> str:
        w = self.w
        runs = el.iter(f"{w}t", f"{w}tab", f"{w}br", f"{w}cr")
        return squash("".join(n.text or "" if n.tag == f"{w}t" else " " for n in runs))

    def flush_list(self) -> None:
        if self.items:
            self.blocks.append(Block(self.budget.take("\n".join(self.items)), kind="list"))
            self.items = []

    def paragraph(self, p: etree._Element) -> None:
        w = self.w
        text = self.text(p)
        if not text:
            return
        style = self.styles.get(_val(p, "pPr/pStyle", w) or "Normal", _Style(0, False))
        heading = style.heading or _level("", _number(_val(p, "pPr/outlineLvl", w)))
        if heading:
            self.flush_list()
            if heading == -1:
                self.title = self.title or text
            self.blocks.append(Block(self.budget.take(text), kind="heading", level=heading))
        elif _val(p, "pPr/numPr/numId", w) not in (None, "0") or style.is_list:
            depth = _number(_val(p, "pPr/numPr/ilvl", w)) or 0
            self.items.append("  " * min(depth, 8) + "- " + text)
        else:
            self.flush_list()
            self.blocks.append(Block(self.budget.take(text)))

    def table(self, tbl: etree._Element) -> None:
        self.flush_list()
        w = self.w
        rows = []
        for tr in tbl.iterchildren(f"{w}tr"):
            cells = [self.text(tc) for tc in tr.iterchildren(f"{w}tc")]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self.blocks.append(Block(self.budget.take("\n".join(rows)), kind="table"))

    def run(self, body: etree._Element) -> None:
        w = self.w
        stack = list(reversed(body))
        n = 0
        while stack:
            el = stack.pop()
            n += 1
            if n % 500 == 0:
                self.budget.check()
            if el.tag == f"{w}p":
                self.paragraph(el)
            elif el.tag == f"{w}tbl":
                self.table(el)
            elif el.tag in (f"{w}sdt", f"{w}sdtContent", f"{w}customXml", f"{w}ins", f"{w}smartTag"):
                stack.extend(reversed([c for c in el if c.tag != f"{w}sdtPr"]))
        self.flush_list()


def _not_word(budget: Budget, seen: str) -> Exception:
    """A zip that is not a Word document: corrupt when it claims to be one, else unsupported."""
    if budget.filename.lower().endswith(".docx"):
        return CorruptDocument(f"{budget.filename} is a zip archive but not a Word document ({seen}).")
    return UnsupportedFormat(f"{budget.filename} is a zip archive ({seen}), not a Word document. "
                             f"Supported formats: {SUPPORTED}.")


def parse_docx(data: bytes, budget: Budget) -> Document:
    pkg = _Package(data, budget)
    name = _main_part(pkg)
    if not pkg.has(name):
        raise _not_word(budget, f"no {name}")
    root = pkg.xml(name)
    assert root is not None
    w = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    body = root.find(f"{w}body")
    if root.tag != f"{w}document" or body is None:
        raise _not_word(budget, f"its main part {name} is not a document body")
    folder = name.rpartition("/")[0]
    walk = _Body(w, _styles(pkg.xml(f"{folder}/styles.xml" if folder else "styles.xml"), w), budget)
    walk.run(body)
    has_title = walk.title is not None
    blocks = [Block(b.text, "heading", 1 if b.level == -1 else b.level + 1 if has_title else b.level)
              if b.kind == "heading" else b for b in walk.blocks]
    title = walk.title or next((b.text for b in blocks if b.kind == "heading"), None)
    return Document(blocks=blocks, title=title,
                    media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
