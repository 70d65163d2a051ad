"""Identifiers with real check digits for the multilingual PII set: IBANs and each language's
national ID (Steuer-ID, NIR, DNI/NIE, codice fiscale, BSN, PESEL).

Generators make valid values for the ``[[LABEL:@name|args]]`` markup of the templates;
validators let ``build.py`` assert that every NATIONAL_ID and IBAN span it writes passes its
check. Kept apart from template compiling: this module is the domain knowledge (one algorithm
per country), ``build.py`` is the data set's layout (sections, offsets, splits).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable

# ---------------------------------------------------------------- check-digit algorithms


def _digits(rng: random.Random, n: int) -> str:
    """Return ``n`` random decimal digits."""
    return "".join(str(rng.randrange(10)) for _ in range(n))


def iban_check(iban: str) -> bool:
    """ISO 13616 / ISO 7064 MOD 97-10: rearranged IBAN as a number is 1 mod 97."""
    s = iban.replace(" ", "").upper()
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


IBAN_LENGTHS = {"DE": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18, "PL": 28}


def make_iban(country: str, bban: str) -> str:
    """Return the compact IBAN for ``country`` and ``bban`` with MOD 97-10 check digits."""
    number = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(number) % 97
    iban = f"{country}{check:02d}{bban}"
    assert len(iban) == IBAN_LENGTHS[country], iban
    return iban


def fr_rib_key(bank: str, branch: str, account: str) -> str:
    """French RIB key: 97 - ((89*bank + 15*branch + 3*account) mod 97), digits-only accounts."""
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"


def es_control_digit(ten: str) -> str:
    """One Spanish CCC control digit over ten digits (weights 1,2,4,8,5,10,9,7,3,6)."""
    weights = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)
    d = 11 - sum(w * int(c) for w, c in zip(weights, ten, strict=True)) % 11
    return {11: "0", 10: "1"}.get(d, str(d))


CF_ODD = dict(zip("0123456789", (1, 0, 5, 7, 9, 13, 15, 17, 19, 21), strict=True))
CF_ODD.update(
    zip(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
        strict=True,
    )
)
CF_EVEN = {c: int(c) for c in "0123456789"} | {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def it_check_char(body: str) -> str:
    """Check character of the codice fiscale (also the CIN of an Italian BBAN)."""
    total = sum(CF_ODD[c] if i % 2 == 0 else CF_EVEN[c] for i, c in enumerate(body))
    return chr(ord("A") + total % 26)


def make_iban_for(rng: random.Random, country: str) -> str:
    """Generate a compact IBAN with plausible national structure and valid checks."""
    if country == "DE":
        blz = rng.choice(["10010010", "20050550", "37040044", "50010517", "70150000", "43060967"])
        return make_iban("DE", blz + _digits(rng, 10))
    if country == "FR":
        bank, branch = rng.choice([("30004", "00819"), ("20041", "01005"), ("10278", "06080")])
        account = _digits(rng, 11)
        return make_iban("FR", bank + branch + account + fr_rib_key(bank, branch, account))
    if country == "ES":
        bank, branch = rng.choice([("2100", "0418"), ("0049", "1500"), ("0182", "2370"), ("2085", "9252")])
        account = _digits(rng, 10)
        dc = es_control_digit("00" + bank + branch) + es_control_digit(account)
        return make_iban("ES", bank + branch + dc + account)
    if country == "IT":
        abi, cab = rng.choice([("03069", "09606"), ("02008", "01664"), ("05034", "11701")])
        account = _digits(rng, 12)
        return make_iban("IT", it_check_char(abi + cab + account) + abi + cab + account)
    if country == "NL":
        bank = rng.choice(["ABNA", "RABO", "SNSB", "TRIO", "ASNB", "KNAB"])
        while True:  # account numbers satisfy the Dutch 11-proof (elfproef)
            account = str(rng.randrange(1, 10)) + _digits(rng, 9)
            if sum((10 - i) * int(c) for i, c in enumerate(account)) % 11 == 0:
                return make_iban("NL", bank + account)
    if country == "PL":
        sort = rng.choice(["1020", "1140", "1090", "1240", "1050"]) + _digits(rng, 3)
        weights = (3, 9, 7, 1, 3, 9, 7)
        sort += str((10 - sum(w * int(c) for w, c in zip(weights, sort, strict=True)) % 10) % 10)
        return make_iban("PL", sort + _digits(rng, 16))
    raise ValueError(country)


def group4(s: str) -> str:
    """Print a compact string in groups of four characters."""
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4))


def steuerid_check_digit(first10: str) -> int:
    """ISO 7064 MOD 11,10 check digit of the German Steuer-ID."""
    product = 10
    for c in first10:
        total = (int(c) + product) % 10
        if total == 0:
            total = 10
        product = (total * 2) % 11
    check = 11 - product
    return 0 if check == 10 else check


def steuerid_valid(s: str) -> bool:
    """Validate a German Steuerliche Identifikationsnummer (structure and check digit)."""
    s = s.replace(" ", "")
    if len(s) != 11 or not s.isdigit() or s[0] == "0":
        return False
    counts = Counter(s[:10])
    multi = [d for d, n in counts.items() if n > 1]
    if len(multi) != 1 or counts[multi[0]] not in (2, 3):
        return False
    if counts[multi[0]] == 3 and multi[0] * 3 in s[:10]:
        return False  # a digit appearing three times must not do so in three adjacent places
    return steuerid_check_digit(s[:10]) == int(s[10])


def make_steuerid(rng: random.Random) -> str:
    """Generate a valid Steuer-ID: one digit twice (or thrice, not adjacent), the rest once."""
    while True:
        digits = list("0123456789")
        rng.shuffle(digits)
        times = rng.choice((2, 2, 3))
        kept = digits[: 11 - times]  # distinct digits; the first one is repeated
        body = kept + [kept[0]] * (times - 1)
        rng.shuffle(body)
        first10 = "".join(body)
        candidate = first10 + str(steuerid_check_digit(first10))
        if steuerid_valid(candidate):
            return candidate


def nir_key(first13: str) -> int:
    """French NIR key: 97 - (13-digit number mod 97)."""
    return 97 - int(first13) % 97


def nir_valid(s: str) -> bool:
    """Validate a French NIR (numéro de sécurité sociale) with its key, mainland digits only."""
    s = s.replace(" ", "")
    if len(s) != 15 or not s.isdigit() or s[0] not in "12" or not 1 <= int(s[3:5]) <= 12:
        return False
    return nir_key(s[:13]) == int(s[13:])


def make_nir(rng: random.Random, sex: str, yymm: str, dept: str) -> str:
    """Generate a NIR for sex 1/2, birth year+month ``yymm`` and département ``dept``."""
    commune = f"{rng.randrange(1, 400):03d}"
    order = f"{rng.randrange(1, 1000):03d}"
    first13 = sex + yymm + dept + commune + order
    return first13 + f"{nir_key(first13):02d}"


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_valid(s: str) -> bool:
    """Validate a Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter)."""
    s = s.replace("-", "").replace(" ", "").upper()
    if len(s) != 9:
        return False
    body = s[:8]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    return body.isdigit() and DNI_LETTERS[int(body) % 23] == s[8]


def make_dni(rng: random.Random) -> str:
    """Generate a valid DNI."""
    n = rng.randrange(10_000_000, 80_000_000)
    return f"{n:08d}{DNI_LETTERS[n % 23]}"


def make_nie(rng: random.Random) -> str:
    """Generate a valid NIE."""
    prefix = rng.choice("XYZ")
    n = _digits(rng, 7)
    return f"{prefix}{n}{DNI_LETTERS[int(str('XYZ'.index(prefix)) + n) % 23]}"


CF_MONTHS = "ABCDEHLMPRST"


def _letters(name: str) -> str:
    """Upper-case ASCII letters of a name (accents, spaces and apostrophes removed)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.upper() if c.isalpha())


