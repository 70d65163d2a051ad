"""Structured identifiers: a regex proposes, a validator (checksum, library, context) decides.

A regex alone flags every 16-digit order number as a card; the validators are what keep the
false-positive rate low enough to run on every prompt.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator

import phonenumbers

from corral.core.secrets import find_credentials, find_private_key_blocks
from corral.privacy.detect import entities as E
from corral.privacy.detect.accounts import find_account_numbers
from corral.privacy.detect.address_blocks import find_streets
from corral.privacy.detect.intervals import Disjoint
from corral.privacy.detect.lookback import dates_of_birth, organizations
from corral.privacy.detect.name_lists import find_attributive_names, find_emailed_names, find_listed_names
from corral.privacy.detect.windows import windowed
from corral.privacy.types import Span

# --- validators --------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """The Luhn mod-10 check every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Issuer prefixes (IIN ranges) of the card networks; a Luhn-valid number outside them is far more
# often an order or account number than a card.
_CARD_PREFIX = re.compile(
    r"4|5[0-9]|2(?:22[1-9]|2[3-9]|[3-6]|7[01]|720)|3[0-9]|6\d|0604|1800|2131"
)


def card_ok(digits: str) -> bool:
    """A plausible payment card: 12-19 digits, a network prefix, Luhn-valid, not one digit repeated."""
    return (
        12 <= len(digits) <= 19
        and _CARD_PREFIX.match(digits) is not None
        and len(set(digits)) > 1
        and luhn_ok(digits)
    )


# ISO 13616 lengths by country (the SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_ok(compact: str) -> bool:
    """Registered country, the registry's length, and the ISO 7064 mod-97 check digits."""
    iban = compact.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit() or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# Numbers the SSA never issues or that are famous advertising samples.
_SSN_SAMPLES = frozenset({"078051120", "219099999", "123456789", "457555462"})


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000; no known sample."""
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and area + group + serial not in _SSN_SAMPLES
    )


# RFC 5737 and RFC 3849 reserve these for examples: manuals and docstrings use nothing else.
_DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def ip_ok(candidate: str) -> bool:
    """A real address that can point at a person's device (not loopback, unspecified or a mask)."""
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or (ip.version == 4 and ip.is_reserved):
        return False
    if any(ip in net for net in _DOCUMENTATION_NETS if net.version == ip.version):
        return False
    # Netmasks (255.255.255.0, 255.0.0.0) and the like are configuration, not addresses.
    return not (ip.version == 4 and candidate.startswith("255."))


def shannon_entropy(s: str) -> float:
    """Bits per character; random keys score about 4.5-6, words and identifiers about 2.5-3.5."""
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


