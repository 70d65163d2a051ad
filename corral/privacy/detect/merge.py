"""Turning overlapping, fragmentary candidates into one sorted, non-overlapping list of spans.

The models label words, not entities: "Maria" and "Gonzalez" come back as two names, and a
postal address as a building number, a street, a city and a zip code on separate lines. A
redactor that replaces each fragment separately leaks the structure (and the commas) of the
original, so fragments of one entity are joined here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from corral.privacy.detect import entities as E
from corral.privacy.detect.address_blocks import (
    NOT_PLACE,
    STREET_TYPE_AFTER,
    grow_addresses,
    numbered_streets,
)
from corral.privacy.detect.intervals import Disjoint
from corral.privacy.types import Span

# An intersection is one address: "the corner of Östbygatan 14 and Sigurmundsson Greens" (the
# second street often comes back as a place or a name).
_CORNER = re.compile(r"\.?[ \t]{1,2}(?:and|&)[ \t]{1,2}")
_CORNER_PARTS = frozenset({E.ADDRESS, E.LOCATION})
_CORNER_OF = re.compile(r"(?i:the[ \t]+)?(?i:corner)[ \t]+of[ \t]+$")
# The second street of an intersection when the models found only the first.
_CORNER_AND = re.compile(
    r"[ \t]{1,2}(?:and|&)[ \t]{1,2}(?:\d{1,6}[ \t]+)?[^\W\d_][\w'.-]{0,30}"
    r"(?:[ \t]+[\w'.-]{1,30}){0,3}?(?=[,;!?]|\.?[ \t]*(?:\n|$))"
)
# What may separate two fragments of one entity.
_GAP = {
    E.PERSON: re.compile(r"[ \t]{1,3}|[ \t]?-[ \t]?"),
    # Also across a state or region code the models skip: "Springfield, IL 62704", "Oulu\n, PA\n".
    # And over one or two lines of a place the models skipped ("LONDON", "Velká Bukovina u Decína")
    # between two parts of one address block.
    E.ADDRESS: re.compile(
        r"[\s,.;]{0,8}|[ \t]*\n[\s,]*|\s*-\s*|[\s,]{1,4}[A-Z]{2,3}[\s,]{1,4}"
        rf"|(?:[ \t,]*\n[ \t>]*[^\W\d_][^{NOT_PLACE}]{{0,30}}(?:[ \t]+[^{NOT_PLACE}]{{1,30}}){{0,3}}){{1,2}}"
        r"[ \t,]*\n[\s,]*"
        # And over a particle of a place name: "Jiřího z Poděbrad", "Velká Bukovina u Decína".
        r"|[ \t]{1,2}(?:z|u|na|nad|pod|do|de|du|des|la|le|di|da|del|dos|das|am|an|im|bei|sur|en|y)"
        r"[ \t]{1,2}"
    ),
    E.ORGANIZATION: re.compile(r"[ \t]{1,3}|,?[ \t]+(?:and|&)[ \t]+|,[ \t]"),
    E.LOCATION: re.compile(r"[ \t]{1,3}|,[ \t]?"),
}
_DEFAULT_GAP = re.compile(r"[ \t]{1,2}")
# Parts of an address: a city or state next to a street or zip code belongs to the address.
_ADDRESS_PARTS = frozenset({E.ADDRESS, E.LOCATION})
_HONORIFIC = re.compile(
    r"(?<![\w'\u2019])(?:(?i:mr|mrs|ms|miss|mx|dr|prof|sir|dame|lady|lord|rev|fr|sra|herr|frau|mme|mlle)\.?|M\.)"
    r"[ \t]+$"
)
# A house or postbox number next to a street the model labelled without it ("228 Ringvej 144"),
# and the Polish street abbreviations it skips ("772 ul. Narewska 94").
# Also the street word of Romance-language streets ("106 Rue Ettatawer", "Rua do Paseo").
_STREET_WORD = (
    r"\b(?:(?i:ul|al|pl|os)\.|(?:Rue|Rua|Via|Calle|Avenida|Avenue|Strada|Piazza|Plaza|Praça|Largo|Travessa"
    r"|Estrada|Boulevard|Chemin|Route)(?:[ \t]{1,2}(?:de|da|do|des|du|la|le|del|della|di))?)[ \t]{1,2}"
)
_NUMBER_BEFORE = re.compile(rf"(?:(?:\b\d{{1,6}}[A-Za-z]?[ \t]+)+(?:{_STREET_WORD})?|{_STREET_WORD})$")
# Only spaces between a street the models read as a name and the rest of its address.
_ADJACENT = re.compile(r"[ \t]{1,2}")
# The rest of a name after a middle initial the model stopped at ("Gladys L" + ". Leblanc").
# Not the first word of the next sentence ("Plan B. Then ...").
_SENTENCE_OPENER = (
    r"(?!(?:The|Then|This|That|There|These|They|We|It|He|She|You|And|But|So|If|In|On|At)\b)"
)
_AFTER_INITIAL = re.compile(
    rf"\.[ \t]{{1,2}}{_SENTENCE_OPENER}[A-Z][^\W\d_]{{1,40}}+(?:-[A-Z][^\W\d_]{{1,40}}+)?"
)
# The initial and surname after a given name the model found alone ("Ella" + " H. Snider").
_INITIAL_SURNAME = re.compile(
    rf"[ \t][A-Z]\.?[ \t]{{1,2}}{_SENTENCE_OPENER}[A-Z][^\W\d_]{{1,40}}+(?:-[A-Z][^\W\d_]{{1,40}}+)?"
    r"(?![\w'\u2019-])"
)
# Words a model's name span swallows from the next field: "Barbara Yudina Apt", "Bruun\nPhone".
_INITIAL_GAP = re.compile(r"\.[ \t]{1,2}")
_NOT_NAME_TAIL = re.compile(
    r"(?:[ \t]+(?i:apt|apartment|suite|ste|unit|flat|box)"
    r"|\s*\n\s*(?i:phone|mobile|tel|telephone|cell|fax|desk|e-?mail|address|date|name|website))$"
)
_NUMBER_AFTER = re.compile(r"[ \t]+\d{1,5}[A-Za-z]?\b\.?")
_SUFFIX = re.compile(r"(?i),?[ \t]+(?:jr|sr|md|phd|dds|esq|ii|iii|iv|rn|cpa)\b\.?")


def _priority(span: Span) -> tuple[int, int, float]:
    """Validated rules beat other rules beat models; then the longer span, then the higher score."""
    rank = 2 if span.entity in E.VALIDATED else 1 if span.source == "rule" else 0
    return rank, span.end - span.start, span.score


def _noisy_or(a: float, b: float) -> float:
    """Two independent detectors agreeing make a span more certain than either alone."""
    return 1.0 - (1.0 - a) * (1.0 - b)


def union_same_entity(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans of one entity become their union (two models agreeing, or windows)."""
    out: list[Span] = []
    by_entity: dict[str, list[Span]] = {}
    for s in spans:
        by_entity.setdefault(s.entity, []).append(s)
    for group in by_entity.values():
        group.sort(key=lambda s: (s.start, -s.end))
        cur = group[0]
        for s in group[1:]:
            if s.start < cur.end:
                source = "rule" if "rule" in (cur.source, s.source) else "model"
                score = max(cur.score, s.score) if cur.source == s.source else _noisy_or(cur.score, s.score)
                cur = Span(cur.start, max(cur.end, s.end), cur.entity, score, source)
            else:
                out.append(cur)
                cur = s
        out.append(cur)
    return out


