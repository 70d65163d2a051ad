"""European national ID numbers: every validator against numbers generated here from the official
definitions (and a few published sample numbers), the finder on sentences in each language, the
negatives that must stay quiet, and the linear-time bar of test_detect_adversarial.py."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from corral.privacy.detect import national_ids as N
from corral.privacy.detect.entities import NATIONAL_ID
from corral.privacy.detect.national_id_checks import (
    bsn_ok,
    codice_fiscale_ok,
    dni_ok,
    nie_ok,
    nip_ok,
    nir_ok,
    pesel_ok,
    steuer_id_ok,
)
from corral.privacy.detect.national_ids import find_national_ids
from tests.privacy.test_detect_adversarial import LIMIT_S, SPEED, WORST_CASES, cpu_seconds, fill

RNG = random.Random(20260312)

# --- generators, written from the definitions (independently of the module) -------------------


def gen_steuer_id(rng: random.Random) -> str:
    while True:
        head = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(9))
        counts = sorted((head.count(d) for d in set(head)), reverse=True)
        triple_ok = counts[0] == 3 and counts[1] == 1 and not any(d * 3 in head for d in "0123456789")
        if (counts[0] == 2 and counts[1] == 1) or triple_ok:
            break
    # ISO/IEC 7064 MOD 11,10: P(0) = 10; S = (P + d) mod 10, 0 read as 10; P = 2S mod 11.
    p = 10
    for d in head:
        s = (p + int(d)) % 10
        p = (2 * (s if s else 10)) % 11
    check = 11 - p
    return head + str(0 if check == 10 else check)


def gen_nir(rng: random.Random, corsica: str = "") -> str:
    sex = rng.choice("12")
    yy, mm = f"{rng.randint(0, 99):02d}", f"{rng.randint(1, 12):02d}"
    dept = corsica or f"{rng.choice([d for d in range(1, 96) if d != 20]):02d}"
    commune, order = f"{rng.randint(1, 999):03d}", f"{rng.randint(1, 999):03d}"
    body = sex + yy + mm + dept + commune + order
    numeric = body.replace("2A", "19").replace("2B", "18")
    return body + f"{97 - int(numeric) % 97:02d}"


def group_nir(nir: str) -> str:
    return " ".join((nir[0], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:]))


LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"  # Ministerio del Interior: remainder mod 23 -> letter


def gen_dni(rng: random.Random) -> str:
    n = rng.randint(0, 99_999_999)
    return f"{n:08d}" + LETTERS[n % 23]


def gen_nie(rng: random.Random) -> str:
    prefix, n = rng.choice("XYZ"), rng.randint(0, 9_999_999)
    return f"{prefix}{n:07d}" + LETTERS[int(str("XYZ".index(prefix)) + f"{n:07d}") % 23]


# DM 23 dicembre 1976, allegato: values of characters in odd positions (1st, 3rd, ... 15th).
CF_ODD = dict(zip("0123456789", (1, 0, 5, 7, 9, 13, 15, 17, 19, 21), strict=True)) | dict(
    zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
        strict=True)
)  # fmt: skip
CF_EVEN = {str(d): d for d in range(10)} | {chr(65 + i): i for i in range(26)}
OMOCODIA = "LMNPQRSTUV"


def cf_check(first15: str) -> str:
    total = sum(CF_ODD[c] for c in first15[0::2]) + sum(CF_EVEN[c] for c in first15[1::2])
    return chr(65 + total % 26)


def gen_cf(rng: random.Random, omocodia: int = 0) -> str:
    letters = "".join(rng.choice("BCDFGLMNPRSTVZ") for _ in range(6))
    day = rng.randint(1, 28) + rng.choice((0, 40))
    body = list(f"{letters}{rng.randint(0, 99):02d}{rng.choice('ABCDEHLMPRST')}{day:02d}"
                f"{rng.choice('ABCDEFGHILMZ')}{rng.randint(1, 999):03d}")  # fmt: skip
    for pos in (14, 13, 12, 10, 9, 7, 6)[:omocodia]:  # the rightmost digits first
        body[pos] = OMOCODIA[int(body[pos])]
    first15 = "".join(body)
    return first15 + cf_check(first15)


def gen_bsn(rng: random.Random) -> str:
    while True:
        head = f"{rng.randint(10_000_000, 99_999_999):08d}"
        last = sum((9 - i) * int(d) for i, d in enumerate(head)) % 11  # 11-proof: sum - last = 0 mod 11
        if last < 10:
            return head + str(last)


def gen_pesel(rng: random.Random) -> str:
    year, month, day = rng.randint(1900, 2099), rng.randint(1, 12), rng.randint(1, 28)
    offset = 0 if year < 2000 else 20
    head = f"{year % 100:02d}{month + offset:02d}{day:02d}{rng.randint(0, 9999):04d}"
    total = sum(w * int(d) for w, d in zip((1, 3, 7, 9, 1, 3, 7, 9, 1, 3), head, strict=True))
    return head + str((10 - total % 10) % 10)


def gen_nip(rng: random.Random) -> str:
    while True:
        head = f"{rng.randint(101, 999)}{rng.randint(0, 999_999):06d}"
        check = sum(w * int(d) for w, d in zip((6, 5, 7, 2, 3, 4, 5, 6, 7), head, strict=True)) % 11
        if check < 10:
            return head + str(check)


def wrong_last(s: str) -> str:
    last = s[-1]
    if last.isdigit():
        return s[:-1] + str((int(last) + 1) % 10)
    return s[:-1] + ("A" if last != "A" else "B")


GENERATORS: dict[str, tuple[Callable[[random.Random], str], Callable[[str], bool]]] = {
    "steuer_id": (gen_steuer_id, steuer_id_ok),
    "nir": (gen_nir, nir_ok),
    "dni": (gen_dni, dni_ok),
    "nie": (gen_nie, nie_ok),
    "codice_fiscale": (gen_cf, codice_fiscale_ok),
    "bsn": (gen_bsn, bsn_ok),
    "pesel": (gen_pesel, pesel_ok),
    "nip": (gen_nip, nip_ok),
}


# --- validators -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generated_numbers_pass_and_a_wrong_check_character_fails(name: str) -> None:
    generate, ok = GENERATORS[name]
    for _ in range(300):
        value = generate(RNG)
        assert ok(value), value
        assert not ok(wrong_last(value)), wrong_last(value)


def test_published_sample_numbers() -> None:
    assert codice_fiscale_ok("RSSMRA80A01H501U")  # "Mario Rossi", the textbook example
    assert dni_ok("12345678Z")  # Ministerio del Interior: 12345678 mod 23 = 14 -> Z
    assert pesel_ok("44051401458")  # the PESEL example of the encyclopaedias
    assert N.ausweis_ok("T220001293")  # "Erika Mustermann", the specimen identity card
    assert bsn_ok("111222333")  # a test BSN in wide use
    assert nip_ok("1234563218")


def test_structure_rules() -> None:
    steuer = gen_steuer_id(RNG)
    assert not steuer_id_ok("0" + steuer[1:])  # leading zero
    assert not steuer_id_ok("1234567890" + "0")  # ten distinct digits: no digit repeated
    assert not steuer_id_ok("1112345678" + "0")  # three adjacent equal digits
    assert not steuer_id_ok("11223456780")  # two digits repeated
    assert not steuer_id_ok(steuer[:10])
    nir = gen_nir(RNG)
    assert nir_ok(group_nir(nir))
    assert nir_ok(gen_nir(RNG, "2A")) and nir_ok(gen_nir(RNG, "2B"))
    bad_month = nir[:3] + "13" + nir[5:13]
    assert not nir_ok(bad_month + f"{97 - int(bad_month) % 97:02d}")  # month 13
    bad_sex = "5" + nir[1:13]
    assert not nir_ok(bad_sex + f"{97 - int(bad_sex) % 97:02d}")
    no_order = nir[:10] + "000"
    assert not nir_ok(no_order + f"{97 - int(no_order) % 97:02d}")
    assert not nir_ok(nir[:5] + "00" + nir[7:])  # département 00
    assert dni_ok("12.345.678-Z") and dni_ok("12345678 z") and not dni_ok("1234567Z")
    assert not nie_ok("A1234567L") and nie_ok("X-1234567-L")
    for n in range(1, 8):
        assert codice_fiscale_ok(gen_cf(RNG, omocodia=n))
    cf = gen_cf(RNG)
    bad_day = cf[:9] + "32" + cf[11:15]
    assert not codice_fiscale_ok(bad_day + cf_check(bad_day))  # day 32
    bad_month = cf[:8] + "F" + cf[9:15]
    assert not codice_fiscale_ok(bad_month + cf_check(bad_month))  # F is no month
    assert codice_fiscale_ok(cf.lower())
    assert not bsn_ok("000000000") and not bsn_ok("12345678")
    assert not pesel_ok("44133101458")  # month 13
    assert not pesel_ok("44023001452")  # 30 February
    assert not nip_ok("0123456789")


# --- the finder ---------------------------------------------------------------------------------


def found(text: str) -> list[tuple[str, float]]:
    spans = list(find_national_ids(text))
    assert all(s.entity == NATIONAL_ID and s.source == "rule" for s in spans)
    return [(text[s.start : s.end], s.score) for s in spans]


def test_strong_formats_are_found_in_sentences_with_exact_boundaries() -> None:
    for _ in range(50):
        cf, dni, nie, nir = gen_cf(RNG), gen_dni(RNG), gen_nie(RNG), gen_nir(RNG)
        assert found(f"Il mio codice fiscale è {cf}.") == [(cf, 1.0)]
        assert found(f"Mandami i dati ({cf}) domani") == [(cf, 0.95)]
        assert found(f"Mi DNI es {dni}, gracias.") == [(dni, 1.0)]
        assert found(f"Escribe {dni[:8]}-{dni[8]} en el formulario") == [(f"{dni[:8]}-{dni[8]}", 0.95)]
        assert found(f"Tengo el NIE {nie}.") == [(nie, 1.0)]
        assert found(f"Su NIE es {nie[:8]}-{nie[8]}") == [(f"{nie[:8]}-{nie[8]}", 1.0)]
        assert found(f"Mon numéro de sécurité sociale : {group_nir(nir)}.") == [(group_nir(nir), 1.0)]
        assert found(f"Il est né, voir {nir}!") == [(nir, 0.95)]
    dotted = "12.345.678-Z"
    assert found(f"DNI {dotted}") == [(dotted, 1.0)]
    corsica = gen_nir(RNG, "2B")
    assert found(f"NIR {group_nir(corsica)}") == [(group_nir(corsica), 1.0)]


def test_weak_formats_need_their_label() -> None:
    for _ in range(50):
        steuer, bsn, pesel, nip = gen_steuer_id(RNG), gen_bsn(RNG), gen_pesel(RNG), gen_nip(RNG)
        spaced = f"{steuer[:2]} {steuer[2:5]} {steuer[5:8]} {steuer[8:]}"
        assert found(f"Meine Steuer-ID lautet {spaced}.") == [(spaced, 1.0)]
        assert found(f"Steueridentifikationsnummer: {steuer}") == [(steuer, 1.0)]
        assert found(f"IdNr. {steuer} (siehe Bescheid)") == [(steuer, 1.0)]
        assert found(f"Mijn BSN is {bsn}.") == [(bsn, 1.0)]
        dotted = f"{bsn[:4]}.{bsn[4:6]}.{bsn[6:]}"
        assert found(f"burgerservicenummer: {dotted}") == [(dotted, 1.0)]
        assert found(f"Mój numer PESEL to {pesel}.") == [(pesel, 1.0)]
        assert found(f"NIP: {nip[:3]}-{nip[3:6]}-{nip[6:8]}-{nip[8:]}") == [
            (f"{nip[:3]}-{nip[3:6]}-{nip[6:8]}-{nip[8:]}", 1.0)
        ]
        assert found(f"National ID number: {pesel}") == [(pesel, 1.0)]
        # Without a label, or with another country's label, a bare number is not reported.
        assert found(f"Die Nummer {steuer} steht oben.") == []
        assert found(f"Het nummer {bsn} staat hier.") == []
        assert found(f"Numer {pesel} jest tutaj.") == []
        assert found(f"PESEL {bsn}") == [] or (bsn_ok(bsn) and pesel_ok(bsn))
        # The label must be on the same line and near.
        assert found(f"Steuer-ID\n{steuer}") == []
        assert found(f"BSN {'x' * 50} {bsn}") == []
        # A label covers the next number of its format in the same sentence, not the next sentence.
        other = gen_bsn(RNG)
        assert found(f"Het BSN van mijn man is {bsn} en dat van mij {other}") == [(bsn, 1.0), (other, 1.0)]
        assert found(f"Het BSN van mijn man is {bsn}. Bel {other}") == [(bsn, 1.0)]
    assert found("Ausweisnummer: T220001293") == [("T220001293", 1.0)]
    assert found("Personalausweis Nr. T22000129") == [("T22000129", 0.9)]
    assert found("Seriennummer T220001293 des Routers") == []


def test_negatives_are_not_reported() -> None:
    steuer, cf, dni, pesel, bsn = gen_steuer_id(RNG), gen_cf(RNG), gen_dni(RNG), gen_pesel(RNG), gen_bsn(RNG)
    for text in (
        f"Bestellung {steuer} ist unterwegs, Steuer-ID folgt",
        f"Steuer-ID: siehe Bestellnummer {steuer}",  # the nearest label decides
        f"order {cf} shipped",
        f"pedido {dni}",
        f"zamówienie nr {pesel}",
        f"BSN-actie: bestelling {bsn}",
        f"commande n° {gen_nir(RNG)}",
        f"Rechnung {steuer} vom 12.03.2024",
        "Steuer-ID 11111111111",  # one digit repeated
        "BSN 000000000",
        f"Steuer-ID {steuer}0",  # inside a longer digit run
        f"Steuer-ID A{steuer}",
        f"Steuer-ID +49{steuer[:-2]}",  # a phone number
        f"PESEL +48 {pesel}",
        "IBAN DE89370400440532013000, PESEL DE89 3704 0044 0532 0130 00",
        f"Steuer-ID {steuer[:5]}.{steuer[5:]}",  # a decimal number
        "Steuer-ID 2024-03-12 10:30:00, PESEL 12.03.2024 12:30",  # dates and times
        "Preis 12345678,90 EUR; BSN 1.234.567,89",  # prices
        f"Timestamp 1710241234567, epoch {steuer}",
    ):
        assert found(text) == [], text


def test_random_11_digit_numbers_without_label_are_never_reported() -> None:
    numbers = [f"{RNG.randint(10**10, 10**11 - 1)}" for _ in range(3000)]
    text = " ".join(f"Ref {n};" for n in numbers)
    assert found(text) == []
    # With a label, only those passing the check are (about 1 in 10 for PESEL, fewer for the
    # Steuer-ID with its digit rule).
    labelled = "\n".join(f"PESEL {n}" for n in numbers)
    hits = found(labelled)
    assert all(pesel_ok(h) for h, _ in hits) and len(hits) < 0.04 * len(numbers)


def test_formats_table_documents_every_validator() -> None:
    assert {f.country for f in N.FORMATS} == {"DE", "FR", "ES", "IT", "NL", "PL"}
    for f in N.FORMATS:
        assert f.name and f.pattern and f.check and "http" in f.source


# --- worst cases --------------------------------------------------------------------------------

ID_WORST_CASES = {
    **WORST_CASES,
    "11-digit numbers": fill("12345678901 "),
    "labelled near-misses": fill("Steuer-ID 12345678901 "),
    "label words": fill("BSN PESEL Steuer-ID "),
    "labelled grouped near-misses": fill("BSN 123 456 789 "),
    "grouped digits": fill("123 456 789 "),
    "dotted digits": fill("1234.56.789 "),
    "NIR near-misses": fill("1 85 03 75 116 238 44 "),
    "compact NIR near-misses": fill("185037511623844 "),
    "DNI near-misses": fill("12345678A "),
    "NIE near-misses": fill("X1234567A "),
    "codice fiscale near-misses": fill("RSSMRA80A01H501A "),
    "16 letters": fill("ABCDEFGHIJKLMNOP "),
    "id card near-misses": fill("Ausweisnummer T220001290 "),
}
# True matches, and numbers that pass their check but carry the wrong label: each pays for its
# label lookup, so the cost follows their number.
ID_FLOODS = {
    "order labels before valid numbers": "Bestellung 12345678995 ",
    "codice fiscale": "RSSMRA80A01H501U ",
    "DNI": "12345678Z ",
    "PESEL": "PESEL 44051401458 ",
    "id card": "Ausweis T220001293 ",
}


@pytest.mark.parametrize("case", sorted(ID_WORST_CASES))
def test_finder_is_linear_on_100_kb_of_worst_cases(case: str) -> None:
    text = ID_WORST_CASES[case]
    seconds = cpu_seconds(lambda: list(find_national_ids(text)))
    assert seconds < LIMIT_S, f"{case}: {seconds * 1000:.0f} ms"


@pytest.mark.parametrize("case", sorted(ID_FLOODS))
def test_floods_of_checked_numbers_cost_microseconds_per_number(case: str) -> None:
    unit = ID_FLOODS[case]
    text = fill(unit)
    candidates = len(text) // len(unit)
    seconds = cpu_seconds(lambda: list(find_national_ids(text)), 0.0)
    per_candidate = seconds / candidates
    assert per_candidate < 40e-6 * SPEED, f"{case}: {seconds * 1000:.0f} ms, {candidates} numbers"
