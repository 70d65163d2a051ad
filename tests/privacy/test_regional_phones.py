"""National phone formats of DE, FR, ES, IT, NL and PL: the formats of each country found with exact
boundaries, the look-alikes left alone, the region filter, and the cost on worst-case input."""

from __future__ import annotations

import statistics
import time

import pytest

from corral.privacy.detect.regional_phones import PHONE, REGIONS, find_regional_phones
from tests.privacy.test_detect_adversarial import LIMIT_S, SPEED, WORST_CASES, cpu_seconds, fill

# (region, sentence, the numbers it holds)
EXAMPLES = [
    ("DE", "Ruf mich unter 030 12345678 an.", ["030 12345678"]),
    ("DE", "Mobil: 0171/1234567, Büro (089) 123 456 78", ["0171/1234567", "(089) 123 456 78"]),
    ("DE", "Telefon 0221-9876543 oder 040 / 1234567", ["0221-9876543", "040 / 1234567"]),
    ("FR", "Appelez-moi au 06 12 34 56 78 ou au 01.23.45.67.89.", ["06 12 34 56 78", "01.23.45.67.89"]),
    ("FR", "Mon portable : 0612345678", ["0612345678"]),
    ("ES", "Llámame al 612 345 678 o al 91 123 45 67.", ["612 345 678", "91 123 45 67"]),
    ("ES", "Móvil 699-123-456", ["699-123-456"]),
    ("IT", "Chiamami al 333 123 4567 oppure allo 06 1234 5678.", ["333 123 4567", "06 1234 5678"]),
    ("IT", "Il numero di casa è 02 8765 4321", ["02 8765 4321"]),
    ("NL", "Bel me op 06-12345678 of 020 123 4567.", ["06-12345678", "020 123 4567"]),
    ("NL", "Mijn nummer: 010-1234567", ["010-1234567"]),
    (
        "PL",
        "Zadzwoń: 512 345 678, 22 123 45 67 lub 512-345-678.",
        ["512 345 678", "22 123 45 67", "512-345-678"],
    ),
]


def found(text: str, regions: frozenset[str] = REGIONS) -> list[str]:
    spans = list(find_regional_phones(text, regions))
    assert all(s.entity == PHONE and s.score == 0.9 and s.source == "rule" for s in spans)
    return [text[s.start : s.end] for s in spans]


@pytest.mark.parametrize(("region", "text", "numbers"), EXAMPLES)
def test_national_formats_are_found_with_exact_boundaries(region: str, text: str, numbers: list[str]) -> None:
    assert found(text, frozenset({region})) == numbers
    assert found(text) == numbers


def test_only_the_requested_regions_are_read() -> None:
    assert found("Llámame al 612 345 678", frozenset({"DE", "FR", "NL"})) == []
    assert found("Appelez le 06 12 34 56 78", frozenset({"ES", "PL"})) == []
    assert found("Appelez le 06 12 34 56 78", frozenset({"US", "GB"})) == []  # not a region of this rule
    assert found("Ruf 030 12345678 an", frozenset({"DE", "GB"})) == ["030 12345678"]


def test_numbers_in_a_list_are_found_one_by_one() -> None:
    assert found("06 12 34 56 78, 06 98 76 54 32") == ["06 12 34 56 78", "06 98 76 54 32"]
    assert found("Tel. 512 345 678\n22 123 45 67") == ["512 345 678", "22 123 45 67"]
    # A number inside a longer run of digit groups is table data, not a phone.
    assert found("widths = 278 278 355 556 556 889 667 191 333 333 389 584") == []
    assert found("06 12 34 56 78 06 98 76 54 32") == []