def select_non_overlapping(spans: Iterable[Span], text: str) -> list[Span]:
    """Best span first (by `_priority`); a lesser span loses what overlaps and keeps its longest rest.

    Trimming instead of dropping keeps "Barbara Yudina" when a model read "Barbara Yudina Apt"
    and the "Apt. 675" rule wins the overlap.
    """
    chosen: list[Span] = []
    taken = Disjoint()
    for s in sorted(spans, key=_priority, reverse=True):
        pieces = taken.gaps(s.start, s.end)
        if not pieces:
            continue
        a, b = max(pieces, key=lambda p: p[1] - p[0])
        if (a, b) != (s.start, s.end):
            a, b = _strip(text, a, b)
            if sum(ch.isalnum() for ch in text[a:b]) < 2:
                continue
            s = Span(a, b, s.entity, s.score, s.source)
        taken.add(s.start, s.end)
        chosen.append(s)
    return sorted(chosen, key=lambda s: s.start)


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    """[a, b) without surrounding whitespace and punctuation."""
    while a < b and not text[a].isalnum():
        a += 1
    while b > a and not text[b - 1].isalnum():
        b -= 1
    return a, b


def _joined_entity(a: Span, b: Span, gap: str, text: str) -> str | None:
    """The entity of a+b when they are fragments of one, else None."""
    if (
        a.entity == b.entity == E.PERSON
        and _INITIAL_GAP.fullmatch(gap)
        and _lone_initial(text, a.start, a.end)
    ):
        return E.PERSON
    if _CORNER.fullmatch(gap) and E.ADDRESS in (a.entity, b.entity) and {a.entity, b.entity} <= _CORNER_PARTS:
        return E.ADDRESS
    if a.entity == b.entity:
        pattern = _GAP.get(a.entity, _DEFAULT_GAP)
        return a.entity if pattern.fullmatch(gap) else None
    if a.entity in _ADDRESS_PARTS and b.entity in _ADDRESS_PARTS and _GAP[E.ADDRESS].fullmatch(gap):
        return E.ADDRESS
    if _street_and_street(a, b, gap, text):
        return E.ADDRESS
    return None


