"""The check-digit rules of European national identifiers, each from its official definition.

Sources are in `national_ids.FORMATS`; the finder that applies them is `national_ids.find_national_ids`.
"""

from __future__ import annotations

import re
from datetime import date
from operator import mul


def steuer_id_ok(number: str) -> bool:
    """German Steuerliche Identifikationsnummer (section 139b AO; StIdV).

    11 digits, the first not 0. Of the first ten, exactly one digit occurs twice or three
    times (three times not in three adjacent positions), so one or two digits are missing.
    The 11th is the ISO/IEC 7064 MOD 11,10 check digit of the first ten."""
    if len(number) != 11 or not number.isdigit() or number[0] == "0":
        return False
    head = number[:10]
    distinct = len(set(head))
    if distinct == 8:  # one digit three times (not adjacent), not two digits twice
        triple = next(d for d in set(head) if head.count(d) > 1)
        if head.count(triple) != 3 or triple * 3 in head:
            return False
    elif distinct != 9:  # one digit exactly twice
        return False
    product = 10
    for ch in head:
        total = (ord(ch) - 48 + product) % 10 or 10
        product = total * 2 % 11
    return (11 - product) % 10 == ord(number[10]) - 48


def _compact(s: str) -> str:
    return s.replace(" ", "").replace(".", "").replace("-", "").upper()


