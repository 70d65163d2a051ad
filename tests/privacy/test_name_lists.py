"""Names the models miss: surname lists after a word for people, a surname before a work, the
person an e-mail address is named after, an initial and surname after a given name, repeats."""

from __future__ import annotations

import time

from corral.privacy.detect import PIIDetector
from corral.privacy.detect import entities as E
from corral.privacy.detect.merge import resolve
from corral.privacy.detect.name_lists import find_attributive_names, find_emailed_names, find_listed_names
from corral.privacy.detect.name_parts import name_part_spans
from corral.privacy.types import Span


def values(spans: list[Span], text: str) -> list[str]:
    return [s.text(text) for s in spans]


def test_a_list_of_surnames_after_a_word_for_people_is_names() -> None:
    text = "Collective Ip is the brainchild of our 3 founders: Monjeau, Graves and Reed.  The idea"
    assert values(list(find_listed_names(text)), text) == ["Monjeau", "Graves", "Reed"]
    text = "co-founders: Šušulić, Bowman and White."
    assert values(list(find_listed_names(text)), text) == ["Šušulić", "Bowman", "White"]
    # A lowercase word after the last name is not part of it.
    text = "Our founders Alice and Bob were students"
    assert values(list(find_listed_names(text)), text) == ["Alice", "Bob"]
    spans = PIIDetector(use_model=False, entities={E.PERSON}).detect("the authors: Graves and Reed.")
    assert [s.entity for s in spans] == [E.PERSON, E.PERSON]


def test_role_words_before_prose_or_code_add_nothing() -> None:
    for text in (
        "authors: see the README and the docs",  # lowercase members
        "The founders were happy and relieved.",
        "children: list of Node and None",  # "list" is lowercase: not a list of names
        "Our founders Monjeau.",  # one name is not a list
        "parents and children and siblings",
    ):
        assert list(find_listed_names(text)) == [], text


def test_a_surname_before_a_work_of_authorship_is_a_name() -> None:
    text = "Unlike the Jensen novel, it's not about necrophilia."
    assert values(list(find_attributive_names(text)), text) == ["Jensen"]
    text = "The Halldór Ó Árnþórsson version recorded for Berkshire Hathaway"
    assert values(list(find_attributive_names(text)), text) == ["Halldór Ó Árnþórsson"]
    for prose in (
        "Return the Python version string.",  # a version that was not recorded
        "the Unix family of systems",
        "the Default case is handled",
        "the frank freud novel",  # lowercase: left to the models
        "the C version recorded in the header",  # one-letter "names" are not names
    ):
        assert list(find_attributive_names(prose)) == [], prose


def test_the_words_that_spell_an_email_local_part_are_a_name() -> None:
    text = "Einojuhani Pyysalo\n\nE-mail:\nEinojuhaniPyysalo@gustr.com"
    assert values(list(find_emailed_names(text)), text) == ["Einojuhani Pyysalo"]
    text = "Jane Doe <jane.doe@example.com>"
    assert values(list(find_emailed_names(text)), text) == ["Jane Doe"]
    # Short local parts (info@, ab@) and words that do not spell one find nothing.
    for text in ("Write to Info Desk at info@example.com", "Jane Smith <jane.doe@example.com>"):
        assert list(find_emailed_names(text)) == [], text


def test_an_initial_and_surname_after_a_given_name_join_it() -> None:
    text = ">Ella H. Snider\n>Otc Markets"
    spans = [Span(1, 5, E.PERSON, 0.6, "model")]
    assert values(resolve(spans, text), text) == ["Ella H. Snider"]
    # Not the first word of the next sentence, and not after a name of two words.
    text = "I met Ella. A. Then we left"
    assert values(resolve([Span(6, 10, E.PERSON, 0.6, "model")], text), text) == ["Ella"]
    text = "Ella Jones B. Then"
    assert values(resolve([Span(0, 10, E.PERSON, 0.6, "model")], text), text) == ["Ella Jones"]


def test_a_full_name_repeated_is_a_name_where_it_repeats() -> None:
    text = ">Marta Palermo\n>Cityscan\n>Marta Palermo\n>1072 Pohlstrasse 9"
    found = [Span(1, 14, E.PERSON, 0.8, "model")]
    added = name_part_spans(found, text)
    assert values(added, text) == ["Marta Palermo"]
    assert added[0].start == text.index("Marta", 2)


def test_the_name_rules_stay_linear() -> None:
    texts = (
        "founders: " + "Aa, " * 30_000,
        "the Aa Aa Aa " * 8_000,
        "mail aaaaaaaa@x.com " + "Aaaaaaaa Aa " * 8_000,  # every word starts the address's name
    )
    start = time.thread_time()
    for text in texts:
        list(find_listed_names(text))
        list(find_attributive_names(text))
        list(find_emailed_names(text))
    assert time.thread_time() - start < 1.5
