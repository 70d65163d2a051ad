"""Whole postal addresses from model fragments: block and line growth, streets the models miss."""

from __future__ import annotations

import time

from corral.privacy.detect import PIIDetector
from corral.privacy.detect import entities as E
from corral.privacy.detect.address_blocks import find_streets, grow_addresses
from corral.privacy.detect.merge import resolve
from corral.privacy.types import Span


def texts(spans: list[Span], text: str) -> list[tuple[str, str]]:
    return [(s.entity, s.text(text)) for s in spans]


def at(text: str, part: str, entity: str, score: float = 0.9, source: str = "model") -> Span:
    start = text.index(part)
    return Span(start, start + len(part), entity, score, source)


def test_a_block_grows_to_its_postal_code_over_the_fragments_in_between() -> None:
    text = "send it to 14 Crown Street\n Suite 321\n LONDON\n United Kingdom 75419? Thanks"
    spans = [
        at(text, "14 Crown Street", E.ADDRESS),
        at(text, "Suite 321", E.ADDRESS, 0.5, "rule"),
        at(text, "LONDON", E.LOCATION),
        at(text, "75419", E.ADDRESS),  # a lone zip: its own span, formerly the block's ceiling
    ]
    assert texts(resolve(spans, text), text) == [(E.ADDRESS, text[11 : text.index("?")])]


def test_a_block_ends_at_a_bare_postcode_line_or_a_country_line() -> None:
    bare = "billing: 27534 Þorsteinsgata 63\nMOSS\n, nan\n 51971 for this card"
    spans = [at(bare, "27534 Þorsteinsgata 63", E.ADDRESS)]
    assert texts(grow_addresses(spans, bare), bare) == [(E.ADDRESS, bare[9 : bare.index(" for")])]
    country = "Address:\n22120 Eriksbo 78\n Suite 721\n ASKIM\n Sweden."
    spans = [at(country, "22120 Eriksbo 78\n Suite 721", E.ADDRESS), at(country, "ASKIM\n Sweden", E.PERSON)]
    assert texts(grow_addresses(spans, country), country) == [(E.ADDRESS, country[9:-1])]


def test_a_one_line_address_takes_its_places_country_and_state_code() -> None:
    text = "The letter arrived at 760 Passauer Strasse 33, Cite Guedouala, Tunisia last night."
    spans = [at(text, "760 Passauer Strasse 33", E.ADDRESS), at(text, "Guedouala, Tunisia", E.LOCATION)]
    assert texts(grow_addresses(spans, text), text) == [
        (E.ADDRESS, "760 Passauer Strasse 33, Cite Guedouala, Tunisia")
    ]
    us = "Ship to 2229 Wolmarans St, Caxias, RS 24893, and call"
    assert texts(grow_addresses([at(us, "2229 Wolmarans St", E.ADDRESS)], us), us) == [
        (E.ADDRESS, "2229 Wolmarans St, Caxias, RS 24893")
    ]


def test_growth_stops_at_prose_fields_and_other_kinds_of_spans() -> None:
    # Lowercase words are prose, not places; a "Phone:" line is a field, not part of the block.
    prose = "I live at 12 Main Street, and I like it 12345 times"
    assert texts(grow_addresses([at(prose, "12 Main Street", E.ADDRESS)], prose), prose) == [
        (E.ADDRESS, "12 Main Street")
    ]
    block = "12 Main Street\nSpringfield\nPhone: 555 0100 12345"
    spans = [at(block, "12 Main Street", E.ADDRESS), at(block, "555 0100", E.PHONE, 1.0, "rule")]
    assert texts(grow_addresses(spans, block), block)[0] == (E.ADDRESS, "12 Main Street")
    # A lone number (a model's "zip") is never grown: `incomplete` drops it.
    doctest = '>>> decode(b"\\xff")\n255\n>>> decode(b"\\x7f")\n32767'
    spans = [at(doctest, "255", E.ADDRESS)]
    assert texts(grow_addresses(spans, doctest), doctest) == [(E.ADDRESS, "255")]


def test_code_lines_do_not_join_two_address_fragments() -> None:
    text = '255\n>>> decode_long(b"\\xff\\x7f")\n32767'
    spans = [at(text, "255", E.ADDRESS), at(text, "32767", E.ADDRESS)]
    assert len(resolve(spans, text)) == 2


def test_place_particles_and_a_dotted_number_before_and_join_an_address() -> None:
    text = "I now live in 6570 Jiřího z Poděbrad 1874"
    spans = [at(text, "6570 Jiřího", E.ADDRESS), at(text, "Poděbrad 1874", E.ADDRESS)]
    assert texts(resolve(spans, text), text) == [(E.ADDRESS, "6570 Jiřího z Poděbrad 1874")]
    corner = "the same: the corner of Csabai kapu 39. and Mathias Pass"
    spans = [at(corner, "the corner of Csabai kapu 39", E.ADDRESS), at(corner, "Mathias Pass", E.ADDRESS)]
    assert texts(resolve(spans, corner), corner) == [(E.ADDRESS, corner[10:])]
    # "and", "to" and "or" are not particles: two places stay two.
    two = "from Springfield to Boston"
    spans = [at(two, "Springfield", E.ADDRESS), at(two, "Boston", E.ADDRESS)]
    assert len(resolve(spans, two)) == 2


