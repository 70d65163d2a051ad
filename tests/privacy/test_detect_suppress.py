"""Known false positives: machine identifiers and code must not come back as personal data."""

from __future__ import annotations

import pytest

from corral.privacy.detect import PIIDetector
from corral.privacy.detect import entities as E
from corral.privacy.detect.suppress import (
    in_code,
    is_casual,
    looks_like_code,
    looks_like_machine_id,
    suppressed,
)
from corral.privacy.types import Span

MACHINE_IDS = {
    "uuid": "550e8400-e29b-41d4-a716-446655440000",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "md5": "d41d8cd98f00b204e9800998ecf8427e",
    "git sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "short git sha": "9fceb02",
    "iso timestamp": "2024-01-15T10:30:00Z",
    "timestamp with offset": "2023-11-02 07:04:41+01:00",
    "compact date": "20240115",
    "epoch millis": "1700000000000",
    "semver": "v2.3.1-rc.1",
    "version": "3.11.7",
    "sku": "SKU-4821-XL",
    "order id": "ORD-2023-000123",
    "asin": "B07XJ8C8F5",
}


@pytest.mark.parametrize("value", MACHINE_IDS.values(), ids=MACHINE_IDS.keys())
def test_machine_identifiers_are_recognised(value: str) -> None:
    assert looks_like_machine_id(value)


@pytest.mark.parametrize("value", ["Maria Gonzalez", "0378 3549890", "4111111111111111x", "Oak Street"])
def test_personal_values_are_not_machine_identifiers(value: str) -> None:
    assert not looks_like_machine_id(value)


@pytest.mark.parametrize("entity", [E.PHONE, E.ID_NUMBER, E.PERSON, E.ADDRESS])
@pytest.mark.parametrize("value", MACHINE_IDS.values(), ids=MACHINE_IDS.keys())
def test_candidate_spans_over_machine_identifiers_are_suppressed(entity: str, value: str) -> None:
    text = f"see {value} here"
    assert suppressed(Span(4, 4 + len(value), entity, 0.99, "model"), text)


@pytest.mark.parametrize("entity", sorted(E.VALIDATED))
@pytest.mark.parametrize("value", MACHINE_IDS.values(), ids=MACHINE_IDS.keys())
def test_validated_types_and_credentials_are_never_suppressed(entity: str, value: str) -> None:
    """A secret shaped like a machine identifier (a Slack token reads as a product code) is
    still a secret: suppression is a property of the entity, never of the span's text."""
    text = f"see {value} here"
    assert not suppressed(Span(4, 4 + len(value), entity), text)
    assert not suppressed(Span(5, 21, E.CREDIT_CARD), "card 4111111111111111")


def test_numbers_after_an_id_label_are_not_phones() -> None:
    text = "order number 5551234567 shipped"
    assert suppressed(Span(13, 23, E.PHONE, 0.9, "rule"), text)
    assert not suppressed(Span(13, 23, E.PHONE, 0.9, "rule"), "call me on 5551234567 today")


@pytest.mark.parametrize(
    "word", ["HelpFormatter", "DocTest", "IOBase", "snake_case", "os.path", "len(x)", "None"]
)
def test_code_is_not_a_name(word: str) -> None:
    assert looks_like_code(word)


@pytest.mark.parametrize("name", ["McDonald", "MacKenzie", "DeShawn", "O'Brien", "Jean-Luc Picard", "Anne"])
def test_names_are_not_code(name: str) -> None:
    assert not looks_like_code(name)


def test_words_in_code_context() -> None:
    text = "writes to sys.stderr and calls len(x); Maria waits"
    assert in_code(text, text.index("stderr"), text.index("stderr") + 6)
    assert in_code(text, text.index("len"), text.index("len") + 3)
    assert not in_code(text, text.index("Maria"), text.index("Maria") + 5)


def test_casual_text_is_told_from_capitalised_and_code() -> None:
    assert is_casual("hi i'm roberto and i live in oslo with my cat")
    assert not is_casual("Hi, I'm Roberto and I live in Oslo with my cat.")
    assert not is_casual("(typ, [data]) = <instance>.check()")


def test_log_line_with_machine_identifiers_has_no_personal_data() -> None:
    text = (
        "2024-01-15T10:30:00Z deploy v2.3.1 commit 9fceb02d0ae598e95dc970b74767f19372d61af8 "
        "request 550e8400-e29b-41d4-a716-446655440000 sha256 "
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 item SKU-4821-XL at 12:30:45"
    )
    assert PIIDetector(use_model=False).detect(text) == []
