"""Birth dates and companies per language, the language guess, name parts, and their worst cases."""

from __future__ import annotations

import pytest

from corral.privacy.detect import PIIDetector
from corral.privacy.detect import entities as E
from corral.privacy.detect.language_id import dominant_language
from corral.privacy.detect.merge import resolve
from corral.privacy.detect.name_parts import name_part_spans
from corral.privacy.detect.regional_context import find_regional_context
from corral.privacy.types import Span
from tests.privacy.test_detect_adversarial import LIMIT_S, PER_SPAN_S, WORST_CASES, cpu_seconds, fill

ALL = frozenset({"de", "fr", "es", "it", "nl", "pl"})


def found(text: str, languages: frozenset[str]) -> list[tuple[str, str]]:
    return [(s.entity, s.text(text)) for s in find_regional_context(text, languages)]


@pytest.mark.parametrize(
    ("lang", "text", "date", "company"),
    [
        ("de", "Frau Krüger, geboren am 14.07.1986, arbeitet bei Weser Stahlhandel GmbH.", "14.07.1986",
         "Weser Stahlhandel GmbH"),
        ("fr", "Mme Dupont, née le 4 mai 1979, gérante de Seine Conseil SARL.", "4 mai 1979",
         "Seine Conseil SARL"),
        ("es", "Fecha de nacimiento: 12/09/1988. Empresa: Flores Delgado S.L.U.", "12/09/1988",
         "Flores Delgado S.L.U."),
        ("it", "La signora Fontana, nata il 17 aprile 1995, lavora per Ottica Ligure S.p.A.",
         "17 aprile 1995",
         "Ottica Ligure S.p.A."),
        ("nl", "Dhr. de Vries, geboren op 14 juli 1983, directeur van Bakkerij Smit B.V.", "14 juli 1983",
         "Bakkerij Smit B.V."),
        ("pl", "Pani Nowak, urodzona 9 lutego 1956, pracuje w Precyzja Śląsk sp. z o.o.", "9 lutego 1956",
         "Precyzja Śląsk sp. z o.o."),
    ],
)  # fmt: skip
def test_birth_dates_and_companies_of_each_language(lang: str, text: str, date: str, company: str) -> None:
    assert found(text, frozenset({lang})) == [(E.DATE_OF_BIRTH, date), (E.ORGANIZATION, company)]
    # Found by the whole detector too: the legal form's dots and "GmbH" are not read as code.
    spans = PIIDetector(use_model=False, languages=[lang]).detect(text)
    assert (E.DATE_OF_BIRTH, date) in {(s.entity, s.text(text)) for s in spans}
    a = text.index(company)
    assert any(s.entity == E.ORGANIZATION and s.start <= a and s.end >= a + len(company) for s in spans)


def test_dates_without_a_birth_keyword_and_lowercase_words_before_a_form_are_not_found() -> None:
    assert found("Lieferung am 14.07.2026, Rechnung vom 01.07.2026.", ALL) == []
    assert found("la livraison du 4 mai 2026 est confirmée", ALL) == []
    assert found("wir sind eine kleine gmbh aus Köln", ALL) == []
    assert found("geboren am 14.07.1986", frozenset()) == []  # no language configured: nothing


def test_the_language_guess_needs_function_words_and_defaults_to_english() -> None:
    assert dominant_language("Bitte senden Sie mir die Rechnung für den Auftrag.", ALL) == "de"
    assert dominant_language("Je vous remercie pour votre réponse et la facture.", ALL) == "fr"
    assert dominant_language("Please send me the invoice for the order, which is late.", ALL) == "en"
    # German not configured: English.
    assert dominant_language("Bitte senden Sie mir die Rechnung.", frozenset({"en"})) == "en"
    assert dominant_language("Hauptstraße 12", ALL) == "en"  # too few words to tell


def test_english_models_are_trusted_less_in_another_configured_language() -> None:
    """Capitalised German nouns read as names by the English spaCy pipeline alone."""
    text = "Guten Morgen, die Lohnabrechnung und der Schlüssel für die Wohnung sind bei den Nachbarn."
    german = PIIDetector(languages=["de"]).detect(text)
    assert [s.text(text) for s in german if s.entity in (E.PERSON, E.LOCATION, E.ORGANIZATION)] == []


def test_a_part_of_a_name_found_in_full_is_a_name_elsewhere_in_the_text() -> None:
    text = "Present: Pablo Molina, Laura Gil. Laura takes the client; Pablo sends the quote. laura?"
    full = [Span(9, 21, E.PERSON, 0.9, "model"), Span(23, 32, E.PERSON, 0.8, "model")]
    added = name_part_spans(full, text)
    assert [(s.text(text), round(s.score, 2)) for s in added] == [("Laura", 0.72), ("Pablo", 0.81)]
    # Particles are not names on their own, and a one-word name spreads nothing.
    text = "Gerrit van Beek called. Van der Berg too. Beek will call back; Anna said no. Anna"
    parts = name_part_spans([Span(0, 15, E.PERSON), Span(62, 66, E.PERSON)], text)
    assert [s.text(text) for s in parts] == ["Beek"]


def test_new_rules_are_linear_on_100_kb_of_worst_cases() -> None:
    cases = {
        **WORST_CASES,
        "birth keywords": fill("geboren am née le nata il "),
        "birth keyword then digits": fill("geboren am 1 "),
        "capitalised words before no form": fill("Aa Bb de Cc "),
        "function words": fill("der die das the le la "),
    }
    for name, text in cases.items():
        seconds = cpu_seconds(lambda t=text: list(find_regional_context(t, ALL)))
        assert seconds < LIMIT_S, f"context rules took {seconds * 1000:.0f} ms on {name!r}"
        seconds = cpu_seconds(lambda t=text: dominant_language(t, ALL))
        assert seconds < LIMIT_S, f"language guess took {seconds * 1000:.0f} ms on {name!r}"


def test_a_flood_of_legal_forms_costs_microseconds_per_span() -> None:
    """Each form after a capitalised word is a company ("GmbH S.r.l." reads as one): a text of
    nothing else is a flood of true matches, held to a cost per span as in test_detect_adversarial."""
    text = fill("GmbH S.r.l. sp. z o.o. ")
    spans: list[Span] = []
    seconds = cpu_seconds(lambda: spans.extend(find_regional_context(text, ALL)), 0.0)
    assert spans and seconds / len(spans) < PER_SPAN_S, f"{seconds * 1000:.0f} ms, {len(spans)} spans"


def test_name_parts_and_address_blocks_stay_cheap_on_dense_input() -> None:
    text = fill("Ab Cd ")
    names = [Span(i, i + 5, E.PERSON, 0.9, "model") for i in range(0, len(text) - 6, 12)]
    assert cpu_seconds(lambda: name_part_spans(names, text), 0.5) < 0.5
    block = fill("12 Aa St\n Bb\n")
    addresses = [Span(i, i + 8, E.ADDRESS, 0.9, "model") for i in range(0, len(block) - 13, 130)]
    assert cpu_seconds(lambda: resolve(addresses, block), 0.5) < 0.5
    initials = fill("Aa B. ")
    people = [Span(i, i + 4, E.PERSON, 0.9, "model") for i in range(0, len(initials) - 6, 6)]
    assert cpu_seconds(lambda: resolve(people, initials), 0.5) < 0.5
