"""Plain text: paragraphs are separated by blank lines, and runs of bulleted or numbered lines
form a list. Hard-wrapped lines inside a paragraph are joined with a space, so a sentence cut
by an editor's line width is whole again for the chunker's sentence splitting."""

from __future__ import annotations

import re

from corral.knowledge.parsers.base import Budget, decode_text, squash
from corral.knowledge.types import Block, Document

_ITEM = re.compile(r"^\s*(?:[-*+\u2022\u25e6\u2023]|\(?\d{1,3}[.)]|[a-z][.)])\s+\S")


def parse_text(data: bytes, budget: Budget) -> Document:
    text = decode_text(data, budget.filename)
    blocks: list[Block] = []
    for n, para in enumerate(re.split(r"\n[ \t\f\v]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))):
        if n % 256 == 0:
            budget.check()
        blocks.extend(paragraph_blocks(para.split("\n"), budget))
    return Document(blocks=blocks, media_type="text/plain")


def paragraph_blocks(lines: list[str], budget: Budget) -> list[Block]:
    """One paragraph's lines as blocks: bulleted runs become a list (one item a line, with its
    wrapped continuation lines joined), the rest a paragraph."""
    out: list[Block] = []
    prose: list[str] = []
    items: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if _ITEM.match(line):
            if prose:
                out.append(Block(budget.take(squash(" ".join(prose)))))
                prose = []
            items.append(squash(line))
        elif items:
            items[-1] += " " + squash(line)
        else:
            prose.append(line)
    if prose:
        out.append(Block(budget.take(squash(" ".join(prose)))))
    if items:
        out.append(Block(budget.take("\n".join(items)), kind="list"))
    return out
