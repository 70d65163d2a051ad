"""Names in a list after a word for people: "our 3 founders: Monjeau, Graves and Reed".

Bare surnames in a list are beyond both models (spaCy reads "Monjeau" as a company, "Šušulić"
as a place, and the last two as nothing); the role word before the list is what says they are
people. A list needs two members at least ("A and B", "A, B and C"), each one or two
capitalised words, so a role word before ordinary prose ("authors: see the README") adds
nothing. The pattern is anchored at the role word and bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from corral.privacy.detect import entities as E
from corral.privacy.types import Span

_ROLE = (
    r"(?:co-?)?(?:[Ff]ounders|[Aa]uthors|[Pp]artners|[Oo]wners|[Cc]reators|[Dd]irectors|[Oo]rganizers"
    r"|[Oo]rganisers|[Hh]osts|[Ss]peakers|[Ee]ditors|[Ww]inners|[Ff]inalists|[Pp]anelists|[Jj]udges"
    r"|[Ss]iblings|[Pp]arents|[Cc]hildren|[Gg]randchildren|[Dd]aughters|[Ss]ons|[Bb]rothers|[Ss]isters"
    r"|[Cc]olleagues|[Cc]o-?workers|[Rr]oommates|[Tt]eammates|[Nn]eighbou?rs|[Ff]riends|[Gg]uests"
    r"|[Ww]itnesses|[Pp]atients|[Cc]lients|[Tt]enants|[Ee]mployees)"
)
# One member: one or two capitalised words (capitals checked in `_members`).
_NAME = r"[^\W\d_][^\W\d_'\u2019\-]{1,30}+(?:-[^\W\d_][^\W\d_'\u2019]{1,30}+)?"
_MEMBER = rf"{_NAME}(?:[ \t]{_NAME})?"
_LIST = re.compile(
    rf"\b{_ROLE}(?:[ \t]{{1,2}}(?:are|were|include|included|being))?"
    rf"[ \t]{{0,2}}[:,\-\u2013\u2014]?[ \t]{{1,2}}"
    rf"({_MEMBER}(?:,[ \t]{{1,2}}{_MEMBER}){{0,8}},?[ \t]{{1,2}}(?:and|&)[ \t]{{1,2}}{_MEMBER})\b"
)
_SEPARATOR = re.compile(r",?[ \t]{1,2}(?:and|&)[ \t]{1,2}|,[ \t]{1,2}")
_SCORE = 0.7


def _members(text: str, start: int, end: int) -> list[tuple[int, int]] | None:
    """Offsets of each member of the list text[start:end], without a lowercase word after it
    ("Bob were"); None if a member does not start with a capital."""
    bounds: list[tuple[int, int]] = []
    pos = start
    for sep in _SEPARATOR.finditer(text, start, end):
        bounds.append((pos, sep.start()))
        pos = sep.end()
    bounds.append((pos, end))
    out: list[tuple[int, int]] = []
    for a, b in bounds:
        if not text[a].isupper():
            return None
        gap = text.find(" ", a, b)
        if gap == -1:
            gap = text.find("\t", a, b)
        out.append((a, b) if gap == -1 or text[gap + 1].isupper() else (a, gap))
    return out


def find_listed_names(text: str) -> Iterator[Span]:
    """PERSON rule spans for each member of a list of names after a word for people."""
    for m in _LIST.finditer(text):
        members = _members(text, m.start(1), m.end(1))
        for a, b in members or ():
            yield Span(a, b, E.PERSON, _SCORE, "rule")


# A surname used as an attribute of a work by its author or performer: "the Jensen novel", "the
# Halldór Ó Árnþórsson version recorded for ...". Works of authorship only: "the Python version"
# (unless recorded, performed or sung), "the Unix family" and "the Default case" are technical prose.
_WORK = re.compile(
    r"\b[Tt]he[ \t]{1,2}"
    r"([^\W\d_][^\W\d_'\u2019\-]{0,30}+\.?(?:[ \t][^\W\d_][^\W\d_'\u2019\-]{0,30}+\.?){0,2})[ \t]{1,2}"
    r"(?:(?:novel|biography|autobiography|memoir|album|symphony|sonata|concerto|poem|painting|portrait"
    r"|sculpture|recording|rendition)s?\b|version[ \t]{1,2}(?:recorded|performed|sung)\b)"
)


def find_attributive_names(text: str) -> Iterator[Span]:
    """PERSON rule spans for capitalised names before a work of authorship ("the Jensen novel")."""
    for m in _WORK.finditer(text):
        words = m.group(1).split()
        if all(w[0].isupper() for w in words) and len(words[-1].rstrip(".")) >= 3:
            yield Span(m.start(1), m.end(1), E.PERSON, _SCORE, "rule")


# The person an e-mail address is named after: "Einojuhani Pyysalo ... EinojuhaniPyysalo@gustr.com",
# "Jane Doe <jane.doe@example.com>". Two or three words on one line whose letters are the letters
# of the address's local part (at least six of them).
_LOCAL_PART = re.compile(r"(?<![\w.+-])([A-Za-z][A-Za-z0-9._-]{2,40}+)@[A-Za-z0-9-]{1,63}+\.")
_WORD_RUN = re.compile(r"[^\W\d_]{1,40}+")
_MIN_LETTERS = 6
_MAX_ADDRESSES = 16


def find_emailed_names(text: str) -> Iterator[Span]:
    """PERSON rule spans for the words that spell an e-mail address's local part."""
    if "@" not in text:
        return
    keys: set[str] = set()
    for m in _LOCAL_PART.finditer(text):
        letters = "".join(c for c in m.group(1).lower() if c.isalpha())
        if len(letters) >= _MIN_LETTERS:
            keys.add(letters)
            if len(keys) >= _MAX_ADDRESSES:
                break
    if not keys:
        return
    prefixes = {key[:n] for key in keys for n in range(1, len(key))}
    words = [(m.start(), m.end()) for m in _WORD_RUN.finditer(text)]
    for i in range(len(words) - 1):
        joined = text[words[i][0] : words[i][1]].lower()
        if joined not in prefixes:
            continue  # most words: not the start of any address's name
        for j in (i + 1, i + 2):
            if j >= len(words) or text[words[j - 1][1] : words[j][0]] not in (" ", "\t"):
                break
            joined += text[words[j][0] : words[j][1]].lower()
            if joined in keys:
                yield Span(words[i][0], words[j][1], E.PERSON, _SCORE, "rule")
                break