def nir_ok(nir: str) -> bool:
    """French NIR (numéro d'inscription au répertoire, the social-security number), INSEE.

    Sex 1/2 (3/4 foreign-born pending registration, 7/8 temporary numbers), year, month (01-12;
    20 and 30-42, 50-99 for incomplete civil-status records), département (01-99, 2A/2B for
    Corsica; 97x/98x overseas, 99 born abroad), commune or country, order (not 000), then the
    key = 97 - (first 13 digits mod 97), computed with 2A read as 19 and 2B as 18.
    Separators (spaces, dots) are ignored."""
    s = _compact(nir)
    if len(s) != 15 or s[0] not in "123478" or not s[1:5].isdigit() or not s[7:].isdigit():
        return False
    month = int(s[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    dept = s[5:7]
    if dept == "2A":
        body = s[:5] + "19" + s[7:13]
    elif dept == "2B":
        body = s[:5] + "18" + s[7:13]
    elif dept.isdigit() and dept != "00":
        body = s[:13]
    else:
        return False
    if s[10:13] == "000":
        return False
    key = int(s[13:])
    return 1 <= key <= 97 and key == 97 - int(body) % 97


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(dni: str) -> bool:
    """Spanish DNI/NIF: 8 digits and the letter of (number mod 23) (Real Decreto 1553/2005, art. 11).
    Dots, spaces and hyphens are ignored ("12.345.678-Z")."""
    s = _compact(dni)
    return len(s) == 9 and s[:8].isdigit() and s[8] == DNI_LETTERS[int(s[:8]) % 23]


def nie_ok(nie: str) -> bool:
    """Spanish NIE: X, Y or Z (read as 0, 1, 2), 7 digits, and the DNI check letter of the 8 digits."""
    s = _compact(nie)
    if len(s) != 9 or s[0] not in "XYZ" or not s[1:8].isdigit():
        return False
    return s[8] == DNI_LETTERS[int(str("XYZ".index(s[0])) + s[1:8]) % 23]


# Decreto Ministeriale 23 dicembre 1976: values of the characters in odd (1st, 3rd, ...) and even
# positions; a digit counts as the letter of the same index (0 as A, 1 as B, ...).
_CF_ODD = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23)
_CF_MONTH_DAYS = dict(zip("ABCDEHLMPRST", (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), strict=True))
_OMOCODIA = str.maketrans("LMNPQRSTUV", "0123456789")  # letters that replace digits (omocodia)
_CF_SHAPE = re.compile(r"[A-Z]{6}[0-9LMNP-V]{2}[ABCDEHLMPRST][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z]")


CF_EVEN_VALUE = {ch: i % 26 for i, ch in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")}
CF_EVEN_VALUE.update({str(d): d for d in range(10)})
CF_ODD_VALUE = {ch: _CF_ODD[v] for ch, v in CF_EVEN_VALUE.items()}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def codice_fiscale_ok(cf: str) -> bool:
    """Italian codice fiscale of a person (DM 23 dicembre 1976): surname and name letters, year,
    month letter, day (+40 for women), birthplace code, check letter. The digits of year, day
    and birthplace may be replaced by L-V (omocodia)."""
    s = cf.upper()
    return len(s) == 16 and _CF_SHAPE.fullmatch(s) is not None and cf_check_ok(s)


def cf_check_ok(s: str) -> bool:
    """Day and check letter of an upper-case string of the codice fiscale's shape."""
    day = int(s[9:11].translate(_OMOCODIA))
    if day > 40:
        day -= 40
    if not 1 <= day <= _CF_MONTH_DAYS[s[8]]:
        return False
    total = sum(map(CF_ODD_VALUE.__getitem__, s[0:15:2])) + sum(map(CF_EVEN_VALUE.__getitem__, s[1:15:2]))
    return s[15] == chr(65 + total % 26)


_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)  # weights sum to 43: 48 * 43 removes the ASCII offsets


def bsn_ok(number: str) -> bool:
    """Dutch burgerservicenummer: 9 digits (8 with a leading zero dropped) passing the 11-proof,
    weights 9..2 and -1 for the last digit (Wet algemene bepalingen burgerservicenummer)."""
    if len(number) == 8:
        number = "0" + number
    if len(number) != 9 or not number.isdigit() or number == "000000000":
        return False
    total: int = sum(map(mul, _BSN_WEIGHTS, number.encode())) - 48 * 43
    return total % 11 == 0


_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
# Month offset -> century: 81-92 for 1800-1899, 01-12 for 1900s, 21-32 for 2000s, 41-52, 61-72.
_PESEL_CENTURY = {0: 1900, 20: 2000, 40: 2100, 60: 2200, 80: 1800}


def pesel_ok(number: str) -> bool:
    """Polish PESEL: yymmdd with the century in the month (+80, +0, +20, +40, +60), serial and
    sex digit, check digit (10 - weighted sum mod 10) mod 10 with weights 1,3,7,9,1,3,7,9,1,3."""
    if len(number) != 11 or not number.isdigit():
        return False
    offset_month = int(number[2:4])
    offset = offset_month // 20 * 20
    month = offset_month - offset
    if not 1 <= month <= 12:
        return False
    try:
        date(_PESEL_CENTURY[offset] + int(number[:2]), month, int(number[4:6]))
    except ValueError:
        return False
    total: int = sum(map(mul, _PESEL_WEIGHTS, number.encode())) - 48 * 44  # the weights sum to 44
    return (10 - total % 10) % 10 == ord(number[10]) - 48


_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def nip_ok(number: str) -> bool:
    """Polish NIP (tax number): 10 digits, weights 6,5,7,2,3,4,5,6,7, sum mod 11 is the last digit
    (a sum of 10 mod 11 is never issued). Hyphens are ignored ("123-456-32-18")."""
    s = number.replace("-", "").replace(" ", "")
    if len(s) != 10 or not s.isdigit() or s[0] == "0":
        return False
    total: int = sum(map(mul, _NIP_WEIGHTS, s.encode())) - 48 * 45  # the weights sum to 45
    check = total % 11
    return check != 10 and check == ord(s[9]) - 48


_ID_CARD_ALPHABET = frozenset("CFGHJKLMNPRTVWXYZ0123456789")
_ICAO_VALUE = {ch: int(ch, 36) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}  # A=10 ... Z=35


def ausweis_ok(serial: str) -> bool:
    """German identity card (Personalausweis, since 2010) serial: 9 characters from
    C F G H J K L M N P R T V W X Y Z 0-9, the first a letter, and the ICAO 9303 check digit
    (weights 7, 3, 1; A=10 ... Z=35) as 10th character, as in the machine-readable zone."""
    s = serial.upper()
    if len(s) != 10 or not s[9].isdigit() or not s[0].isalpha() or not set(s[:9]) <= _ID_CARD_ALPHABET:
        return False
    total: int = sum(map(mul, (7, 3, 1, 7, 3, 1, 7, 3, 1), map(_ICAO_VALUE.__getitem__, s[:9])))
    return total % 10 == int(s[9])