def _street_and_street(a: Span, b: Span, gap: str, text: str) -> bool:
    """An intersection whose first street the models read as a given name: "Maarit and Hersnapvej
    75", "Katrina and Rúa do Paseo 46" (a one-word name, a numbered street after "and")."""
    return (
        a.entity == E.PERSON
        and a.source == "model"
        and b.entity == E.ADDRESS
        and _CORNER.fullmatch(gap) is not None
        and not any(c.isspace() for c in text[a.start : a.end])
        and any(c.isdigit() for c in text[b.start : b.end])
    )


def join_fragments(spans: list[Span], text: str) -> list[Span]:
    """Grow names over honorifics and addresses over numbers, then join neighbouring fragments."""
    spans = [_street_name(s, text, t) for s, t in zip(spans, [*spans[1:], None], strict=True)]
    spans = numbered_streets(spans, text)
    lows = [0, *(s.end for s in spans[:-1])]
    highs = [*(s.start for s in spans[1:]), len(text)]
    grown = [_with_title(s, text, lo, hi) for s, lo, hi in zip(spans, lows, highs, strict=True)]
    out: list[Span] = []
    for s in grown:
        if out:
            prev = out[-1]
            entity = _joined_entity(prev, s, text[prev.end : s.start], text)
            if entity is not None:
                source = "rule" if "rule" in (prev.source, s.source) else "model"
                out[-1] = Span(prev.start, s.end, entity, max(prev.score, s.score), source)
                continue
        out.append(s)
    return grow_addresses(out, text)


def _street_name(span: Span, text: str, following: Span | None) -> Span:
    """A model's "name" between a house number and a street number, a street type or the rest of
    an address is a street: "864 Piazzetta Scalette Rubiani 104", "31401 ul. Słowicza 10",
    "159 Eleftheriou Venizelou str", "56539 Rua Cyro Schmutzer" + "Franco 1213" (streets are
    often named after people)."""
    if span.entity != E.PERSON or span.source != "model":
        return span
    numbered_before = _NUMBER_BEFORE.search(text, max(0, span.start - 16), span.start)
    numbered_after = (
        _NUMBER_AFTER.match(text, span.end)
        or text[span.start : span.end][-1:].isdigit()
        or STREET_TYPE_AFTER.match(text, span.end)
        or (
            following is not None
            and following.entity == E.ADDRESS
            and _ADJACENT.fullmatch(text, span.end, following.start)
        )
    )
    if numbered_before and numbered_after:
        return Span(span.start, span.end, E.ADDRESS, span.score, span.source)
    return span


