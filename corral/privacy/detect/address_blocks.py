"""Whole postal addresses from the fragments the models label.

The models label an address word by word and skip its middle: the city line of a block, a
region code, the country, a Greek or all-capitals place name. A redactor that replaces only the
labelled fragments leaks the rest ("... Suite 321 LONDON [ADDRESS]"), so an address span grows
here over the remainder of its block or line, up to the part that ends an address (a postal
code, a country, a state code with its zip), and swallows the model fragments on the way.
Every pattern is anchored at a span's end (or, for the street rule, at a house number) and
bounded, so the work is linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from corral.privacy.detect import entities as E
from corral.privacy.detect.address_data import COUNTRIES
from corral.privacy.types import Span

_COUNTRY = "(?:" + "|".join(re.escape(c) for c in sorted(COUNTRIES, key=len, reverse=True)) + ")"
# "Cyprus (Greek)": a country with the language of the line before it.
_COUNTRY_FULL = rf"{_COUNTRY}(?:[ \t]{{1,2}}\([^\W\d_]{{1,20}}\))?"
_LINE_START = r"[ \t,]*\n[ \t>]*(?:,[ \t]*)?"
# A line of a place or a region inside a block: "LONDON", "ΑΓΛΑΝΤΖΙΑ (ΑΓΛΑΓΓΙΑ)", ", OV", ", 32".
# No field labels (":"), e-mail addresses or code (`f(b"x")`, `a_b = c`), so a block never runs
# into "Phone: ..." or a doctest.
NOT_PLACE = r"\s:@_=\"'`<>\[\]{}\\"
_PLACE_LINE = (
    rf"{_LINE_START}(?:[^\W\d_][^{NOT_PLACE}]{{0,30}}(?:[ \t]+[^{NOT_PLACE}]{{1,30}}){{0,3}}|\d{{1,3}}\b)"
)
# The line that ends a block: a postal code (after a place or alone) or a country.
_LAST_LINE = (
    rf"{_LINE_START}(?:[^\W\d_][^\n:@]{{0,40}}?\b\d{{4,6}}\b|\d{{4,6}}\b"
    rf"|{_COUNTRY_FULL}(?:[ \t]{{1,2}}\d{{4,6}}\b)?(?=[ \t]*(?:[.,;!?]|\n|$)))"
)
_BLOCK = re.compile(rf"(?:{_PLACE_LINE}){{0,3}}{_LAST_LINE}")
# The rest of a one-line address: ", Cite Guedouala, Tunisia", ", Brú, Iceland 82407", " ΠΑΦΟΣ PA",
# ", RS 24893". Places are capitalised words (checked in `_capitalised`).
_WORD = r"[^\W\d_][^\W\d_'.\-]{0,30}"
_PLACE = rf"{_WORD}(?:[ \t]{_WORD}){{0,2}}"
_END = (
    rf"{_COUNTRY_FULL}(?:[ \t]{{1,2}}\d{{4,6}})?"
    r"|[A-Z]{2}(?:[ \t]{1,2}\d{5}(?:-\d{4})?)?|\d{4,6}"
)
_TAIL = re.compile(rf"((?:,?[ \t]{{1,2}}{_PLACE}){{0,3}}?),?[ \t]{{1,2}}(?:{_END})(?![\w-])")
_TAIL_WORD = re.compile(r"[^\W\d_][^\W\d_'.\-]*")

# A street the models did not label: house number(s), capitalised words and a street type
# ("136 Filadelfeos Str.", "28919 136 Filadelfeos Str.", "42 Old Mill Road").
_STREET_TYPES = (
    r"(?:Street|Str|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Boulevard|Blvd|Way|Court|Ct|Square|Sq"
    r"|Terrace|Place|Highway|Hwy|Parkway|Pkwy|Crescent|Close|Gardens|Grove|Alley)"
)
_STREET = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?(?:[ \t]\d{{1,6}})?[ \t]{{1,2}}(?:[A-Z][^\W\d_'\-]{{1,30}}+[ \t]{{1,2}}){{1,3}}"
    rf"{_STREET_TYPES}\b\.?"
)
# A street type right after a street the models found without it ("159 Eleftheriou Venizelou str").
STREET_TYPE_AFTER = re.compile(rf"[ \t]{{1,2}}(?i:{_STREET_TYPES})\b\.?")
# US Navy ships' mail: "USNS Bergman\nFPO AP 93757" (the FPO line alone is a unit rule).
_SHIP = re.compile(
    r"\bUS(?:NS|NV|S|CGC)[ \t]{1,4}+[A-Z][^\W\d_]{1,30}+(?:[ \t]{1,2}+[A-Z][^\W\d_]{1,30}+)?"
    r"[ \t]*\n[ \t>]{0,4}+[AFD]PO[ \t]{1,4}+A[AEP][ \t]{1,4}+\d{5}\b"
)
# Model spans an address may swallow: fragments and mislabelled place names on its lines.
_SWALLOWED = frozenset({E.ADDRESS, E.LOCATION, E.PERSON, E.ORGANIZATION, E.NRP})
_KEEP_TO_END = frozenset({E.ADDRESS, E.LOCATION, E.NRP})
_ROUNDS = 3  # a tail after a block after a tail: "Apt. 971\nArchimandrita Pano, PA 73161"


# "Aqqusinersuaq 176" (a street and its number, read as a company or a name) before the rest of
# an address ("Pinto Hill\n Suite 487 ..."), or the street word alone before an address that
# starts with the number: "Ilmalankuja" + "82 Zachary Cliffs".
_WORD_NUMBER = re.compile(r"[^\W\d_][^\W\d_'\-]{2,30}[ \t]\d{1,6}[A-Za-z]?")
_ONE_WORD = re.compile(r"[^\W\d_][^\W\d_'\-]{2,30}")
_RELABELLED = frozenset({E.PERSON, E.ORGANIZATION, E.LOCATION})
_ADJACENT = re.compile(r"[ \t]{1,2}")


def numbered_streets(spans: list[Span], text: str) -> list[Span]:
    """A model's "Word 176" name, company or place right before an address is its street; so is
    a one-word one right before an address that starts with a house number."""
    out = list(spans)
    for i in range(len(out) - 1):
        s, nxt = out[i], out[i + 1]
        if (
            nxt.entity == E.ADDRESS
            and s.source == "model"
            and s.entity in _RELABELLED
            and (
                _WORD_NUMBER.fullmatch(text, s.start, s.end)
                or (_ONE_WORD.fullmatch(text, s.start, s.end) and text[nxt.start].isdigit())
            )
            and _ADJACENT.fullmatch(text, s.end, nxt.start)
        ):
            out[i] = Span(s.start, s.end, E.ADDRESS, s.score, s.source)
    return out


def find_streets(text: str) -> Iterator[Span]:
    """Numbered streets with a street type, and ships' FPO addresses (rule spans)."""
    for m in _STREET.finditer(text):
        yield Span(m.start(), m.end(), E.ADDRESS, 0.6, "rule")
    for m in _SHIP.finditer(text):
        yield Span(m.start(), m.end(), E.ADDRESS, 0.9, "rule")


