"""Text for corral.governance.pdf: the blocks a document is made of, the standard fonts'
widths, the mapping to WinAnsiEncoding, and line breaking.

No font is embedded: the standard Type1 fonts used (Helvetica, Helvetica-Bold,
Helvetica-Oblique, Courier, Courier-Bold) are in every PDF reader, so breaking lines needs
only their advance widths, kept below as data. Text outside WinAnsi becomes a close ASCII equivalent
(curly quotes, dashes, arrows), or '?'.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FONTS", "Block", "Code", "Heading", "Line", "Paragraph", "Rule", "Run", "Runs", "Style", "Table",
           "pdf_text",
           "text_width", "wrap"]

Style = Literal["regular", "bold", "italic", "code", "code_bold"]


@dataclass(frozen=True)
class Run:
    """Text in one style; "\\n" in it is a forced line break."""

    text: str
    style: Style = "regular"


Runs = list[Run]


@dataclass(frozen=True)
class Heading:
    level: int
    runs: Runs


@dataclass(frozen=True)
class Paragraph:
    runs: Runs
    indent: float = 0.0
    marker: str = ""  # a list item's bullet or number, drawn left of the indent


@dataclass(frozen=True)
class Code:
    text: str
    indent: float = 0.0


@dataclass(frozen=True)
class Rule:
    pass


@dataclass(frozen=True)
class Table:
    headers: list[Runs]
    rows: list[list[Runs]] = field(default_factory=list)
    indent: float = 0.0


Block = Heading | Paragraph | Code | Rule | Table

# Advance widths (1/1000 em) of the printable ASCII range, 32 (space) to 126 (~), from Adobe's
# Helvetica and Helvetica-Bold AFM files; Helvetica-Oblique has Helvetica's widths and
# Courier (and Courier-Bold) is 600 throughout.
_HELVETICA = """278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 556
556 556 556 556 278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 278 500 667 556 833 722
778 667 778 722 667 611 722 667 944 667 667 611 278 278 278 469 556 333 556 556 500 556 556 278 556
556 222 222 500 222 833 556 556 556 556 333 500 278 556 500 722 500 500 500 334 260 334 584"""
_HELVETICA_BOLD = """278 333 474 556 556 889 722 238 333 333 389 584 278 333 278 278 556 556 556 556 556
556 556 556 556 556 333 333 584 584 584 611 975 722 722 722 722 667 611 778 722 278 556 722 611 833
722 778 667 778 722 667 611 722 667 944 667 667 611 333 278 333 584 556 333 556 611 556 611 556 333
611 611 278 278 556 278 889 611 611 611 611 389 556 333 611 556 778 556 556 500 389 280 389 584"""
_LATIN1_WIDTHS = {"ß": 611, "æ": 889, "Æ": 1000, "ø": 611, "Ø": 778, "\u00d7": 584, "÷": 584, "°": 400,
                  "©": 737, "®": 737, "±": 584, "¡": 333, "¿": 611, "·": 278, "¼": 834, "½": 834, "¾": 834}


def _table(numbers: str) -> dict[str, int]:
    widths = [int(n) for n in numbers.split()]
    assert len(widths) == 95, len(widths)
    return {chr(32 + i): w for i, w in enumerate(widths)}


_WIDTHS: dict[str, dict[str, int]] = {"F1": _table(_HELVETICA), "F2": _table(_HELVETICA_BOLD)}
_WIDTHS["F3"] = _WIDTHS["F1"]
FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Helvetica-Oblique", "F4": "Courier",
         "F5": "Courier-Bold"}
_FONT_OF: dict[str, str] = {"regular": "F1", "bold": "F2", "italic": "F3", "code": "F4", "code_bold": "F5"}
_CODE_SCALE = 0.9  # Courier at the text's size looks large beside Helvetica

# Typography WinAnsi has but Latin-1 lacks, and common symbols: their ASCII look-alikes.
_ASCII = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201b": "'", "\u201c": '"', "\u201d": '"',
    "\u201e": '"', "\u2032": "'", "\u2033": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-",
    "\u2013": "-", "\u2014": "--", "\u2015": "--", "\u2212": "-", "\u2026": "...", "\u2022": "*",
    "\u2192": "->", "\u2190": "<-", "\u2194": "<->", "\u21d2": "=>", "\u21d0": "<=", "\u2264": "<=",
    "\u2265": ">=", "\u2260": "!=", "\u2248": "~", "\u2009": " ", "\u200a": " ", "\u2002": " ",
    "\u2003": " ", "\u202f": " ", "\u00a0": " ", "\u200b": "", "\u00ad": "", "\t": "    ",
    "\u2122": "(TM)", "\u20ac": "EUR",
})


def pdf_text(text: str) -> str:
    """`text` in the characters WinAnsiEncoding shares with Latin-1 (what the PDF shows)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text).translate(_ASCII):
        if " " <= ch <= "~" or "\u00a1" <= ch <= "\u00ff" or ch == "\n":
            out.append(ch)
            continue
        if unicodedata.category(ch).startswith("M"):  # a combining mark NFC could not attach
            continue
        base = unicodedata.normalize("NFKD", ch)
        kept = "".join(c for c in base if " " <= c <= "~" or "\u00a1" <= c <= "\u00ff")
        out.append(kept if kept and not unicodedata.category(ch).startswith("C") else "?")
    return "".join(out)


