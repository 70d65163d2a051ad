"""Known false positives: strings that look like identifiers of people but identify machines.

Hashes, UUIDs, git SHAs, timestamps, version strings and product codes trip both the regexes
(Luhn passes one random digit string in ten) and the models (which read any number near a name
as a phone or an ID). Each check looks at the span's text and, for a few, the words before it.
"""

from __future__ import annotations

import re

from corral.privacy.detect import entities as E
from corral.privacy.types import Span

UUID = re.compile(r"(?i)\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?")
# md5 (32), sha1 / git (40), sha256 (64), sha512 (128) and any other long hex digest.
HEX_DIGEST = re.compile(r"(?i)(?:0x)?[0-9a-f]{32,128}")
# Short git SHAs and hex literals: 7+ hex characters mixing digits and letters.
SHORT_HEX = re.compile(r"(?i)(?:0x)?(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}")
ISO_TIMESTAMP = re.compile(
    r"(?:19|20)\d{2}-?(?:0[1-9]|1[0-2])-?(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ]\d{2}:?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
CLOCK_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?[AaPp]\.?[Mm]\.?)?")
# Unix time in seconds or milliseconds, 2001-2033.
EPOCH = re.compile(r"1[0-9]{9}(?:[0-9]{3})?")
SEMVER = re.compile(
    r"(?i)v?\d+(?:\.\d+){1,3}(?:[-.]?(?:a|b|rc|dev|post|alpha|beta|pre)\.?\d*)*(?:\+[0-9a-z.]+)?"
)
# A North American number written with dots (617.555.0166): SEMVER's shape, but a phone when the
# phone rules found it (they check the area code and exchange).
NANP_DOTTED = re.compile(r"(?:\+?1\.)?\(?[2-9]\d{2}\)?\.[2-9]\d{2}\.\d{4}")
# SKU-4821-XL, ORD-2023-000123, INV00042, B07XJ8C8F5 (ASIN), PN 1234-567.
PRODUCT_ID = re.compile(r"(?i)(?:[A-Z]{2,6}[-_#]?\d{3,}(?:[-_][A-Z0-9]+)*|B0[0-9A-Z]{8})")
_ID_CONTEXT = re.compile(
    r"(?i)\b(?:order|sku|invoice|inv|ticket|ref(?:erence)?|part|model|serial|version|ver|build|release"
    r"|commit|sha|hash|digest|checksum|uuid|guid|id|issue|bug|pr|pull request|item|product|tracking|line"
    r"|port|pid|errno|code|rfc|pep|iso|isbn|doi|page|chapter|section)\b\W{0,3}(?:no\.?|number|#)?\W{0,3}$"
)
# Identifiers, calls, paths and markup that the models read as names in code and docstrings.
# camelCase, CapWords with a long first hump (DocTest, KeyError), acronym-led class names (IOBase,
# ABCMeta) and three-hump names are code; McDonald, MacKenzie, DeShawn, LaToya are people.
_CODE = re.compile(
    r"[_()\[\]{}<>=`\\|*/@$%^~]|[a-z]\.[a-z]|(?<![A-Za-z])[a-z]+[A-Z]|[A-Z](?!ac[A-Z])[a-z]{2,}[A-Z]"
    r"|[A-Z]{2,}[a-z]{2,}|(?:[A-Z][a-z]+){3,}|^[A-Z][a-z][A-Z]$"
)
_CODE_WORDS = frozenset(
    "none true false self cls def class return import lambda yield async await kwargs args str int float "
    "bytes dict list tuple set bool object type exception error warning iterator iterable callable optional "
    "union any path unicode ascii utf python todo xxx fixme note stdin stdout stderr".split()
)
_FREE_TEXT = frozenset({E.PERSON, E.ORGANIZATION, E.LOCATION, E.NRP, E.ADDRESS})


def looks_like_machine_id(s: str) -> bool:
    """A UUID, a digest or git SHA, a timestamp or clock time, epoch time, a version or product code."""
    return any(
        p.fullmatch(s)
        for p in (UUID, HEX_DIGEST, SHORT_HEX, ISO_TIMESTAMP, CLOCK_TIME, EPOCH, SEMVER, PRODUCT_ID)
    )


def looks_like_code(s: str) -> bool:
    """Snake_case, dotted.names, camelCase, calls, markup, or a Python keyword or type name."""
    if _CODE.search(s):
        return True
    return any(w.strip(".,:;'\"").lower() in _CODE_WORDS for w in s.split())


def in_code(text: str, start: int, end: int) -> bool:
    """Attribute access, calls and markup around a word: sys.stderr, len(x), `name`, _private."""
    before = text[start - 1] if start else ""
    after = text[end : end + 2]
    return (
        before in ("_", "`", "$", "@", "\\")
        or (before == "." and start > 1 and text[start - 2].isalnum())
        or after[:1] in ("(", "[", "_", "`", "=")
        or (after[:1] == "." and after[1:2].isalnum())
    )