def _swallowable(span: Span) -> bool:
    return span.entity == E.ADDRESS or (span.source == "model" and span.entity in _SWALLOWED)


def _capitalised(places: str) -> bool:
    """Whether every word of a tail's places starts with a capital ("Cite Guedouala", "ΠΑΦΟΣ")."""
    return all(w[0].isupper() for w in _TAIL_WORD.findall(places))


def _grown_end(text: str, end: int, ceiling: int) -> int:
    """Where an address ending at `end` really ends: down its block and along its line."""
    for _ in range(_ROUNDS):
        m = _BLOCK.match(text, end, ceiling)
        if m is None:
            m = _TAIL.match(text, end, ceiling)
            if m is not None and not _capitalised(m.group(1)):
                m = None
        if m is None:
            break
        end = m.end()
    return end


def grow_addresses(spans: list[Span], text: str) -> list[Span]:
    """Each address grown to its whole block or line, over the model fragments inside it.

    spans: sorted and disjoint; so is the result. A swallowed place, group or address that runs
    past the grown end extends it; a swallowed name keeps its part after the end.
    """
    out: list[Span] = []
    i = 0
    while i < len(spans):
        s = spans[i]
        i += 1
        if s.entity != E.ADDRESS or sum(c.isalpha() for c in text[s.start : s.end]) < 2:
            out.append(s)  # a lone number is no address to grow (`incomplete` drops it)
            continue
        j = i
        while j < len(spans) and _swallowable(spans[j]):
            j += 1
        ceiling = spans[j].start if j < len(spans) else len(text)
        end = _grown_end(text, s.end, ceiling)
        rest: Span | None = None
        while i < len(spans) and spans[i].start < end:
            t = spans[i]
            i += 1
            if t.end > end:
                if t.entity in _KEEP_TO_END:
                    end = t.end
                else:
                    rest = _after(t, end, text)
        out.append(s if end == s.end else Span(s.start, end, s.entity, s.score, s.source))
        if rest is not None:
            out.append(rest)
    return out


def _after(span: Span, end: int, text: str) -> Span | None:
    """The part of span after `end`, without leading spaces and punctuation, if a word is left."""
    a = end
    while a < span.end and not text[a].isalnum():
        a += 1
    return Span(a, span.end, span.entity, span.score, span.source) if span.end - a >= 2 else None