def _char_width(ch: str, font: str) -> int:
    if font in ("F4", "F5"):
        return 600
    widths = _WIDTHS[font]
    if ch in widths:
        return widths[ch]
    base = unicodedata.normalize("NFKD", ch)[:1]  # an accented letter is as wide as its base
    return widths.get(base) or _LATIN1_WIDTHS.get(ch, 556)


def text_width(text: str, font: str, size: float) -> float:
    """Width in points of `text` (already through `pdf_text`) set in `font` at `size`."""
    return sum(_char_width(ch, font) for ch in text) * size / 1000


# --- line breaking -------------------------------------------------------------------------

Piece = tuple[str, float, str]  # (font resource name, size, text)
_BREAK: list[Piece] = []  # a forced line break among the words


@dataclass
class Line:
    pieces: list[Piece]
    width: float


def _words(runs: Runs, size: float) -> list[list[Piece]]:
    """Runs cut at spaces into words; a word may change style (`code`, for example)."""
    words: list[list[Piece]] = []
    word: list[Piece] = []

    def flush() -> None:
        nonlocal word
        if word:
            words.append(word)
            word = []

    for run in runs:
        font = _FONT_OF[run.style]
        piece_size = size * _CODE_SCALE if run.style.startswith("code") else size
        for ch in pdf_text(run.text):
            if ch in " \n":
                flush()
                if ch == "\n":
                    words.append(_BREAK)
            elif word and word[-1][0] == font:
                word[-1] = (font, piece_size, word[-1][2] + ch)
            else:
                word.append((font, piece_size, ch))
    flush()
    return words


def _width(pieces: list[Piece]) -> float:
    return sum(text_width(text, font, size) for font, size, text in pieces)


def _split_long(word: list[Piece], width: float) -> list[list[Piece]]:
    """A word wider than the line (a long URL) cut into chunks that fit."""
    chunks: list[list[Piece]] = [[]]
    used = 0.0
    for font, size, text in word:
        for ch in text:
            w = text_width(ch, font, size)
            if used + w > width and chunks[-1]:
                chunks.append([])
                used = 0.0
            chunks[-1].append((font, size, ch))
            used += w
    return chunks


def wrap(runs: Runs, width: float, size: float) -> list[Line]:
    """Greedy line breaking of `runs` into lines at most `width` points wide."""
    lines: list[Line] = []
    current: list[Piece] = []
    used = 0.0
    for word in _words(runs, size):
        if word is _BREAK:
            lines.append(Line(current, used))
            current, used = [], 0.0
            continue
        for chunk in _split_long(word, width) if _width(word) > width else [word]:
            chunk_width = _width(chunk)
            # A space between two words in one font (two code words) is in that font, else Helvetica.
            same = current and current[-1][:2] == chunk[0][:2]
            space: Piece = (current[-1][0], current[-1][1], " ") if same else ("F1", size, " ")
            gap = _width([space])
            if current and used + gap + chunk_width <= width:
                current += [space, *chunk]
                used += gap + chunk_width
                continue
            if current:
                lines.append(Line(current, used))
            current, used = list(chunk), chunk_width
    if current or not lines:
        lines.append(Line(current, used))
    for line in lines:  # neighbouring pieces in one font become one string: one Tj per run
        merged: list[Piece] = []
        for piece in line.pieces:
            if merged and merged[-1][:2] == piece[:2]:
                merged[-1] = (piece[0], piece[1], merged[-1][2] + piece[2])
            elif piece[2]:
                merged.append(piece)
        line.pieces = merged
    return lines

