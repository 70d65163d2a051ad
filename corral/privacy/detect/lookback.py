"""Rules whose evidence sits before the match: found from the match backwards, in linear time.

"Born on 3 May 1990" and "Palantir Technologies" were single regexes with a lazy filler in
front of the part that decides (`born ... DATE`, `Capitalised ... Suffix`). On text full of
near-matches ("Aa " * 12000, "born " * 20000) every keyword rescanned the text after it: 19 s
for 36 KB. Here the deciding part is scanned once, left to right, with a pattern that starts
with a character class (the regex engine skips to candidates at C speed); the context before
each hit is then matched on the reversed text, within a fixed reach. Each character is looked
at a bounded number of times, so the cost is linear in the text whatever it holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_MONTHS = frozenset("jan feb mar apr may jun jul aug sep oct nov dec".split())
# A month name: character classes only (the engine skips and rejects them fastest), so it also
# admits "Jec"; `_month_ok` checks the three letters of the few that match.
_MONTH = r"[JjFfMmAaSsOoNnDd][AaEePpUuCcOo][NnBbRrYyLlGgPpTtVvCc][A-Za-z]{0,6}+\.?"
_YEAR_AFTER = r"(?:\s{1,4}+\d{1,2}(?:st|nd|rd|th)?)?,?\s{1,4}+\d{4}"
# 12/05/1990, 1990-05-12, 12 May 1990, 1st January, 1990 (all start with a digit) ...
_DATE_DIGIT = re.compile(
    r"\d(?:\d?+[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{3}-\d{2}-\d{2}"
    r"|\d?+(?:st|nd|rd|th)?+\s{1,4}+(?P<month>" + _MONTH + ")" + _YEAR_AFTER + ")"
)
# ... and May 12, 1990 / March 1990 (start with a month).
_DATE_MONTH = re.compile(_MONTH + _YEAR_AFTER)
# The date-of-birth keywords, reversed, then up to 30 characters of filler (no digit, no newline).
# Words may be joined by `_` or `-` as in data keys ("date_of_birth": "1975-07-14", birth-date).
_DOB_KEY_REVERSED = re.compile(
    r"[^\n\d]{0,30}?(?<![^\W_])(?i:nrob|etad[\s_-]{0,4}htrib|htrib[\s_-]{1,4}fo[\s_-]{1,4}etad"
    r"|\.?b\.?o\.?d|yadhtrib)(?![^\W_])"
)

_ORG_SUFFIX = re.compile(
    r"[ \t]{1,4}+(?:Inc|Incorporated|LLC|Ltd|Limited|PLC|GmbH|AG|S\.A|SAS|B\.?V|N\.?V|Corp|Corporation"
    r"|Company|Co|Group|Holdings|Technologies|Solutions|Consulting|Partners|Associates|Industries"
    r"|Enterprises|Laboratories|Labs|Bank|Investments|Insurance|Airlines|Pharmaceuticals|Ventures"
    r"|Foundation)\b\.?"
)
# Up to 9 capitalised words (or "&", "and", "of" between them) before the suffix, reversed.
_ORG_WORD_REVERSED = r"[\w&'\u2019-]{0,40}[A-Z]"
_ORG_HEAD_REVERSED = re.compile(
    rf"(?:(?:{_ORG_WORD_REVERSED}|&|dna|fo)[ \t]{{1,4}}+){{0,8}}{_ORG_WORD_REVERSED}(?!\w)"
)
_ORG_REACH = 9 * 45


def _month_ok(text: str, start: int) -> bool:
    return text[start : start + 3].lower() in _MONTHS


def dates(text: str) -> Iterator[tuple[int, int]]:
    """Every date of the forms a birth date is written in, left to right, non-overlapping."""
    found = [
        m.span()
        for m in _DATE_DIGIT.finditer(text)
        if m.start("month") < 0 or _month_ok(text, m.start("month"))
    ]
    found += [m.span() for m in _DATE_MONTH.finditer(text) if _month_ok(text, m.start())]
    found.sort()
    end = 0
    for a, b in found:
        if a >= end:
            end = b
            yield a, b


def dates_of_birth(text: str) -> Iterator[tuple[int, int]]:
    """Dates with "born", "date of birth", "DOB" or "birthday" at most 30 characters before."""
    reversed_text = text[::-1]
    n = len(text)
    for a, b in dates(text):
        if a and _DOB_KEY_REVERSED.match(reversed_text, n - a, min(n, n - a + 64)):
            yield a, b


def organizations(text: str) -> Iterator[tuple[int, int]]:
    """Capitalised words ending in a corporate suffix: "Davis & Sons Ltd", "Bank of Foo Group"."""
    reversed_text = text[::-1]
    n = len(text)
    previous_end = 0
    for m in _ORG_SUFFIX.finditer(text):
        start = m.start()
        low = max(previous_end, start - _ORG_REACH)
        head = _ORG_HEAD_REVERSED.match(reversed_text, n - start, n - low)
        if head is not None:
            previous_end = m.end()
            yield n - head.end(), m.end()