def _cf_part(name: str, first_name: bool) -> str:
    """Three-letter code of a surname or given name for the codice fiscale."""
    letters = _letters(name)
    cons = [c for c in letters if c not in "AEIOU"]
    vows = [c for c in letters if c in "AEIOU"]
    if first_name and len(cons) >= 4:
        return cons[0] + cons[2] + cons[3]
    return ("".join(cons + vows) + "XXX")[:3]


def make_cf(surname: str, name: str, date: str, sex: str, belfiore: str) -> str:
    """Build an Italian codice fiscale; ``date`` is YYYY-MM-DD, ``sex`` M/F."""
    year, month, day = date.split("-")
    dd = int(day) + (40 if sex == "F" else 0)
    body = (
        _cf_part(surname, False)
        + _cf_part(name, True)
        + year[2:]
        + CF_MONTHS[int(month) - 1]
        + f"{dd:02d}"
        + belfiore
    )
    return body + it_check_char(body)


def cf_valid(s: str) -> bool:
    """Validate the structure and check character of a codice fiscale."""
    return (
        bool(re.fullmatch(r"[A-Z]{6}\d{2}[A-EHLMPRST]\d{2}[A-Z]\d{3}[A-Z]", s))
        and it_check_char(s[:15]) == s[15]
    )