@pytest.mark.parametrize(
    "text",
    [
        "am 01.02.2024 um 10:30",  # dates and times
        "vom 2024-03-12 bis 12/03/2024",
        "Preis 612 345 678 € netto",  # money
        "Summe: € 0612345678",
        "Kosten 512 345 678 zł",
        "EUR 030 12345678",
        "Hauptstr. 5, 10115 Berlin",  # postcodes
        "Adresse 12 75008 Paris",
        "ul. Długa 5, 00-950 Warszawa",
        "IBAN DE89 3704 0044 0532 0130 00",  # IBAN and card fragments
        "Karte 4111 1111 1111 1111",
        "Version 06.12.34.56, v1.2.3.4, release 2.10.30",  # versions
        "Bestellung 030 12345678",  # order, invoice, ticket and customer numbers
        "Rechnung Nr. 0612345678",
        "Kundennummer: 030 1234567",
        "commande 06 12 34 56 78",
        "facture n° 01.23.45.67.89",
        "pedido 612 345 678",
        "factura 91 123 45 67",
        "ordine 333 123 4567",
        "fattura 06 1234 5678",
        "bestelling 06-12345678",
        "factuur 020 123 4567",
        "zamówienie 512 345 678",
        "faktura nr 22 123 45 67",
        "ticket #0612345678",
        "BSN 123 456 782, PESEL 512 345 678",  # ID numbers
        "+49 30 12345678 and +33 6 12 34 56 78",  # +CC numbers: the US-region rule's part
        "1234567890123456789",  # long digit runs
        "SSN 536-22-1234, 772 45 6789",  # US social security numbers
        "SSN: 536221234",
        "Platzhalter 0123456789 oder 999 999 999",
        "HTTP 502/503/504, range 256-100000, 128000 - 512",
        "192.168.100.200",
    ],
)
def test_look_alikes_are_not_phones(text: str) -> None:
    assert found(text) == []


# --- cost ---------------------------------------------------------------------------------------

# Near-misses: digit runs and groups that fail the numbering plans, labelled junk.
PHONE_WORST_CASES = {
    **WORST_CASES,
    "2-digit groups": fill("12 "),
    "zero groups": fill("00 "),
    "near-miss Spanish groups": fill("612 345 6 "),
    "short groups": fill("01 01 0 "),
    "near-miss French groups": fill("16 12 34 56 78 "),
    "slashes": fill("0171/"),
    "parentheses": fill("(089) "),
    "phone labels": fill("Tel. "),
    "order labels": fill("Bestellung 99 "),
    "long zero runs": fill("0"),
}
# Valid numbers, reported or dropped for their label: each costs one plan check, one (cached)
# parse and the context checks.
PHONE_FLOODS = {
    "French numbers": "06 12 34 56 78 ",
    "Polish numbers": "123 456 789 ",
    "dotted numbers": "1234.56.789 ",
    "valid numbers after order labels": "Bestellung 0301234567 ",
    "valid numbers after ID labels": "BSN 123 456 789 ",
}


@pytest.mark.parametrize("case", sorted(PHONE_WORST_CASES))
def test_finder_is_linear_on_100_kb_of_worst_cases(case: str) -> None:
    text = PHONE_WORST_CASES[case]
    seconds = cpu_seconds(lambda: list(find_regional_phones(text, REGIONS)))
    assert seconds < LIMIT_S, f"{case}: {seconds * 1000:.0f} ms"


@pytest.mark.parametrize("case", sorted(PHONE_FLOODS))
def test_floods_of_valid_numbers_cost_microseconds_per_number(case: str) -> None:
    unit = PHONE_FLOODS[case]
    text = fill(unit)
    seconds = cpu_seconds(lambda: list(find_regional_phones(text, REGIONS)), 0.0)
    assert seconds / (len(text) // len(unit)) < 80e-6 * SPEED, f"{case}: {seconds * 1000:.0f} ms"


PROMPT = (
    "Hallo, ich bin unter 030 12345678 oder mobil 0171/1234567 erreichbar. Bestellung 4711 vom "
    "12.03.2024, Rechnung 0815. Mon numéro: 06 12 34 56 78. Llámame al 612 345 678 o al "
    "91 123 45 67. Chiamami al 333 123 4567. Bel me op 06-12345678. Zadzwoń: 512 345 678. "
    "Preis 19,99 EUR, PLZ 10115 Berlin. Viele Grüße, bis morgen!"
)


def test_a_prompt_costs_well_under_a_millisecond() -> None:
    assert len(PROMPT) == 317
    assert len(found(PROMPT)) == 8
    times = []
    for _ in range(300):
        start = time.thread_time()
        list(find_regional_phones(PROMPT, REGIONS))
        times.append(time.thread_time() - start)
    assert statistics.median(times) < 1e-3, statistics.median(times)