def test_a_given_name_and_a_numbered_street_is_an_intersection() -> None:
    text = "update my address to Maarit and Hersnapvej 75"
    spans = [at(text, "Maarit", E.PERSON, 0.7), at(text, "Hersnapvej 75", E.ADDRESS)]
    assert texts(resolve(spans, text), text) == [(E.ADDRESS, "Maarit and Hersnapvej 75")]
    # Two people, or a person and an address without a number, stay apart.
    people = "Maarit and Hersnap Vej came"
    spans = [at(people, "Maarit", E.PERSON, 0.7), at(people, "Hersnap Vej", E.ADDRESS)]
    assert texts(resolve(spans, people), people)[0] == (E.PERSON, "Maarit")
    full = "Anna Berg and 12 Main Street"
    spans = [at(full, "Anna Berg", E.PERSON), at(full, "12 Main Street", E.ADDRESS)]
    assert texts(resolve(spans, full), full)[0] == (E.PERSON, "Anna Berg")


def test_a_name_before_the_rest_of_a_numbered_address_is_its_street() -> None:
    text = "Please return to 56539 Rua Cyro Schmutzer Franco 1213\nGRASSE, PA 39551 in case"
    spans = [
        at(text, "Rua Cyro Schmutzer", E.PERSON, 0.6),
        at(text, "Franco 1213\nGRASSE, PA 39551", E.ADDRESS),
    ]
    assert texts(resolve(spans, text), text) == [(E.ADDRESS, text[17 : text.index(" in case")])]
    typed = "the corner of 159 Eleftheriou Venizelou str and Rennie Union"
    spans = [at(typed, "Eleftheriou Venizelou", E.PERSON, 0.6)]
    assert texts(resolve(spans, typed), typed) == [(E.ADDRESS, typed)]
    # Without a house number before it, a name stays a name.
    named = "ask Cyro Schmutzer Franco 1213"
    spans = [at(named, "Cyro Schmutzer", E.PERSON, 0.6), at(named, "Franco 1213", E.ADDRESS)]
    assert texts(resolve(spans, named), named)[0] == (E.PERSON, "Cyro Schmutzer")


def test_a_street_and_number_read_as_a_company_before_an_address_is_its_street() -> None:
    text = "send a new one to Aqqusinersuaq 176 Pinto Hill\n Suite 487"
    spans = [
        at(text, "Aqqusinersuaq 176", E.ORGANIZATION, 0.6),
        at(text, "Pinto Hill\n Suite 487", E.ADDRESS),
    ]
    assert texts(resolve(spans, text), text) == [(E.ADDRESS, text[18:])]
    word = "and Ilmalankuja 82 Zachary Cliffs"
    spans = [at(word, "Ilmalankuja", E.PERSON, 0.3), at(word, "82 Zachary Cliffs", E.ADDRESS)]
    assert texts(resolve(spans, word), word) == [(E.ADDRESS, "Ilmalankuja 82 Zachary Cliffs")]
    # A company whose name is not "Word Number" keeps its entity.
    company = "Acme Labs 12 Main Street"
    spans = [at(company, "Acme Labs", E.ORGANIZATION, 0.6), at(company, "12 Main Street", E.ADDRESS)]
    assert texts(resolve(spans, company), company)[0] == (E.ORGANIZATION, "Acme Labs")


def test_numbered_streets_with_a_street_type_and_ships_are_found_without_models() -> None:
    detector = PIIDetector(use_model=False)
    text = "Juliusz lives at 28919 136 Filadelfeos Str., Klirou"
    assert texts(detector.detect(text), text) == [(E.ADDRESS, "28919 136 Filadelfeos Str.")]
    ship = "send a new one to USNS Sekerková\nFPO AA 65728? Thanks"
    assert texts(detector.detect(ship), ship) == [(E.ADDRESS, "USNS Sekerková\nFPO AA 65728")]
    for prose in (
        "Section 3 describes the Main Street effect.",  # no number right before the words
        "returns 3 Python objects per Drive",  # a lowercase word between
        "the street names in 10 downing street",  # lowercase words
        "step 2 Road test",  # the street type must follow the words
    ):
        assert list(find_streets(prose)) == [], prose
    # The price of the rule: a number, capitalised words and a street type read as an address.
    assert texts(list(find_streets("version 2 Test Drive results")), "version 2 Test Drive results") == [
        (E.ADDRESS, "2 Test Drive")
    ]


def test_growth_and_the_street_rule_stay_linear() -> None:
    lines = ("12 Main Street" + "\nAa Bb Cc" * 20_000) + "\n"
    spans = [Span(0, 14, E.ADDRESS, 0.9, "model")]
    start = time.thread_time()
    grow_addresses(spans, lines)
    assert time.thread_time() - start < 0.5
    junk = "1 Aa Aa Aa Aa " * 8_000
    start = time.thread_time()
    list(find_streets(junk))
    tails = "12 Main Street" + ", Aa Bb" * 20_000
    grow_addresses([Span(0, 14, E.ADDRESS, 0.9, "model")], tails)
    assert time.thread_time() - start < 1.0