def bsn_valid(s: str) -> bool:
    """Dutch BSN 11-proof: 9*d1 + 8*d2 + ... + 2*d8 - d9 is divisible by 11."""
    s = s.replace(".", "").replace(" ", "")
    if len(s) != 9 or not s.isdigit():
        return False
    total = sum((9 - i) * int(c) for i, c in enumerate(s[:8])) - int(s[8])
    return total % 11 == 0 and int(s) > 0


def make_bsn(rng: random.Random) -> str:
    """Generate a valid BSN."""
    while True:
        first8 = str(rng.randrange(1, 7)) + _digits(rng, 7)
        last = sum((9 - i) * int(c) for i, c in enumerate(first8)) % 11
        if last < 10:
            return first8 + str(last)


PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def pesel_valid(s: str) -> bool:
    """Validate a Polish PESEL: check digit and a real date with the century month offset."""
    if len(s) != 11 or not s.isdigit():
        return False
    check = (10 - sum(w * int(c) for w, c in zip(PESEL_WEIGHTS, s[:10], strict=True)) % 10) % 10
    month = int(s[2:4])
    return check == int(s[10]) and month % 20 in range(1, 13) and 1 <= int(s[4:6]) <= 31


def make_pesel(rng: random.Random, date: str, sex: str) -> str:
    """Build a PESEL for birth ``date`` (YYYY-MM-DD) and ``sex`` M/F."""
    year, month, day = (int(x) for x in date.split("-"))
    offset = {18: 80, 19: 0, 20: 20, 21: 40, 22: 60}[year // 100]
    serial = _digits(rng, 3)
    sex_digit = rng.choice("13579" if sex == "M" else "02468")
    first10 = f"{year % 100:02d}{month + offset:02d}{day:02d}{serial}{sex_digit}"
    check = (10 - sum(w * int(c) for w, c in zip(PESEL_WEIGHTS, first10, strict=True)) % 10) % 10
    return first10 + str(check)


NATIONAL_ID_CHECKS: dict[str, Callable[[str], bool]] = {
    "de": steuerid_valid,
    "fr": nir_valid,
    "es": dni_valid,
    "it": cf_valid,
    "nl": bsn_valid,
    "pl": pesel_valid,
}


def national_id_valid(lang: str, value: str) -> bool:
    """True when ``value`` passes the check of ``lang``'s national identifier."""
    compact = value.replace(" ", "").replace(".", "").replace("-", "")
    return NATIONAL_ID_CHECKS[lang](compact)


# ---------------------------------------------------------------- generators used by @markup


def _fmt_steuerid(s: str, fmt: str) -> str:
    """Format a Steuer-ID compact or in the printed ``12 345 678 901`` grouping."""
    return f"{s[:2]} {s[2:5]} {s[5:8]} {s[8:]}" if fmt == "spaced" else s


def _fmt_nir(s: str, fmt: str) -> str:
    """Format a NIR compact or as ``1 85 03 75 116 238 44``."""
    if fmt == "spaced":
        return " ".join((s[0], s[1:3], s[3:5], s[5:7], s[7:10], s[10:13], s[13:]))
    return s


def _fmt_bsn(s: str, fmt: str) -> str:
    """Format a BSN compact or dotted ``1234.56.789``."""
    return f"{s[:4]}.{s[4:6]}.{s[6:]}" if fmt == "dotted" else s


def _fmt_dni(s: str, fmt: str) -> str:
    """Format a DNI/NIE compact or with a hyphen before the letter."""
    return f"{s[:-1]}-{s[-1]}" if fmt == "hyphen" else s


def _fmt_iban(s: str, fmt: str) -> str:
    """Format an IBAN compact or grouped in fours."""
    return s if fmt == "compact" else group4(s)


Generator = Callable[[random.Random, list[str]], str]

GENERATORS: dict[str, Generator] = {
    "steuerid": lambda rng, a: _fmt_steuerid(make_steuerid(rng), a[0] if a else ""),
    "nir": lambda rng, a: _fmt_nir(make_nir(rng, a[0], a[1], a[2]), a[3] if len(a) > 3 else ""),
    "dni": lambda rng, a: _fmt_dni(make_dni(rng), a[0] if a else ""),
    "nie": lambda rng, a: _fmt_dni(make_nie(rng), a[0] if a else ""),
    "cf": lambda rng, a: make_cf(a[0], a[1], a[2], a[3], a[4]),
    "bsn": lambda rng, a: _fmt_bsn(make_bsn(rng), a[0] if a else ""),
    "pesel": lambda rng, a: make_pesel(rng, a[0], a[1]),
    "iban": lambda rng, a: _fmt_iban(make_iban_for(rng, a[0]), a[1] if len(a) > 1 else ""),
}
