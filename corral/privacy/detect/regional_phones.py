"""Phone numbers written in the national formats of DE, FR, ES, IT, NL and PL.

`rules.find_phones` runs libphonenumber's matcher for the US and catches `+CC` numbers;
"030 12345678", "06 12 34 56 78" or "612 345 678" need the region. Running the matcher once per
region would cost six scans of the text in pure Python, so this rule scans once:

1. one linear regex proposes runs of digit groups (2-12 digits each, at most `MAX_GROUPS`,
   separated by a space, `.`, `-` or `/`; an area code may be in parentheses); its first group
   decides how many digits must follow, so most junk ends inside the regex engine;
2. a run is taken whole or not at all: a run next to more digit groups ("556 556 556 556" in a
   table) is data, not a phone;
3. the run's digits are checked per region against the numbering plan: the first digit and the
   length (a national number starts with the trunk prefix 0 in DE, FR and NL, with 0 or 3 in IT,
   with 6-9 in ES and is nine digits in PL), then libphonenumber's own metadata patterns for the
   number types of that region;
4. a run that passes is confirmed with `phonenumbers.parse(digits, region)` and
   `is_valid_number` (cached); the first requested region that validates wins;
5. known look-alikes are dropped: dates, IPv4 addresses, money amounts, postcodes before a
   place name, IBAN and card fragments (4-4-4 groups, after "DE89 "), version numbers, numbers
   after a `+CC` prefix and numbers after an order, invoice, ticket, customer, account or ID
   label in the six languages.

Step 3 mirrors `is_valid_number`'s checks (possible lengths, type patterns) with precompiled
regexes, so near-misses never reach the slow parser: only valid numbers pay its ~70 us.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

from corral.privacy.detect.entities import PHONE
from corral.privacy.detect.national_ids import REFERENCE_LABELS, label_before, vocabulary
from corral.privacy.types import Span

SCORE = 0.9
REGIONS = frozenset({"DE", "FR", "ES", "IT", "NL", "PL"})
MAX_GROUPS = 5

# Per region: (shortest, longest) digit count as written nationally, the digits a national
# number may start with, and whether the first digit is a trunk prefix (dropped from the
# national significant number).
_PLAN: dict[str, tuple[int, int, str, bool]] = {
    "DE": (6, 14, "0", True),
    "FR": (10, 10, "0", True),
    "NL": (8, 11, "0", True),
    "IT": (6, 11, "03", False),
    "ES": (9, 9, "6789", False),
    "PL": (9, 9, "123456789", False),
}
_TYPES = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number", "voip",
    "pager", "uan", "voicemail",
)  # fmt: skip


def _plan_pattern(region: str) -> tuple[frozenset[int], re.Pattern[str]]:
    """The possible lengths and one pattern for every valid national significant number of
    `region`: the general pattern and any type's pattern, from libphonenumber's metadata (the
    per-type lengths are left to `is_valid_number`)."""
    md = PhoneMetadata.metadata_for_region(region)
    assert md is not None and md.general_desc is not None
    types = [
        desc.national_number_pattern
        for name in _TYPES
        if (desc := getattr(md, name, None)) is not None and desc.national_number_pattern
    ]
    general = md.general_desc.national_number_pattern
    pattern = re.compile(f"(?=(?:{general})$)(?:" + "|".join(f"(?:{t})" for t in types) + ")")
    return frozenset(md.general_desc.possible_length or ()), pattern


_PLAN_PATTERNS = {region: _plan_pattern(region) for region in _PLAN}


def _plan_ok(digits: str, region: str) -> bool:
    """libphonenumber's validity test for `region` from its metadata, without parsing: a cheap
    superset of `is_valid_number`, so near-misses never reach the parser."""
    nsn = digits[1:] if _PLAN[region][3] else digits
    lengths, pattern = _PLAN_PATTERNS[region]
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


@lru_cache(maxsize=4096)
def _valid(digits: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


@lru_cache(maxsize=64)
def _by_start(regions: frozenset[str]) -> dict[tuple[str, int], tuple[str, ...]]:
    """(first digit, digit count) -> the requested regions whose plan allows it."""
    table: dict[tuple[str, int], list[str]] = {}
    for region in sorted(regions & _PLAN.keys()):
        low, high, starts, _ = _PLAN[region]
        for first in starts:
            for n in range(low, high + 1):
                table.setdefault((first, n), []).append(region)
    return {k: tuple(v) for k, v in table.items()}


# --- patterns -----------------------------------------------------------------------------------

_SEP = r"(?:[ \t]?[./\-][ \t]?|[ \t]{1,2})"
# One scan. It starts with a character class and checks what precedes after it: the engine then
# skips to digits and parentheses in C instead of trying a look-behind at every position. The
# first group decides how much must follow, so most junk ends in C:
# - "(089)": an area code in parentheses;
# - after a trunk 0, at least 6 digits in groups of 2+ ("06 12 34", "030 123 4", "0301234"), and
#   not 00 (the international prefix);
# - without a trunk 0 (ES, PL, IT mobiles), a first group of 3+ digits, or of 2 and then 3
#   ("91 123 45 67"): runs of 2-digit groups ("12 34 56 78 90") are no such number.
_CANDIDATE = re.compile(
    (
        r"[(\d](?<![\w+.,/:\-()][(\d])"
        r"(?:(?<=\()\d{2,5}\)[ \t]?\d{2,12}"
        r"|(?<=0)(?!0)(?=\d{5}|\d{3,4}SEP\d\d|\d{1,2}SEP(?:\d{3}|\d\dSEP\d\d))\d{1,11}"
        r"|(?<=[1-9])(?:\d{2,11}|\d(?=SEP\d{3}(?!\d))))"
        r"(?:SEP\d{2,12}){0,MORE}(?![\w]|[.,/:\-]\d)"
    )
    .replace("SEP", _SEP)
    .replace("MORE", str(MAX_GROUPS - 1))
)
_GROUP = re.compile(r"\(\d+\)|\d+")
_DATE = re.compile(r"\d{1,2}([./\-])\d{1,2}\1\d{2,4}|\d{4}([./\-])\d{1,2}\2\d{1,2}")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_MONEY_AFTER = re.compile(
    r"[ \t]?(?:[€$£¥%]|(?:EUR|USD|GBP|PLN|CHF|zł|zl|[Ee]uros?|złotych|dollars?|km|kg|mg|ml|m²|Stück)\b)"
)
# Just before a number: a +CC prefix, an IBAN's first group, a currency, a version marker.
_BAD_BEFORE = re.compile(
    r"(?:\+[ \t]?\d{1,4}[ \t.\-]?(?:\(0\)[ \t]?)?|\b[A-Z]{2}\d{2}[ \t]"
    r"|(?:[€$£¥]|\b(?:EUR|USD|GBP|PLN|CHF|zł|zl|Fr\.))[ \t]?"
    r"|\b(?i:v|version|versione|versión|wersja|release|build)[ \t]?\.?[ \t]?)$"
)
# A US social security number ("536-22-1234"), a Dutch BSN as printed ("4243.03.383").
_ID_SHAPE = re.compile(r"\d{3}[- ]\d{2}[- ]\d{4}|\d{4}\.\d{2}\.\d{3}")
_COUNTING = "01234567890123456789"
_DIGIT_GROUP_BEFORE = re.compile(r"\d[ \t]{1,2}$")
_DIGIT_GROUP_AFTER = re.compile(r"[ \t]{1,2}\d")
_PL_POSTCODE = re.compile(r"(?<!\d)\d\d-\d{3}$")
_PLACE_AFTER = re.compile(r"[ \t]{1,3}[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]")
# The nearest label word before a number (same line, within `_LABEL_REACH`) decides: a phone
# word keeps it, an order, invoice, ticket, customer, account or ID word drops it. Generic words
# ("Nr.", "numéro") are neither: "Telefon-Nr." and "Rechnung Nr." are judged by their head.
_LABELS: dict[str, str] = {
    **dict.fromkeys(
        ("tel", "telefon", "telefonnummer", "telefono", "teléfono", "téléphone", "telephone", "telefoon",
         "telefoonnummer", "phone", "fax", "mobil", "mobile", "mobiel", "handy", "handynummer", "portable",
         "móvil", "movil", "cellulare", "cell", "komórka", "gsm", "whatsapp", "ruf", "rufnummer",
         "durchwahl", "anrufen", "erreichbar", "appel", "appelez", "appeler", "llamar", "llame", "llámame",
         "chiamare", "chiama", "chiamami", "bel", "bellen", "zadzwoń", "zadzwon", "hotline", "call", "ring",
         "reach"), "phone"),
    **dict.fromkeys((*REFERENCE_LABELS,
                     "klantnr", "bic", "compte", "cuenta", "conto", "vorgang", "aktenzeichen", "dossier",
                     "expediente", "pratica", "sprawa", "serial", "seriennummer", "batch", "version",
                     "id", "ssn", "steuerid", "idnr", "bsn", "pesel", "tva", "kvk", "regon", "krs",
                     "codice fiscale", "matricola", "pin", "puk", "plz", "postleitzahl", "code postal",
                     "código postal", "postcode", "kod pocztowy",), "bad"),
}  # fmt: skip
_LABELS_EXACT = {"NIP": "bad", "DNI": "bad", "NIE": "bad", "NIF": "bad", "NIR": "bad", "CAP": "bad"}
_VOCABULARY = vocabulary(_LABELS, _LABELS_EXACT)
_LABEL_REACH = 30


def _rejected_context(text: str, start: int, end: int) -> bool:
    if _BAD_BEFORE.search(text, max(0, start - 12), start) or _MONEY_AFTER.match(text, end, end + 12):
        return True
    return label_before(text, start, _LABELS, _LABELS_EXACT, _VOCABULARY, _LABEL_REACH) == "bad"


def _shape_rejected(segment: str, text: str, end: int) -> bool:
    if _DATE.fullmatch(segment) or _IPV4.fullmatch(segment) or _ID_SHAPE.fullmatch(segment):
        return True
    groups = _GROUP.findall(segment)
    if len(groups) >= 3 and sum(len(g) == 4 for g in groups) >= 3:
        return True  # 4-4-4(-4): a card or IBAN fragment, not a phone
    if "." in segment and any(len(g) == 1 for g in groups):
        return True  # 1.22.10
    if segment.count("/") > 1 or " - " in segment:
        return True  # "502/503/504", "128000 - 512": lists and arithmetic
    if segment[0] in "123456789" and (
        "/" in segment or (len(groups) > 1 and any(len(g) > 4 for g in groups))
    ):
        return True  # ES, PL and Italian mobiles group by 2-4 digits: "256-100000" is a range
    # A postcode before a place name: "10115 Berlin", "75008 Paris", "00-950 Warszawa".
    return (len(groups[-1]) == 5 or _PL_POSTCODE.search(segment) is not None) and bool(
        _PLACE_AFTER.match(text, end)
    )


def find_regional_phones(text: str, regions: frozenset[str] = REGIONS) -> Iterator[Span]:
    """PHONE spans (score 0.9) for numbers in the national formats of `regions` (any of DE,
    FR, ES, IT, NL, PL; others are ignored)."""
    table = _by_start(frozenset(regions))
    if not table:
        return
    for m in _CANDIDATE.finditer(text):
        raw = m.group()
        # Too few digits: 9 without a trunk 0 (ES, PL, IT mobiles); the pattern asks 6 after a 0.
        first = raw[0]
        if first == "(":
            if len(raw) - sum(map(raw.count, " \t./-()")) < 6:
                continue
        elif first != "0" and (len(raw) < 9 or len(raw) - sum(map(raw.count, " \t./-")) < 9):
            continue
        start, end = m.span()
        # A whole run of digit groups or nothing: a number cut from a longer run ("556 556 556 556"
        # in a table, "4711 030 1234567") is more often data than a phone.
        if _DIGIT_GROUP_BEFORE.search(text, max(0, start - 3), start) or _DIGIT_GROUP_AFTER.match(text, end):
            continue
        digits = raw
        for sep in " \t./-()":
            digits = digits.replace(sep, "")
        if digits[0] == "0" and (digits[1] == "0" or len(digits) < 7):
            continue  # 00 is the international call prefix; "082 490" is too short to call
        if (raw.isdigit() and digits in _COUNTING) or digits.count(digits[0]) == len(digits):
            continue  # "0123456789", "123456789", "999 999 999": placeholders
        for region in table.get((digits[0], len(digits)), ()):
            if _plan_ok(digits, region) and _valid(digits, region):
                break
        else:
            continue
        if not _shape_rejected(raw, text, end) and not _rejected_context(text, start, end):
            yield Span(start, end, PHONE, SCORE, "rule")
