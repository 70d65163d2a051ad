"""Overlap resolution and joining fragments of one entity."""

from __future__ import annotations

from itertools import pairwise

from corral.privacy.detect import entities as E
from corral.privacy.detect.merge import (
    join_fragments,
    resolve,
    select_non_overlapping,
    snap_phone,
    union_same_entity,
)
from corral.privacy.types import Span


def texts(spans: list[Span], text: str) -> list[tuple[str, str]]:
    return [(s.entity, s.text(text)) for s in spans]


def test_a_rule_and_a_model_agreeing_are_unioned_and_more_certain() -> None:
    spans = union_same_entity([Span(0, 5, E.PERSON, 0.6, "rule"), Span(3, 9, E.PERSON, 0.5, "model")])
    assert [(s.start, s.end, s.source) for s in spans] == [(0, 9, "rule")]
    assert abs(spans[0].score - 0.8) < 1e-9  # noisy-or: 1 - 0.4 * 0.5
    # Overlapping windows of one source are not independent evidence: the best score stands.
    same = union_same_entity([Span(0, 5, E.PERSON, 0.6, "model"), Span(3, 9, E.PERSON, 0.5, "model")])
    assert same[0].score == 0.6


def test_validated_rules_win_overlaps_and_lesser_spans_are_trimmed() -> None:
    text = "Mrs. Barbara Yudina Apt. 675"
    person = Span(5, 22, E.PERSON, 0.9, "model")  # "Barbara Yudina Apt"
    unit = Span(20, 28, E.ADDRESS, 0.5, "rule")  # "Apt. 675"
    assert texts(select_non_overlapping([person, unit], text), text) == [
        (E.PERSON, "Barbara Yudina"),
        (E.ADDRESS, "Apt. 675"),
    ]
    email = "mail maria.gonzalez@example.com"
    chosen = select_non_overlapping([Span(5, 10, E.PERSON, 0.99, "model"), Span(5, 31, E.EMAIL)], email)
    assert texts(chosen, email) == [(E.EMAIL, "maria.gonzalez@example.com")]


def test_name_fragments_and_honorifics_are_joined() -> None:
    text = "Dr. Maria Gonzalez, Jr. called"
    spans = [Span(4, 9, E.PERSON, 0.9, "model"), Span(10, 18, E.PERSON, 0.8, "model")]
    assert texts(join_fragments(spans, text), text) == [(E.PERSON, "Dr. Maria Gonzalez, Jr.")]


def test_address_parts_across_lines_and_a_state_code_become_one_address() -> None:
    text = "6750 Koskikatu 25\n Suite 864\n Artilleros\n, CO\n Uruguay 64677\nthanks"
    spans = [
        Span(0, 14, E.ADDRESS, 0.9, "model"),
        Span(19, 28, E.ADDRESS, 0.5, "rule"),
        Span(30, 40, E.LOCATION, 0.8, "model"),
        Span(47, 54, E.LOCATION, 0.6, "model"),
        Span(55, 60, E.ADDRESS, 0.9, "model"),
    ]
    merged = resolve(spans, text)
    assert texts(merged, text) == [(E.ADDRESS, text[: text.index("\nthanks")])]
    assert merged[0].score == 0.9


def test_different_entities_or_distant_fragments_stay_apart() -> None:
    text = "Maria Gonzalez works at Acme Corp. Jane Doe does not."
    spans = [
        Span(0, 5, E.PERSON, 0.9, "model"),
        Span(6, 14, E.PERSON, 0.9, "model"),
        Span(24, 33, E.ORGANIZATION, 0.7, "model"),
        Span(35, 43, E.PERSON, 0.9, "model"),
    ]
    assert texts(resolve(spans, text), text) == [
        (E.PERSON, "Maria Gonzalez"),
        (E.ORGANIZATION, "Acme Corp"),
        (E.PERSON, "Jane Doe"),
    ]


def test_resolve_is_sorted_and_disjoint_whatever_the_input() -> None:
    text = "x" * 50
    spans = [Span(a, a + n, e, 0.7, "model") for a, n, e in [(30, 10, E.PERSON), (0, 20, E.ORGANIZATION),
                                                           (15, 20, E.LOCATION), (5, 3, E.PERSON)]]
    out = resolve(spans, text)
    assert all(a.end <= b.start for a, b in pairwise(out))
    assert out == sorted(out, key=lambda s: s.start)


def test_model_phone_spans_snap_to_the_whole_number() -> None:
    text = "Office: 082 490 1693-Office, fax"
    span = snap_phone(Span(8, 15, E.PHONE, 0.9, "model"), text)
    assert span.text(text) == "082 490 1693"
    text = "21 253 109 8211-Office"
    assert snap_phone(Span(3, 10, E.PHONE, 0.9, "model"), text).text(text) == "21 253 109 8211"


def test_a_name_span_gives_up_the_unit_or_field_label_it_ran_into() -> None:
    # The longer name span used to outrank the "Apt. 675" rule, leaving the unit unredacted.
    text = "Mrs. Barbara Yudina Apt. 675 62314 Mellemvej 32"
    spans = [Span(5, 23, E.PERSON, 0.9, "model"), Span(5, 19, E.PERSON, 0.8, "rule"), Span(20, 28, E.ADDRESS)]
    merged = texts(resolve(spans, text), text)
    assert merged[0] == (E.PERSON, "Mrs. Barbara Yudina")
    assert merged[1][0] == E.ADDRESS and merged[1][1].startswith("Apt. 675")
    labelled = "Name: Victoria Bruun\nPhone: (555) 010 2000"
    merged = resolve([Span(6, 26, E.PERSON, 0.9, "model")], labelled)
    assert texts(merged, labelled) == [(E.PERSON, "Victoria Bruun")]


def test_a_middle_initial_does_not_end_a_name() -> None:
    text = "Directed By:    Gladys L. Leblanc and Sari J. Paavolainen"
    spans = [
        Span(16, 24, E.PERSON, 0.8, "model"),  # "Gladys L"
        Span(38, 44, E.PERSON, 0.8, "model"),  # "Sari J"
        Span(46, 57, E.PERSON, 0.9, "model"),  # "Paavolainen"
    ]
    assert texts(resolve(spans, text), text) == [
        (E.PERSON, "Gladys L. Leblanc"),
        (E.PERSON, "Sari J. Paavolainen"),
    ]
    # A capital letter that is a word of its own, not an initial, stays outside.
    assert texts(resolve([Span(0, 6, E.PERSON, 0.8, "model")], "Plan B. Then"), "Plan B. Then") == [
        (E.PERSON, "Plan B")
    ]


def test_an_intersection_and_a_polish_street_prefix_belong_to_the_address() -> None:
    text = "Deliver to the corner of Östbygatan 14 and Sigurmundsson Greens today"
    spans = [Span(25, 38, E.ADDRESS, 0.9, "model"), Span(43, 63, E.LOCATION, 0.9, "model")]
    corner = "the corner of Östbygatan 14 and Sigurmundsson Greens"
    assert texts(resolve(spans, text), text) == [(E.ADDRESS, corner)]
    # Two people joined by "and" are still two names.
    people = "Ann Lee and Bo Chen"
    pair = [Span(0, 7, E.PERSON, 0.9, "model"), Span(12, 19, E.PERSON, 0.9, "model")]
    assert len(resolve(pair, people)) == 2
    polish = "Oline Mikaelsen\n772 ul. Narewska 94\nApt. 478"
    street = [Span(24, 35, E.ADDRESS, 0.9, "model")]  # "Narewska 94"
    assert texts(resolve(street, polish), polish) == [(E.ADDRESS, "772 ul. Narewska 94")]
