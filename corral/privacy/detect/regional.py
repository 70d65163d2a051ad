"""European street addresses and person names (de, fr, es, it, nl, pl): a regex proposes, a check decides.

    find_regional("Herr Dr. Müller wohnt in der Hauptstraße 5, 10115 Berlin", frozenset({"de"}))
    # -> PERSON "Müller", ADDRESS "Hauptstraße 5, 10115 Berlin"

Addresses: a street type (German and Dutch compounds ending in -straße/-straat, or a street word
before or after the name: "12 rue de la Paix", "Calle Mayor 5", "ul. Długa 10/12") with a house
number, an optional unit ("3º B", "int. 7", "m. 5") and an optional postcode and city, one span.
Names: the capitalised words after a title ("Frau", "Mme", "Sig.ra", "Pani"), a self-introduction
("je m'appelle"), a job role ("Sachbearbeiterin"), a gazetteer given name followed by a surname,
or on the line after a closing formula ("Mit freundlichen Grüßen"). German capitalises every
noun, so no rule trusts capitalisation alone: after a German title only the first word is taken
unless it is a known given name, and every name is cut at a stop word (articles, pronouns,
weekdays, months, department names) and dropped before a legal form ("Hans Müller GmbH").

Word lists are in `regional_data.py`. The patterns of a set of languages are built on first use
(about 0.25 s for all six) and cached per set, so languages nobody configures cost nothing. There
are seven scans: titles/introductions/closing formulas, roles and "je suis", given names, and four
address shapes (skipped when the text has no digit). Word lists are compiled as tries (one branch
per character, not per word); every pattern starts with a literal or a character class (the
engine skips to candidates at C speed), all repetition is bounded, runs of triggers ("Herr Herr
...", "Via Via ...") are consumed by one match instead of being re-read from each, and the
Python checks look at most a few dozen characters around a match: linear on any input
(tests/privacy/test_regional.py holds all six languages to 50 ms on 100 KB of worst cases).
Spans are at most ~300 characters, so the finder can run in `windows.windowed`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from corral.privacy.detect import entities as E
from corral.privacy.detect import regional_data as D
from corral.privacy.detect.regional_rules import (
    APOS,
    ARTICLES,
    DIGIT,
    ENGLISH_AFTER,
    LANGUAGES,
    LAST_WORD,
    PHRASE_END,
    SURNAME_END,
    YEAR,
    Rules,
    rules_for,
)
from corral.privacy.types import Span

__all__ = ["LANGUAGES", "find_regional"]


# --- addresses ----------------------------------------------------------------------------------


_WORD_REVERSED = re.compile(r"[^\W\d_.'\u2019-]?[\w.'\u2019-]{0,59}+")


def _word_before(reversed_text: str, end: int) -> int:
    """The start of the word (letters, hyphens, a final dot) that ends at `end`, at most 60 back,
    read on the reversed text (one regex call, not a loop over characters)."""
    n = len(reversed_text)
    m = _WORD_REVERSED.match(reversed_text, n - end)
    return end - (m.end() - m.start()) if m else end


def _address_ok(
    r: Rules, kind: str, text: str, m: re.Match[str], rev: list[str]
) -> tuple[int, float] | None:
    """(start, score) of a street-address candidate, or None when the checks reject it."""
    start = m.start()
    num = m.group("num")
    if num is None:
        return None  # a street word and a name, no number
    postal = m.group("postal") is not None
    if not postal and YEAR.match(num):
        return None  # "Plaza Mayor 2024", "Im Jahr 2020"
    score = 0.95 if postal else 0.9
    if kind == "compound":
        if not rev:
            rev.append(text[::-1])
        start = _word_before(rev[0], start)
        street = text[start : m.start()]
        if not street[:1].isupper():
            return None
        if street in r.street_words_de:  # "Berliner Straße 5", "Neue Straße 5"
            adjective = _word_before(rev[0], start - 1) if start and text[start - 1] == " " else start
            word = text[adjective : start - 1]
            if (
                adjective == start
                or word in r.stop
                or not (word.endswith("er") or word in D.STREET_ADJECTIVES_DE)
            ):
                return None
            start = adjective
        else:
            low = street.lower()
            if low in D.NOT_STREETS:
                return None  # "Parkplatz 5"
            if len(low) < 10 and len(low) - len(next((s for s in r.suffixes if low.endswith(s)), "")) < 2:
                return None  # "Weg 3", "Ring 2": the type alone
        if r.street_prefix:  # "Alte Landstraße", "Van Baerlestraat", "Burgemeester Van Reenensingel"
            for _ in range(2):
                if start < 2 or text[start - 1] not in " \t":
                    break
                head = text[max(0, start - 16) : start - 1]
                word = head[head.rfind(" ") + 1 :]
                if word not in r.street_prefix:
                    break
                start -= len(word) + 1
    elif kind == "prep":  # "Am Markt 3": no street word, so the phrase must end with the number
        if any(w in r.stop or w in D.NOT_STREET_NAMES_DE for w in m.group("pname").split()):
            return None
        if not postal and PHRASE_END.match(text, m.end()) is None:
            return None
        score = 0.9 if postal else 0.85
    elif kind == "fr":
        if start and (text[start - 1].isalnum() or text[start - 1] in ".,/-"):
            return None  # "1.12 rue", "A12 rue": part of another number
    elif kind == "first":
        sw = m.group("sw")
        sname = m.group("sname")
        words = sname.split()
        for i in range(len(words) - 1, -1, -1):  # "Via Aa Via Roma 10": the address starts at "Via Roma"
            if words[i] in r.street_words:
                start = m.start("sname") + sname.rfind(words[i])
                sw = words[i]
                words = words[i + 1 :]
                break
        if not words or any(w in r.stop for w in words):
            return None  # "Plaza Lunes", "ul. Maja" (weekdays, months)
        if sw in ("al.", "Al.") and text[max(0, start - 3) : start] == "et ":
            return None  # "Smith et al. Nature 2019"
        if sw in r.ambiguous and not postal:  # "nel corso Python 3", "sent via Slack 2"
            last = LAST_WORD.search(text, max(0, start - 16), start)
            if last is None or last.group(1).lower() not in D.ADDRESS_PREPOSITIONS:
                return None
        if not postal and ENGLISH_AFTER.match(text, m.end()):
            return None
    return start, score


def _addresses(r: Rules, text: str) -> list[tuple[int, int, float]]:
    """(start, end, score), sorted and non-overlapping."""
    found: list[tuple[int, int, float]] = []
    rev: list[str] = []  # the reversed text, made on first use
    for kind, pattern in r.addresses:
        for m in pattern.finditer(text):
            ok = _address_ok(r, kind, text, m, rev)
            if ok is not None:
                end = m.end()
                found.append((ok[0], end, ok[1]))
    if len(r.addresses) > 1:  # one span where two patterns agree ("An der Hauptstraße 5"): the longest
        found.sort(key=lambda f: (f[0], -f[1]))
        kept: list[tuple[int, int, float]] = []
        for f in found:
            if not kept or f[0] >= kept[-1][1]:
                kept.append(f)
        found = kept
    return found


# --- names --------------------------------------------------------------------------------------

_ELIDED = ("d'", "d\u2019", "l'", "l\u2019")


def _is_particle(word: str) -> bool:
    """ "von", "de", "'t"; not "d'Arc" (an elided particle written with its word)."""
    return not word[0].isupper() and not (word[:2] in _ELIDED and len(word) > 2)


def _article_before(text: str, start: int) -> bool:
    """Whether the word before `start` (after one space) is a German article: "eine Frau"."""
    if start < 2 or text[start - 1] != " ":
        return False
    head = text[max(0, start - 10) : start - 1]
    return head[head.rfind(" ") + 1 :].lower() in ARTICLES


def _is_given(r: Rules, word: str) -> bool:
    return word in r.given or ("-" in word and all(part in r.given for part in word.split("-")))


def _trim(r: Rules, text: str, start: int, end: int, german: bool, least: int, most: int) -> tuple[int, int]:
    """(end of the part of a name match that is a name or -1, where to search for the next name).

    The name is cut at a stop word (where a title such as "Señor" may start the next name);
    after a German trigger a word follows only a given name, a particle or a foreign surname
    ending (German nouns are capitalised: "Frau Schmidt Bescheid geben"); it needs `least`
    capitalised words and is never followed by a legal form ("Hans Müller GmbH")."""
    name = text[start:end]
    if " " not in name and "\t" not in name:  # one word: the common case
        if (name[2:] if name[:2] in _ELIDED else name) in r.stop:
            return -1, end
        if least > 1 or _is_particle(name) or r.legal_after.match(text, end):
            return -1, end
        return end, end
    resume = end
    words = name.split()
    n = len(words)
    stop = r.stop
    kept_end = -1  # the end of the last capitalised word kept
    capitals = 0
    after_particle = False
    previous = ""
    pos = 0
    for i in range(n):
        w = words[i]
        a = name.find(w, pos)
        pos = a + len(w)
        if not w[0].isupper():
            if len(w) > 2 and w[1] in APOS:
                w = w[2:]  # "d'Arc"
            else:
                after_particle = True  # "von der Leyen", "de la Fuente"
                continue
        elif i + 1 < n and w.lower() in r.particles:
            after_particle = True  # after a title, "De Jong" and "Van der Berg"
            continue
        if w in stop:
            if capitals:
                resume = start + a  # "García y Señor Martínez": the stop word may start a name
            break
        if (
            german
            and capitals
            and not after_particle
            and not _is_given(r, previous)
            and not SURNAME_END.search(w)
        ):
            break
        kept_end = start + pos
        capitals += 1
        after_particle = False
        previous = w
        if capitals == most:
            break
    if capitals < least or kept_end < 0 or r.legal_after.match(text, kept_end):
        return -1, resume
    return kept_end, resume


def _names(r: Rules, text: str) -> list[tuple[int, int, int, float]]:
    """(start, priority, end, score) of every name found; may overlap."""
    out: list[tuple[int, int, int, float]] = []
    search = r.people.search
    pos = 0
    while (m := search(text, pos)) is not None:
        pos = m.end()
        a, b = m.span("line")
        if a >= 0:  # a signature: the whole line is a name of 2-3 words
            if m.group("word") in r.closings and _trim(r, text, a, b, False, 2, 3)[0] == b:
                out.append((a, 0, b, 0.9))
            else:
                pos = a  # the line may still hold a name
            continue
        a, b = m.span("name")
        if a < 0:
            continue
        trigger = r.triggers.get(m.group("word"))
        if trigger is None:
            continue  # a closing formula not followed by a signature line
        end, pos = _trim(r, text, a, b, trigger.german, 1, 3)
        if end < 0:
            continue
        t = m.start()
        if trigger.noun and _article_before(text, t):
            if not _is_given(r, text[a:end].split()[0]):
                continue  # "eine Frau Mitte 40": the noun, not a title
        out.append((a, 1, end, trigger.score))
    for m in r.pairs.finditer(text):
        a, b = m.span("name")
        end = _trim(r, text, a, b, r.triggers[m.group("word")].german, 2, 3)[0]
        if end >= 0:
            out.append((a, 1, end, 0.85))
    for m in r.gazetteer.finditer(text):
        a, b = m.span("name")
        end = _trim(r, text, a, b, r.german, 1, 2)[0]
        if end >= 0:
            out.append((m.start(), 2, end, 0.85))
    return out


# --- the finder ---------------------------------------------------------------------------------


def find_regional(text: str, languages: frozenset[str] | set[str]) -> Iterator[Span]:
    """ADDRESS and PERSON spans of the European rules for `languages` (any of "de", "fr", "es",
    "it", "nl", "pl"; others are ignored), non-overlapping, addresses first, each sorted by start.
    A name inside an address ("Via Giuseppe Verdi 5") is not reported; of overlapping names the
    first (signature, then title/introduction/role, then gazetteer) is."""
    langs = LANGUAGES.intersection(languages)
    if not langs or not text:
        return
    r = rules_for(frozenset(langs))
    # Every address has a house number: text without a digit skips four scans.
    addresses = _addresses(r, text) if DIGIT.search(text) else []
    for a, b, score in addresses:
        yield Span(a, b, E.ADDRESS, score, "rule")
    names = _names(r, text)
    names.sort()
    starts = [a for a, _, _ in addresses]
    i, n = 0, len(addresses)
    last_end = 0
    for a, _, b, score in names:
        if a < last_end:
            continue
        while i < n and addresses[i][1] <= a:
            i += 1  # addresses ending before this name: no overlap with it or later ones
        if i < n and starts[i] < b:
            continue
        last_end = b
        yield Span(a, b, E.PERSON, score, "rule")