# --- patterns -----------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,10}"
    r"[A-Za-z]{2,24}(?![\w-])"
)
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){11,18}\d(?![\d-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_BARE = re.compile(
    r"(?i)\b(?:ssn|social security(?: number| no\.?)?)\b\W{0,4}(?:is\s+)?(\d{3})(\d{2})(\d{4})(?!\d)"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_URL = re.compile(r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>\"'`]{1,2000}+")
_URL_CREDS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://([^\s:/@]{1,128}:[^\s/@]{1,256})@[\w.-]{1,253}+")
# Keyword alternatives start with a character class, not under a global (?i): the engine then
# rejects most of them in one step (case-insensitive literals are tried one by one, 3x slower).
_SECRET_ASSIGNED = re.compile(
    r"\b(?:[Aa](?i:pi[_-]?key|pikey|ccess[_-]?key|uth[_-]?token)|[Ss](?i:ecret(?:[_-]?key)?)"
    r"|[Cc](?i:lient[_-]?secret)|[Tt](?i:oken)|[Pp](?i:assword|asswd|wd)|[Bb](?i:earer))\b[\"']?(?:\s{0,16}+(?:[:=]|=>)|\s)\s{0,16}+[\"']?([^\s\"',;]{8,256})"
)
_BARE_TOKEN = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9_\-+/]{24,256}+={0,2}(?![\w/+=-])")
_AGE = re.compile(
    r"\b(?:(\d{1,3})[- ](?i:years?|yrs?)[- ](?i:old)\b"
    r"|[Aa](?i:ge[ds]?)\s{0,4}+(?i:of|:|is|=)?\s{0,4}+(\d{1,3})\b"
    r"(?!\s{0,4}+(?i:%|percent|days|hours|minutes|seconds|ms|bytes))"
    r"|[Tt](?i:urn(?:ed|s|ing)?)\s{1,4}+(\d{1,3})\b"
    r"(?=\s{0,4}+(?i:years|yrs|this|next|on|in|today|tomorrow|[.!,]|$)))"
)
# The parts of an address the models miss: "Suite 680", "Apt. 5B", "P.O. Box 287", and US
# military addresses ("PSC 6293, Box 8158", "APO AE 09012").
_ADDRESS_UNIT = re.compile(
    r"\b(?:(?:[Ss](?i:uite|te\.)|[Aa](?i:pt\.?|partment)|[Uu](?i:nit)|[Ff](?i:lat)"
    r"|[Pp](?i:\.?\s?o\.?\s?box|ostbox|sc)|[Bb](?i:ox)|[Cc](?i:mr))"
    r"[ \t]?#?[ \t]?\d{1,5}[A-Za-z]?\b(?:,?[ \t]{1,4}+(?i:box)[ \t]{1,4}+\d{1,5}\b)?"
    r"|[AaFfDd](?i:po)[ \t]{1,4}+[Aa][AaEePp][ \t]{1,4}+\d{5}\b)"
)
# "Mrs. Barbara Yudina", "Dr. Holinka": an honorific makes the capitalised words after it a name.
_TITLED_NAME = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?[ \t]{1,4}+"
    r"((?!(?:Apt|Suite|Unit|Box|Street|St|Road|The)\b)[A-Z][\w'\u2019-]{1,60}+"
    r"(?:[ \t]{1,4}+(?!(?:Apt|Suite|Unit|Box|Street|St|Road)\b)[A-Z](?:[\w'\u2019-]{1,60}+|\.)){0,2})"
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:[Pp](?i:hone)|[Tt](?i:el(?:ephone)?|ext(?: me)?(?: at| on)?)|[Mm](?i:obile)"
    r"|[Cc](?i:ell(?:phone)?|all(?: me)?(?: at| on)?)|[Ff](?i:ax)|[Dd](?i:esk)|[Ll](?i:andline)"
    r"|[Ww](?i:hatsapp)|[Rr](?i:each (?:me|us|him|her) (?:at|on)))\b"
    r"[ \t]{0,4}+(?i:number|no\.?|#)?[ \t]{0,4}+[:.]?\s{0,3}+"
    r"(\+?\(?\d[\d ().\-/]{4,22}\d(?:\s?(?i:x|ext\.?)\s?\d{1,6})?)"
)

# --- the rules ----------------------------------------------------------------------------------

Finder = Callable[[str], Iterator[Span]]


def _span(m: re.Match[str], entity: str, score: float = 1.0, group: int = 0) -> Span:
    return Span(m.start(group), m.end(group), entity, score, "rule")


# The `user:` of a URL's userinfo: what follows up to "@host" is a password, not an email's local part.
_USERINFO_BEFORE = re.compile(r"://[^\s:/@]{0,128}:$")


def find_emails(text: str) -> Iterator[Span]:
    for m in _EMAIL.finditer(text):
        local = m.group().split("@", 1)[0]
        a = m.start()
        if a and text[a - 1] == ":" and _USERINFO_BEFORE.search(text, max(0, a - 140), a):
            continue  # postgres://app:s3cr3t@db.internal is URL credentials, not s3cr3t@db.internal
        if not local.endswith(".") and ".." not in m.group():
            yield _span(m, E.EMAIL)


def find_cards(text: str) -> Iterator[Span]:
    for m in _CARD.finditer(text):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        # Separators, when present, must group the digits as cards print them (4-4-4-4, 4-6-5).
        groups = re.split(r"[ -]", raw)
        if len(groups) > 1 and (len(groups[0]) != 4 or not all(4 <= len(g) <= 6 for g in groups[1:-1])):
            continue
        if card_ok(digits):
            yield _span(m, E.CREDIT_CARD)


def find_ibans(text: str) -> Iterator[Span]:
    for m in _IBAN.finditer(text):
        raw = m.group()
        compact = raw.replace(" ", "")
        # Cut trailing words the optional-space pattern swallowed until the registry length fits.
        n = IBAN_LENGTHS.get(compact[:2].upper())
        if n is None or len(compact) < n:
            continue
        if len(compact) > n:
            end, seen = m.start(), 0
            for i, ch in enumerate(raw):
                seen += ch != " "
                if seen == n:
                    end = m.start() + i + 1
                    break
            if end < len(text) and text[end].isalnum():
                continue
            compact = compact[:n]
            if iban_ok(compact):
                yield Span(m.start(), end, E.IBAN, 1.0, "rule")
        elif iban_ok(compact):
            yield _span(m, E.IBAN)


def find_ssns(text: str) -> Iterator[Span]:
    for m in _SSN.finditer(text):
        if ssn_ok(m.group(1), m.group(3), m.group(4)):
            yield _span(m, E.US_SSN)
    for m in _SSN_BARE.finditer(text):
        if ssn_ok(m.group(1), m.group(2), m.group(3)):
            yield Span(m.start(1), m.end(3), E.US_SSN, 1.0, "rule")


def find_ips(text: str) -> Iterator[Span]:
    for m in _IPV4.finditer(text):
        if ip_ok(m.group()):
            yield _span(m, E.IP_ADDRESS)
    for m in _IPV6.finditer(text):
        s = m.group()
        # "::" alone, C++ scopes and clock times are not addresses: ask for 3+ groups, hex digits.
        if s.count(":") >= 3 and sum(c.isalnum() for c in s) >= 6 and ip_ok(s):
            yield _span(m, E.IP_ADDRESS)


def find_urls(text: str) -> Iterator[Span]:
    for m in _URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?)]}>'\"":
            end -= 1
        if end - m.start() > 8:
            yield Span(m.start(), end, E.URL, 0.6, "rule")


