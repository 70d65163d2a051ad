"""European national identification numbers: a regex proposes, the official check decides.

Two kinds of format, scored differently:

- Strong formats carry enough structure that a random string almost never passes: the Italian
  codice fiscale (letters, a month letter, a day range and a check letter), the Spanish DNI/NIE
  (digits and a check letter, mod 23) and the French NIR (sex, month, département and a mod-97
  key). They are reported without a label at 0.95, and at 1.0 when a label for them is near.
- Weak formats are bare digit strings with one check digit, which 1 random number in 10-11
  passes: the German Steuer-ID, the Dutch BSN, the Polish PESEL and NIP, the German ID-card
  serial. They are reported (at 1.0) only after a label for that identifier (or a generic
  "national ID", "tax ID", "TIN" ...) within `LABEL_REACH` characters before the number, on
  the same line. A PESEL is not reported without a label either: its date part is valid for
  about 18% of random 11-digit numbers, so with the check digit 1.8% of all order, account and
  tracking numbers of that length would pass.

The nearest label word before a number decides: after "order", "Bestellung", "commande",
"pedido", "ordine", "bestelling", "zamówienie", "invoice", "IBAN", "Tel." and the like nothing
is reported, strong formats included. Every pattern is linear (bounded quantifiers, no nested
unbounded repetition); labels are looked for in a fixed window before each candidate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from corral.privacy.detect.entities import NATIONAL_ID
from corral.privacy.detect.national_id_checks import (
    ALPHABET,
    CF_EVEN_VALUE,
    CF_ODD_VALUE,
    DNI_LETTERS,
    ausweis_ok,
    bsn_ok,
    cf_check_ok,
    nip_ok,
    nir_ok,
    pesel_ok,
    steuer_id_ok,
)
from corral.privacy.types import Span

LABEL_REACH = 40  # characters before a number in which its label must start (same line)

STRONG_SCORE = 0.95
LABELLED_SCORE = 1.0
UNCHECKED_SCORE = 0.9  # a 9-character German ID-card serial without its check digit, after a label


# --- the documentation table --------------------------------------------------------------------


class Format(NamedTuple):
    name: str
    country: str
    pattern: str
    check: str
    label_needed: bool
    source: str


FORMATS: tuple[Format, ...] = (
    Format(
        "Steuerliche Identifikationsnummer (Steuer-ID)", "DE",
        "11 digits, compact or `12 345 678 901`; first digit not 0",
        "ISO/IEC 7064 MOD 11,10 check digit; exactly one of the first ten digits occurs twice or "
        "three times (three times not adjacent)", True,
        "§ 139b Abgabenordnung, https://www.gesetze-im-internet.de/ao_1977/__139b.html; "
        "Steueridentifikationsnummerverordnung, https://www.gesetze-im-internet.de/stidv/; "
        "MOD 11,10 as in BGBl. 1993 I S. 736 (ZMDV Anlage 3)",
    ),
    Format(
        "Personalausweis serial", "DE",
        "9 characters of `CFGHJKLMNPRTVWXYZ0-9` (first a letter) + check digit; 9 without it",
        "ICAO 9303 check digit, weights 7,3,1 (A=10 ... Z=35); without the digit: label only "
        "(score 0.9)", True,
        "ICAO Doc 9303 Part 3 section 4.9, "
        "https://www.icao.int/publications/pages/publication.aspx?docnum=9303; "
        "Personalausweisverordnung",
    ),
    Format(
        "NIR (numéro de sécurité sociale)", "FR",
        "15 characters, compact or `1 85 03 75 116 238 44`: sex 1/2/3/4/7/8, yy, mm, "
        "département (2A/2B), commune, order, key",
        "month 01-12, 20-42 or 50-99; département not 00; order not 000; key = 97 - (13 digits "
        "mod 97), 2A read as 19, 2B as 18", False,
        "INSEE, NIR definition, https://www.insee.fr/fr/metadonnees/definition/c1409; "
        "Décret n° 82-103 du 22 janvier 1982 (RNIPP)",
    ),
    Format(
        "DNI / NIF", "ES",
        "8 digits (or `12.345.678`) + letter, optionally `-` or space before the letter",
        "letter = `TRWAGMYFPDXBNJZSQVHLCKE`[number mod 23]", False,
        "Real Decreto 1553/2005, art. 11; Ministerio del Interior, \"Cálculo del dígito de control "
        "del NIF/NIE\", https://www.interior.gob.es/opencms/es/servicios-al-ciudadano/tramites-y-gestiones/"
        "dni/calculo-del-digito-de-control-del-nif-nie/",
    ),
    Format(
        "NIE", "ES", "X/Y/Z + 7 digits + letter (hyphens or spaces allowed)",
        "X/Y/Z read as 0/1/2, then the DNI letter", False,
        "Ministerio del Interior, https://www.interior.gob.es/opencms/es/servicios-al-ciudadano/"
        "tramites-y-gestiones/dni/calculo-del-digito-de-control-del-nif-nie/",
    ),
    Format(
        "Codice fiscale", "IT",
        "16 characters: 6 letters, yy, month letter `ABCDEHLMPRST`, day 01-31/41-71, letter + 3 "
        "digits, check letter; digits may be L-V (omocodia)",
        "day within the month; check letter = (odd-position table + even-position values) mod 26",
        False,
        "Decreto Ministeriale 23 dicembre 1976 (GU n. 345, 29.12.1976); Agenzia delle Entrate, "
        "https://www.agenziaentrate.gov.it/portale/web/guest/schede/istanze/richiesta-ts_cf/"
        "informazioni-codificazione-pf",
    ),
    Format(
        "Burgerservicenummer (BSN)", "NL",
        "9 digits, compact or `123 456 782`, `1234.56.782`",
        "11-proof: weights 9..2 and -1, sum mod 11 = 0", True,
        "Wet algemene bepalingen burgerservicenummer; Logius, \"Burgerservicenummer (BSN) 11-proef\", "
        "https://www.logius.nl/domeinen/toegang/burgerservicenummer",
    ),
    Format(
        "PESEL", "PL", "11 digits",
        "yymmdd a real date with the century in the month (+80/+0/+20/+40/+60); check digit "
        "(10 - sum mod 10) mod 10, weights 1,3,7,9,1,3,7,9,1,3", True,
        "Ustawa z dnia 24 września 2010 r. o ewidencji ludności, art. 15; "
        "https://www.gov.pl/web/gov/czym-jest-numer-pesel",
    ),
    Format(
        "NIP (tax number)", "PL", "10 digits, compact or `123-456-32-18`, `123-45-67-819`",
        "weights 6,5,7,2,3,4,5,6,7, sum mod 11 = last digit (10 never issued)", True,
        "Rozporządzenie Ministra Finansów z dnia 21 grudnia 1995 r. (Dz.U. 1995 nr 155 poz. 798); "
        "https://www.podatki.gov.pl/",
    ),
)  # fmt: skip


# --- labels -------------------------------------------------------------------------------------

# Label words and word pairs (lower case; "Steuer-ID" reads as "steuer id", "C.F." as "c f") and
# the identifier they name. `gen` (a national or tax ID in general) counts for every format;
# `neg` (orders, invoices, accounts, phones, ...) says the number after it is something else.
# Words that make the number after them a reference, not an identity: order, invoice, ticket, account
# and tracking numbers, IBANs, phone labels, product codes (shared with `regional_phones.py`).
REFERENCE_LABELS: tuple[str, ...] = (
    "order", "orders", "bestellung", "bestellnummer", "bestellnr", "auftrag", "auftragsnummer",
    "commande", "pedido", "ordine", "bestelling", "bestelnummer", "zamówienie", "zamówienia",
    "zamowienie", "invoice", "rechnung", "rechnungsnummer", "facture", "factura", "fattura", "factuur",
    "faktura", "ticket", "tracking", "sendungsnummer", "kundennummer", "customer", "klantnummer", "iban",
    "account", "konto", "kontonummer", "rekening", "ref", "référence", "reference", "referencia",
    "riferimento", "referentie", "transaction", "transaktion", "ean", "isbn", "sku", "article",
    "artikel", "siret", "siren", "vat", "iva", "ustidnr", "steuernummer",
)
_LABELS: dict[str, str] = {
    **dict.fromkeys(
        ("steuerid", "steueridnr", "steueridentifikationsnummer", "identifikationsnummer", "idnr",
         "steuer id", "steuer idnr", "steuer identifikationsnummer", "id nr"),
        "de"),
    **dict.fromkeys(
        ("ausweis", "ausweisnummer", "ausweisnr", "personalausweis", "personalausweisnummer",
         "dokumentennummer", "ausweis nr", "id card", "identity card"), "deid"),
    **dict.fromkeys(
        ("bsn", "burgerservicenummer", "sofinummer", "sofinr", "burger servicenummer", "sofi nummer",
         "sofi nr", "citizen service"), "nl"),
    "pesel": "pl",
    **dict.fromkeys(("identidad", "documento nacional"), "es"),
    **dict.fromkeys(("insee", "sécu", "sécurité sociale", "securite sociale", "n° ss", "no ss"), "fr"),
    **dict.fromkeys(("codicefiscale", "codice fiscale", "c f", "cod fisc"), "it"),
    **dict.fromkeys(
        ("tax id", "national id", "id number", "id no", "identity number", "identification number",
         "personal number", "tax number", "identificatienummer", "identity no"), "gen"),
    **dict.fromkeys((*REFERENCE_LABELS, "tel", "phone", "telefon", "téléphone", "telefono", "teléfono",
                     "telefoon", "mobile", "handy", "partita iva", "ust idnr"), "neg"),
}  # fmt: skip
# Upper-case abbreviations that are ordinary words in lower case ("nie", "tin", "nip").
_LABELS_EXACT = {
    "TIN": "gen",
    "NIP": "nip",
    "DNI": "es",
    "NIE": "es",
    "NIF": "es",
    "NIR": "fr",
    "CF": "it",
}
# Words are runs of letters: ASCII non-letters and common quotes and dashes become spaces
# (`str.translate` and `split` run in C, five times faster here than a word regex).
_NON_LETTERS = {i: " " for i in range(128) if not chr(i).isalpha()} | dict.fromkeys(
    map(ord, "\u00ab\u00bb\u2013\u2014\u2018\u2019\u201c\u201d\u201e\u00b7\u2022"), " "
)


def vocabulary(labels: dict[str, str], exact: dict[str, str]) -> frozenset[str]:
    """Every lower-case word of a label table: a window without one of them has no label."""
    return frozenset(w for key in [*labels, *(k.lower() for k in exact)] for w in key.split())


_VOCABULARY = vocabulary(_LABELS, _LABELS_EXACT)


def label_before(
    text: str,
    start: int,
    labels: dict[str, str],
    exact: dict[str, str],
    vocab: frozenset[str],
    reach: int = LABEL_REACH,
) -> str | None:
    """The class of the nearest label (a word or word pair of `labels`, lower case, or an exact
    word of `exact`; `vocab` holds their words) in the `reach` characters before `start`, on
    the same line."""
    low = max(0, start - reach)
    newline = text.rfind("\n", low, start)
    if newline >= 0:
        low = newline + 1
    window = text[low:start]
    # A new sentence ("Rechnung 0815. Mon numéro: ...") starts a new context; "Nr. 123" does not.
    for end_mark in (". ", "! ", "? "):
        p = window.rfind(end_mark)
        if p > 0 and window[p + 2 : p + 3].isupper() and len(window[:p].rsplit(None, 1)[-1]) >= 4:
            window = window[p + 2 :]
    words = window.translate(_NON_LETTERS).split()
    lowered = " ".join(words).lower().split()
    if len(lowered) != len(words):  # a letter whose lower case is two letters, or a space
        lowered = [w.lower() for w in words]
    if vocab.isdisjoint(lowered):
        return None
    for i in range(len(words) - 1, -1, -1):
        lower = lowered[i]
        if lower not in vocab:
            continue
        found = exact.get(words[i])
        if found:
            return found
        if i:
            found = labels.get(lowered[i - 1] + " " + lower)
            if found:
                return found
        found = labels.get(lower)
        if found:
            return found
    return None


def _label(text: str, start: int) -> str | None:
    return label_before(text, start, _LABELS, _LABELS_EXACT, _VOCABULARY)


# --- patterns -----------------------------------------------------------------------------------

# Two scans: one for the formats that start with a digit, one for those that start with a letter.
# Each pattern starts with a character class and checks what precedes it after that character,
# so the engine skips to candidate characters in C instead of trying look-behinds everywhere.
# Alternatives are tried in order: a NIR or DNI before a bare number.
_FROM_DIGIT = re.compile(
    r"\d(?<![\w+\-/@.,]\d)(?<!\d[ .,:/\-]\d)(?:"
    # NIR: sex, yy, mm, département (2A/2B) + commune, order, key; one separator throughout.
    r"(?<=[1-478])(?P<nir>(?P<ns>[ .]?)\d\d(?P=ns)\d\d(?P=ns)"
    r"(?:(?:\d\d|2[ABab])(?P=ns)\d{3}|\d{3}(?P=ns)\d\d)(?P=ns)\d{3}(?P=ns)\d\d)(?![\w\-/]|[ .,]\d)"
    # DNI: 8 digits ("12.345.678" too), a letter, optionally after "-" or a space.
    r"|(?P<dni>(?:\d{7}|\d?\.\d{3}\.\d{3})(?P<ds>[ -]?)[A-Za-z])(?![\w\-/])"
    # The weak formats' bare numbers, in the groupings they are printed with.
    r"|(?P<num>\d{8,10}|\d \d{3} \d{3} \d{3}|\d{2}(?P<bs>[ .])\d{3}(?P=bs)\d{3}"
    r"|\d{3}(?P<bs2>[ .])\d{2}(?P=bs2)\d{3}"
    r"|\d{2}-\d{3}-\d{2}-\d{2}|\d{2}-\d{2}-\d{2}-\d{3})(?![\w\-/@])(?![ .,:/]\d)"
    r")"
)
_FROM_LETTER = re.compile(
    r"[A-Za-z](?<![\w+\-/.,][A-Za-z])(?:"
    # NIE: X/Y/Z, 7 digits, letter.
    r"(?<=[XYZxyz])(?P<nie>(?P<es>[ -]?)\d{7}(?P<es2>[ -]?)[A-Za-z])(?![\w\-/])"
    # Codice fiscale (case-insensitive; omocodia letters L-V for digits).
    r"|(?P<cf>(?i:[a-z]{5}[0-9lmnp-v]{2}[abcdehlmprst][0-9lmnp-v]{2}[a-z][0-9lmnp-v]{3}[a-z]))(?![A-Za-z0-9])"
    # German ID-card serial, with or without its check digit.
    r"|(?<=[CFGHJKLMNPRTVWXYZ])(?P<card>[CFGHJKLMNPRTVWXYZ0-9]{8}\d?)(?![\w\-/])"
    r")"
)

_SENTENCE_END = re.compile(r"[\n.!?;]")
_NIE_PREFIX = {"X": 0, "Y": 10_000_000, "Z": 20_000_000, "x": 0, "y": 10_000_000, "z": 20_000_000}


def _from_digit(text: str) -> Iterator[Span]:
    # The last labelled weak number: its label also covers the next number of the same format in
    # the same sentence ("Het BSN van mijn man is 403490467 en dat van mij 318468967").
    last_end = -LABEL_REACH - 1
    last_kinds: tuple[str | None, ...] = ()
    for m in _FROM_DIGIT.finditer(text):
        kind = m.lastgroup
        start = m.start()
        if kind == "num":
            raw = m.group()
            digits = raw if raw.isdigit() else raw.replace(" ", "").replace(".", "").replace("-", "")
            if digits.count(digits[0]) == len(digits):
                continue
            # The check first (a fast function), the label only for the 1 in 10 numbers that pass it.
            n = len(digits)
            if n == 9:
                passed: tuple[str, ...] = ("nl",) if bsn_ok(digits) else ()
            elif n == 10:
                passed = ("nip",) if nip_ok(digits) else ()
            else:
                passed = ("de",) if steuer_id_ok(digits) else ()
                if pesel_ok(digits):
                    passed += ("pl",)
            if not passed:
                continue
            label = _label(text, start)
            if label in (*passed, "gen") or (
                label is None
                and start - last_end <= LABEL_REACH
                and not set(passed).isdisjoint(last_kinds)
                and not _SENTENCE_END.search(text, last_end, start)
            ):
                last_end, last_kinds = m.end(), ((label,) if label in passed else passed)
                yield Span(start, m.end(), NATIONAL_ID, LABELLED_SCORE, "rule")
            continue
        if kind == "dni":
            raw = m.group()
            letter = raw[-1]
            # "12345678 a" is a number and a word; a space before the letter asks for a capital.
            if m.group("ds") == " " and not letter.isupper():
                continue
            if DNI_LETTERS[int(raw[:-1].rstrip(" -").replace(".", "")) % 23] != letter.upper():
                continue
        elif kind == "nir":
            if not nir_ok(m.group()):
                continue
        else:
            continue
        label = _label(text, start)
        if label != "neg":
            score = LABELLED_SCORE if label in ("es" if kind == "dni" else "fr", "gen") else STRONG_SCORE
            yield Span(start, m.end(), NATIONAL_ID, score, "rule")


def _from_letter(text: str) -> Iterator[Span]:
    for m in _FROM_LETTER.finditer(text):
        kind = m.lastgroup
        start = m.start()
        s = m.group()
        if kind == "nie":
            last = s[-1]
            if m.group("es2") == " " and not last.isupper():
                continue
            number = _NIE_PREFIX[s[0]] + int(s[-8:-1] if s[-2].isdigit() else s[-9:-2])
            if DNI_LETTERS[number % 23] != last.upper():
                continue
            label_class = "es"
        elif kind == "cf":
            upper = s.upper()
            # The check letter before the day: it rejects 25 in 26 near-misses with one sum.
            total = sum(map(CF_ODD_VALUE.__getitem__, upper[0:15:2])) + sum(
                map(CF_EVEN_VALUE.__getitem__, upper[1:15:2])
            )
            if upper[15] != ALPHABET[total % 26] or not cf_check_ok(upper):
                continue
            if s.isalpha() and s != upper:
                continue  # a lower-case 16-letter word: omocodia allows all letters, not in prose
            label_class = "it"
        elif kind == "card":
            checked = len(s) == 10 and ausweis_ok(s)
            if not checked and (len(s) != 9 or sum(c.isdigit() for c in s) < 3):
                continue
            if _label(text, start) in ("deid", "gen"):
                score = LABELLED_SCORE if checked else UNCHECKED_SCORE
                yield Span(start, m.end(), NATIONAL_ID, score, "rule")
            continue
        else:
            continue
        label = _label(text, start)
        if label != "neg":
            score = LABELLED_SCORE if label in (label_class, "gen") else STRONG_SCORE
            yield Span(start, m.end(), NATIONAL_ID, score, "rule")


def find_national_ids(text: str) -> Iterator[Span]:
    """NATIONAL_ID spans, sorted by start and never overlapping (the first found wins a tie)."""
    found = [*_from_digit(text), *_from_letter(text)]
    found.sort(key=lambda s: (s.start, -s.end))
    end = -1
    for span in found:
        if span.start >= end:
            end = span.end
            yield span