def _with_title(span: Span, text: str, floor: int, ceiling: int) -> Span:
    """A name grown over "Dr." and ", Jr.", an address over its numbers (never over another span)."""
    if span.entity == E.PERSON:
        before, after = _HONORIFIC, _SUFFIX
    elif span.entity == E.ADDRESS:
        before, after = _NUMBER_BEFORE, _NUMBER_AFTER
    else:
        return span
    start, end = span.start, span.end
    if span.entity == E.PERSON and _lone_initial(text, start, end):
        m = _AFTER_INITIAL.match(text, end, ceiling)
        if m:
            end = m.end()
    elif span.entity == E.PERSON and not any(c.isspace() for c in text[start:end]):
        m = _INITIAL_SURNAME.match(text, end, ceiling)
        if m:
            end = m.end()
    m = before.search(text, max(floor, start - 16), start)
    if m:
        start = m.start()
    if span.entity == E.ADDRESS:
        m = STREET_TYPE_AFTER.match(text, end, ceiling)
        if m:
            end = m.end()
        m = _CORNER_OF.search(text, max(floor, start - 16), start)
        if m:
            start = m.start()
            m = _CORNER_AND.match(text, end, ceiling)
            if m:
                end = m.end()
    m = after.match(text, end, ceiling)
    if m:
        end = m.end()
    if (start, end) == (span.start, span.end):
        return span
    return Span(start, end, span.entity, span.score, span.source)


def _lone_initial(text: str, start: int, end: int) -> bool:
    """Whether a span ends in a single capital letter after a space ("Sari J")."""
    return end - start >= 3 and text[end - 1].isupper() and text[end - 2] in " \t"


def trim_name_tail(span: Span, text: str) -> Span:
    """A model's name without the unit or field label it ran into ("Yudina Apt", "Bruun\nPhone"),
    so the unit rule ("Apt. 675") is not outranked by a longer name span."""
    m = _NOT_NAME_TAIL.search(text, span.start, span.end)
    if m is None or m.start() <= span.start:
        return span
    return Span(span.start, m.start(), span.entity, span.score, span.source)


def _phone_char(text: str, i: int, toward: int) -> bool:
    """Whether text[i] continues a phone number: a digit, a bracket or plus, or a single
    separator with a digit on its far side (toward = -1 when growing left, +1 right)."""
    ch = text[i]
    if ch.isdigit() or ch in "()" or (ch == "+" and toward < 0):
        return True
    j = i + toward
    return ch in " -." and 0 <= j < len(text) and text[j].isdigit()


def snap_phone(span: Span, text: str) -> Span:
    """A model's phone span grown over the digit groups it missed and cut at the last digit.

    The model labels words: "082 490 1693-Office" comes back as "082 490" or "1693-Office".
    """
    a, b = span.start, span.end
    while a > 0 and _phone_char(text, a - 1, -1):
        a -= 1
    while b < len(text) and _phone_char(text, b, 1):
        b += 1
    while a < b and not (text[a].isdigit() or text[a] in "+("):
        a += 1
    while b > a and not (text[b - 1].isdigit() or (text[b - 1] == ")" and "(" in text[a:b])):
        b -= 1
    if sum(c.isdigit() for c in text[a:b]) == 0:
        return span
    return Span(a, b, span.entity, span.score, span.source)


def _snapped(span: Span, text: str) -> Span:
    """A model span fitted to its value: a phone's whole number, a name without a field label."""
    if span.source != "model":
        return span
    if span.entity == E.PHONE:
        return snap_phone(span, text)
    if span.entity == E.PERSON:
        return trim_name_tail(span, text)
    return span


def resolve(spans: Iterable[Span], text: str) -> list[Span]:
    """Union agreeing spans, drop overlaps by priority, then join fragments: sorted, disjoint."""
    spans = [_snapped(s, text) for s in spans if s.end > s.start]
    if not spans:
        return []
    return join_fragments(select_non_overlapping(union_same_entity(spans), text), text)
