"""Birth dates and company names in German, French, Spanish, Italian, Dutch and Polish.

The English rules (`lookback.py`) know "born" and "Ltd"; these know "geboren am", "née le",
"fecha de nacimiento", "nata il", "geboortedatum", "urodzona" and the month names of each
language, and the legal forms companies carry (GmbH, SARL, S.L., S.p.A., B.V., sp. z o.o.).
Every pattern has bounded repetition only, so each match attempt costs a bounded number of
steps (tests/privacy/test_regional_context.py holds them to the 50 ms per 100 KB rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from corral.privacy.detect import entities as E
from corral.privacy.detect.regional_rules import trie
from corral.privacy.types import Span

_BIRTH: dict[str, str] = {
    "de": r"geboren(?:\s{1,3}am)?|geb\.|geburtsdatum|geburtstag",
    "fr": r"n[ée]e?(?:\(e\))?\s{1,3}le|date\s{1,3}de\s{1,3}naissance",
    "es": r"nacid[oa]\s{1,3}el|fecha\s{1,3}de\s{1,3}nacimiento|f\.\s?nac\.",
    "it": r"nat[oa]\s{1,3}il|data\s{1,3}di\s{1,3}nascita",
    "nl": r"geboren(?:\s{1,3}op)?|geboortedatum",
    "pl": r"urodzon[ya](?:\s{1,3}dnia)?|ur\.|data\s{1,3}urodzenia",
}
_MONTHS: dict[str, str] = {
    "de": r"januar|jänner|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember",
    "fr": r"janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre",
    "es": "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre"
          "|diciembre",
    "it": r"gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre",
    "nl": r"januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december",
    "pl": "stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada"
          "|grudnia",
}  # fmt: skip
_NUMERIC_DATE = r"\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})"
# Legal forms, longest first where one is a prefix of another.
_LEGAL_FORMS: dict[str, str] = {
    "de": r"GmbH\s&\s?Co\.\s?KG|GmbH|gGmbH|AG|KG|OHG|e\.\s?K\.|UG(?:\s\(haftungsbeschränkt\))?",
    "fr": r"SARL|SAS|SASU|EURL|SNC|SA|SCI",
    "es": r"S\.L\.U\.|S\.L\.|S\.A\.U\.|S\.A\.|S\.Coop\.",
    "it": r"S\.r\.l\.s?|S\.p\.A\.|S\.n\.c\.|S\.a\.s\.",
    "nl": r"B\.V\.|N\.V\.|V\.O\.F\.|C\.V\.",
    "pl": r"sp\.\s?z\s?o\.\s?o\.|sp\.\s?j\.|sp\.\s?k\.|S\.A\.",
}
# One to four capitalised words (particles and "&" between them) in front of the legal form, read
# backwards from the form (as `lookback.py` does): a text of capitalised words with no form in it
# costs one scan for forms, not four words' worth of attempts at every word.
_PARTICLES_REVERSED = "|".join(w[::-1] for w in "de del des du di della la le van und et y e i &".split())
_ORG_HEAD_REVERSED = re.compile(
    # A word, reversed, taken whole (possessive) and kept when its first letter is a capital.
    rf"(?:[ \t]{{1,3}}(?:(?:{_PARTICLES_REVERSED})[ \t]{{1,3}})?"
    r"[\w'\u2019.-]{1,31}+(?<=[A-ZÀ-ÖØ-ÞĀ-Ž])){1,4}"
)
_ORG_REACH = 4 * 40


@lru_cache(maxsize=16)
def _patterns(languages: frozenset[str]) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    codes = sorted(languages & set(_BIRTH))
    if not codes:
        return None, None
    # As tries (one branch per letter): 72 month names tried one by one at every keyword cost
    # more than the rest of the scan.
    months = trie({m for c in codes for m in _MONTHS[c].split("|")})
    spelled = rf"\d{{1,2}}\.?\s{{1,3}}(?:de\s{{1,3}})?(?i:{months})(?:\s{{1,3}}de)?\s{{1,3}}\d{{4}}"
    date = rf"(?P<date>{_NUMERIC_DATE}|{spelled})"
    triggers = "|".join(_BIRTH[c] for c in codes)  # patterns, not words: kept as alternatives
    # The filler holds no digit, so taking all of it at once (possessive) finds the same date.
    birth = re.compile(rf"(?<![\w])(?i:{triggers})[^\n\d]{{0,30}}+{date}(?!\d)")
    forms = "|".join(_LEGAL_FORMS[c] for c in codes)
    company = re.compile(rf"(?<=[ \t])(?:{forms})(?![\w])")
    return birth, company


def find_regional_context(text: str, languages: frozenset[str]) -> Iterator[Span]:
    """DATE_OF_BIRTH after a birth keyword, ORGANIZATION before a legal form, per language."""
    birth, company = _patterns(frozenset(languages))
    if birth is None or company is None:
        return
    for m in birth.finditer(text):
        yield Span(m.start("date"), m.end("date"), E.DATE_OF_BIRTH, 0.9, "rule")
    reversed_text = text[::-1]
    n = len(text)
    for m in company.finditer(text):
        head = _ORG_HEAD_REVERSED.match(reversed_text, n - m.start(), min(n, n - m.start() + _ORG_REACH))
        if head is not None:
            yield Span(n - head.end(), m.end(), E.ORGANIZATION, 0.8, "rule")