def suppressed(span: Span, text: str) -> bool:
    """Whether a candidate span is one of the known false positives.

    Validated types and credentials (`entities.VALIDATED`) never are: their rule has already
    checked the structure, and a secret shaped like a machine identifier is still a secret.
    """
    if span.entity in E.VALIDATED:
        return False
    if span.entity == E.ID_NUMBER and span.source == "rule":
        return False  # a labelled account number (rules.find_account_numbers): 20050521 is no date
    s = text[span.start : span.end].strip()
    if not s:
        return True
    if span.entity == E.DATE_OF_BIRTH:
        # A date after "born" is a birth date; a full timestamp after it is a log line.
        return bool(re.search(r"\d{1,2}:\d{2}", s))
    if span.entity == E.URL:
        return False
    if span.entity == E.PHONE and NANP_DOTTED.fullmatch(s):
        return False  # 617.555.0166: a valid US number written with dots, not a version string
    if looks_like_machine_id(s):
        return True
    before = text[max(0, span.start - 24) : span.start]
    if span.entity in (E.PHONE, E.ID_NUMBER, E.US_SSN, E.AGE) and _ID_CONTEXT.search(before):
        return True
    if span.entity in _FREE_TEXT:
        # An address or company a rule assembled (street word, number, postcode; a legal form) is
        # not code, whatever its slashes and dots: "C/ Colón 14", "ul. Floriańska 22/4",
        # "Berliner Str. 5a", "Ottica Ligure S.r.l.", "Optyk Pomorze sp. z o.o.", "… GmbH".
        structured = span.entity in (E.ADDRESS, E.ORGANIZATION) and span.source == "rule"
        if not structured and (looks_like_code(s) or in_code(text, span.start, span.end)):
            return True
        # Names, places and groups start with a letter and are mostly letters. Address fragments
        # may be bare numbers (a zip code, a building number): `incomplete` judges the whole.
        letters = sum(c.isalpha() for c in s)
        if span.entity != E.ADDRESS and (letters < 2 or letters < len(s.replace(" ", "")) / 2):
            return True
        if span.entity in (E.PERSON, E.NRP, E.LOCATION) and not s[0].isalpha():
            return True
    return False


def incomplete(span: Span, text: str) -> bool:
    """An address of fewer than two letters (a lone number the model read as a zip code)."""
    return span.entity == E.ADDRESS and sum(c.isalpha() for c in text[span.start : span.end]) < 2


_NRP_ENDING = re.compile(r"(?i)(?:an|ese|sh|ch|ek|i|ic|er|ss|ot|ite|ist|at|im|u|ew|kh)s?$")
_NAMES = frozenset({E.PERSON, E.ORGANIZATION, E.LOCATION, E.NRP})
_WORDS = re.compile(r"[^\W\d_]{2,}")


_SENTENCE_START = re.compile(r"(?:^|[.!?:;>\n]\s*)[\"'(]?([^\W\d_]{2,})")


def is_casual(text: str) -> bool:
    """Typed without capitals ("we are proud saudis"): lowercase names are names here.

    Counts capitalised words that do not start a sentence; one in twenty still counts as casual.
    """
    words: list[str] = _WORDS.findall(text)
    if len(words) < 3 or sum(text.count(c) for c in "()[]{}=<>_`") > len(text) / 100:
        return False  # too short to tell, or code
    initial = len(_SENTENCE_START.findall(text))
    capitalised = sum(w[0].isupper() for w in words if w != "I") - initial
    return capitalised <= len(words) / 20


def _dictionary(word: str, common_words: frozenset[str]) -> bool:
    w = word.lower().strip(".,;:'\"\u2019")
    return w in common_words or (w.endswith("s") and w[:-1] in common_words) or w.endswith("ing")


def implausible(
    span: Span, text: str, casual: bool, corroborated: bool, common_words: frozenset[str]
) -> bool:
    """A model's name, organisation, place or group that is probably a word of technical prose.

    corroborated: the other model found the same entity here (then only the casing check applies).
    """
    s = text[span.start : span.end].strip()
    if span.entity in (E.PHONE, E.ID_NUMBER):
        return sum(c.isdigit() for c in s) < 6  # a house number or a zip code, not a phone
    if span.entity not in _NAMES:
        return False
    if s.islower() and not casual:
        return True  # lowercase "names" in capitalised text are identifiers: joe, stderr, snan
    if corroborated:
        return False
    words = s.split()
    if len(words) == 1 and (any(c.isdigit() for c in s) or (span.entity == E.ORGANIZATION and s.isupper())):
        return "." not in s  # IPv6, IMAP4, EOF, HTML (but U.N. is an organisation)
    if span.entity in (E.PERSON, E.ORGANIZATION) and all(_dictionary(w, common_words) for w in words):
        return True  # Convert, Mailbox, Gregorian ordinal, Returns HTML
    if span.entity == E.LOCATION and len(s) <= 3 and s.isupper():
        return True  # IO, MM (a state code next to an address is corroborated by the other model)
    # Nationalities, religions and parties have a few endings (Swedish, Greek, Thai, Muslim, Democrat).
    return span.entity == E.NRP and _NRP_ENDING.search(s) is None