def find_url_credentials(text: str) -> Iterator[Span]:
    for m in _URL_CREDS.finditer(text):
        yield _span(m, E.URL_CREDENTIALS, group=1)


def find_secrets(text: str) -> Iterator[Span]:
    """The credential table (`secrets.py`), PEM private keys, assigned secrets and bare
    random-looking tokens."""
    return _secrets(text, keys=True)


def find_short_secrets(text: str) -> Iterator[Span]:
    """`find_secrets` without PEM blocks (the part that fits a window)."""
    return _secrets(text, keys=False)


def _secrets(text: str, *, keys: bool) -> Iterator[Span]:
    # Key blocks first: their base64 body may hold anything, a table format included.
    found = list(find_private_keys(text)) if keys else []
    found += [Span(a, b, E.SECRET, score, "rule") for a, b, score, _ in find_credentials(text)]
    for m in _SECRET_ASSIGNED.finditer(text):
        value = m.group(1)
        # "password: hunter2x9" counts; "token = self.next()" and "token_type" do not.
        if (
            any(c.isdigit() for c in value)
            and shannon_entropy(value) >= 3.0
            and not re.search(r"[()\[\]{}<>]", value)
        ):
            found.append(_span(m, E.SECRET, 0.9, group=1))
    for m in _BARE_TOKEN.finditer(text):
        s = m.group()
        classes = sum(bool(re.search(p, s)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
        # A long random-looking token with all three character classes: an API-key-like value.
        if classes == 3 and shannon_entropy(s) >= 4.0 and not re.search(r"[a-z]{5,}", s):
            found.append(_span(m, E.SECRET, 0.7))
    taken = Disjoint()
    for span in found:  # the most specific pattern first; the others only where it found nothing
        if not taken.overlaps(span.start, span.end):
            taken.add(span.start, span.end)
            yield span


def find_private_keys(text: str) -> Iterator[Span]:
    """PEM, OpenSSH and PGP private keys, on the whole text (a block is longer than a window's
    overlap); `secrets.find_private_key_blocks` bounds each search call itself."""
    for a, b in find_private_key_blocks(text):
        yield Span(a, b, E.SECRET, 1.0, "rule")


def find_phones(text: str) -> Iterator[Span]:
    seen: set[tuple[int, int]] = set()
    for match in phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.VALID):
        seen.add((match.start, match.end))
        yield Span(match.start, match.end, E.PHONE, 0.9, "rule")
    # A labelled number ("Phone: 0378 3549890"): any country's format, judged by digit count.
    for m in _PHONE_CONTEXT.finditer(text):
        start, end = m.span(1)
        digits = sum(c.isdigit() for c in m.group(1).split("x")[0])
        if 7 <= digits <= 15 and (start, end) not in seen:
            yield Span(start, end, E.PHONE, 0.85, "rule")


def find_ages(text: str) -> Iterator[Span]:
    for m in _AGE.finditer(text):
        group = next(i for i in (1, 2, 3) if m.group(i) is not None)
        if 0 < int(m.group(group)) < 125:
            yield _span(m, E.AGE, 0.8, group=group)


def find_dates_of_birth(text: str) -> Iterator[Span]:
    for a, b in dates_of_birth(text):
        yield Span(a, b, E.DATE_OF_BIRTH, 0.9, "rule")


def find_address_units(text: str) -> Iterator[Span]:
    for m in _ADDRESS_UNIT.finditer(text):
        yield _span(m, E.ADDRESS, 0.5)
    yield from find_streets(text)


def find_organizations(text: str) -> Iterator[Span]:
    for a, b in organizations(text):
        yield Span(a, b, E.ORGANIZATION, 0.7, "rule")


def find_titled_names(text: str) -> Iterator[Span]:
    for m in _TITLED_NAME.finditer(text):
        yield _span(m, E.PERSON, 0.8, group=1)
    yield from find_listed_names(text)
    yield from find_attributive_names(text)
    yield from find_emailed_names(text)


RULES: dict[str, Finder] = {
    E.EMAIL: find_emails,
    E.CREDIT_CARD: find_cards,
    E.IBAN: find_ibans,
    E.US_SSN: find_ssns,
    E.IP_ADDRESS: find_ips,
    E.URL: find_urls,
    E.URL_CREDENTIALS: find_url_credentials,
    E.SECRET: find_secrets,
    E.PHONE: find_phones,
    E.ID_NUMBER: find_account_numbers,
    E.AGE: find_ages,
    E.DATE_OF_BIRTH: find_dates_of_birth,
    E.ADDRESS: find_address_units,
    E.ORGANIZATION: find_organizations,
    E.PERSON: find_titled_names,
}
# How `run_rules` runs them: in windows, but PEM blocks (longer than a window's overlap) on
# the whole text, where `find_private_keys` bounds each search call itself.
_WINDOWED: dict[str, Finder] = {**RULES, E.SECRET: find_short_secrets}
_WHOLE_TEXT: dict[str, Finder] = {E.SECRET: find_private_keys}


def run_rules(text: str, entities: frozenset[str] | set[str]) -> list[Span]:
    """Every rule span for the requested entities, unsorted and possibly overlapping.

    Linear on any input (test_detect_adversarial.py: 100 KB of each rule's worst cases in 50 ms)."""
    out: list[Span] = []
    for entity, finder in _WINDOWED.items():
        if entity in entities:
            out.extend(windowed(finder, text))
    for entity, finder in _WHOLE_TEXT.items():
        if entity in entities:
            out.extend(finder(text))
    return out
