"""The validated rules: each with examples that must be found and look-alikes that must not."""

from __future__ import annotations

import pytest

from corral.privacy.detect import PIIDetector
from corral.privacy.detect import entities as E
from corral.privacy.detect.rules import RULES, card_ok, iban_ok, luhn_ok, ssn_ok


def found(entity: str, text: str) -> list[str]:
    return [s.text(text) for s in RULES[entity](text) if s.entity == entity]


@pytest.mark.parametrize(
    "number",
    ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117", "3530111333300000"],
)
def test_cards_with_a_valid_luhn_digit_are_found(number: str) -> None:
    assert found(E.CREDIT_CARD, f"charge card {number} today") == [number]


@pytest.mark.parametrize(
    "number",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "9111111111111110",  # Luhn passes, but no card network starts with 9
        "1234 5678 9012",  # Luhn fails
        "41111 111 11111 111",  # not grouped the way cards are printed
    ],
)
def test_card_look_alikes_are_not(number: str) -> None:
    assert found(E.CREDIT_CARD, f"order {number} shipped") == []


def test_luhn_and_card_validators() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert card_ok("4111111111111111")
    assert not card_ok("4111111111111112")
    assert not card_ok("1111111111111117")  # Luhn-valid, no network prefix
    assert not card_ok("41111111111")  # too short


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "FR1420041010050500013M02606",
        "gb82west12345698765432",
    ],
)
def test_ibans_with_valid_check_digits_are_found(iban: str) -> None:
    assert found(E.IBAN, f"pay to {iban} please") == [iban]


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 01",  # mod-97 fails
        "GB82WEST1234569876543",  # one character short of the GB length
        "XX82WEST12345698765432",  # no such country
    ],
)
def test_iban_look_alikes_are_not(iban: str) -> None:
    assert found(E.IBAN, f"pay to {iban} please") == []
    assert not iban_ok(iban.replace(" ", ""))


def test_an_iban_followed_by_words_keeps_its_registry_length() -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00 AB12 is mine"
    assert found(E.IBAN, text) == ["DE89 3704 0044 0532 0130 00"]


@pytest.mark.parametrize("ssn", ["536-22-1234", "078-05-1121", "772 45 6789", "001-01-0001"])
def test_ssns_within_the_ssa_rules_are_found(ssn: str) -> None:
    assert found(E.US_SSN, f"my SSN is {ssn}.") == [ssn]


@pytest.mark.parametrize(
    "ssn",
    [
        "000-12-3456",  # area 000
        "666-12-3456",  # area 666
        "900-12-3456",  # areas 900-999 (ITINs, never SSNs)
        "123-00-4567",  # group 00
        "123-45-0000",  # serial 0000
        "078-05-1120",  # the Woolworth wallet card
        "123-45 6789",  # mixed separators
    ],
)
def test_ssns_outside_the_ssa_rules_are_not(ssn: str) -> None:
    assert found(E.US_SSN, f"ref {ssn}") == []


def test_ssn_validator_and_bare_form_with_context() -> None:
    assert ssn_ok("536", "22", "1234") and not ssn_ok("666", "22", "1234")
    assert found(E.US_SSN, "SSN: 536221234") == ["536221234"]
    assert found(E.US_SSN, "order 536221234") == []


def test_emails() -> None:
    text = "write to jane.doe+tag@example.co.uk or ops@mail-1.example.com, not a@b or x@y.z"
    assert found(E.EMAIL, text) == ["jane.doe+tag@example.co.uk", "ops@mail-1.example.com"]


def test_ip_addresses() -> None:
    text = "from 81.2.69.160 and 2a00:1450:4001:81b::200e, not 256.1.1.1, 127.0.0.1, 0.0.0.0, or 1.2.3"
    assert found(E.IP_ADDRESS, text) == ["81.2.69.160", "2a00:1450:4001:81b::200e"]
    # Netmasks and the documentation ranges of RFC 5737 / RFC 3849 are nobody's address.
    assert found(E.IP_ADDRESS, "mask 255.255.255.0, example 192.0.2.1 and 2001:db8::1") == []
    assert found(E.IP_ADDRESS, "std::vector and 12:30:45 and a::b") == []


def test_phones_by_library_and_by_label() -> None:
    assert found(E.PHONE, "call (212) 555-1234 or +44 20 7946 0958") == ["(212) 555-1234", "+44 20 7946 0958"]
    assert found(E.PHONE, "Phone: 0378 3549890") == ["0378 3549890"]
    assert found(E.PHONE, "I have 3 cats and 2 dogs; see page 12") == []


def test_url_credentials_flag_the_user_and_password() -> None:
    text = "DATABASE_URL=postgres://admin:s3cr3t@db.example.com:5432/app"
    assert found(E.URL_CREDENTIALS, text) == ["admin:s3cr3t"]
    assert found(E.URL_CREDENTIALS, "see https://example.com/a:b@c") == []


@pytest.mark.parametrize(
    "secret",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t",
        "xoxb-123456789012-abcdefABCDEF",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_known_secret_formats(secret: str) -> None:
    assert found(E.SECRET, f"token {secret} leaked") == [secret]


def test_assigned_secrets_need_a_random_looking_value() -> None:
    assert found(E.SECRET, 'api_key = "9f8e7d6c5b4a3210zz"') == ["9f8e7d6c5b4a3210zz"]
    assert found(E.SECRET, "password: hunter2x9") == ["hunter2x9"]
    assert found(E.SECRET, "token = self.next_token()") == []
    assert found(E.SECRET, "the password is required") == []


def test_private_key_blocks() -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7b9mQ\n-----END RSA PRIVATE KEY-----"
    assert found(E.SECRET, f"here:\n{key}\n") == [key]


def test_ages_and_dates_of_birth_need_their_context() -> None:
    assert found(E.AGE, "a 36 year old man; a 62-year-old patient; at the age of 66") == ["36", "62", "66"]
    assert found(E.AGE, "a 36 page report, aged 200 days") == []
    assert found(E.DATE_OF_BIRTH, "born on 12/03/1985, date of birth: March 3, 1990") == [
        "12/03/1985",
        "March 3, 1990",
    ]
    assert found(E.DATE_OF_BIRTH, "released on 12/03/1985") == []


def test_address_units_and_titled_names_and_organisations() -> None:
    assert found(E.ADDRESS, "Suite 680, Apt. 5B, P.O. Box 287, PSC 6293, Box 8158") == [
        "Suite 680",
        "Apt. 5B",
        "P.O. Box 287",
        "PSC 6293, Box 8158",
    ]
    assert found(E.PERSON, "Mrs. Barbara Yudina Apt. 675") == ["Barbara Yudina"]
    assert found(E.ORGANIZATION, "He joined Palantir Technologies and Davis & Sons Ltd.") == [
        "Palantir Technologies",
        "Davis & Sons Ltd.",
    ]


def test_rules_alone_report_validated_types_and_never_drop_them() -> None:
    detector = PIIDetector(use_model=False, threshold=1.0)
    text = "card 4111 1111 1111 1111, iban DE89370400440532013000, ssn 536-22-1234, ip 8.8.8.8, a@b.io"
    entities = [s.entity for s in detector.detect(text)]
    assert entities == [E.CREDIT_CARD, E.IBAN, E.US_SSN, E.IP_ADDRESS, E.EMAIL]


# Found missing by the report-service example (examples/report-service): values a customer record
# written as labelled lines, or as JSON, carries.
RECORD = ("Full name: Nkechi Yilmaz\nPhone: 617.555.0166\nAddress: 141 High Street, Bristol BS13 1ZU\n"
          '"date_of_birth": "1975-07-14"\nAccount number: 12394916\nIban: GB53 HXKW 1393 3287 1158 71\n'
          "Risk score: 493\nBalance: 17368.75\nVersion 4.12.2003 of the form")


@pytest.mark.parametrize(("entity", "value"), [
    (E.PHONE, "617.555.0166"), (E.DATE_OF_BIRTH, "1975-07-14"), (E.ID_NUMBER, "12394916")])
def test_values_of_a_whole_customer_record_are_found(entity: str, value: str) -> None:
    spans = PIIDetector().detect(RECORD)
    assert (entity, value) in [(s.entity, s.text(RECORD)) for s in spans]
    assert not [s for s in spans if s.text(RECORD) in ("493", "17368.75", "4.12.2003")]


@pytest.mark.parametrize(("text", "number"), [
    ("Account number: 20050521", "20050521"),  # shaped like a compact date: leaked in the case study
    ("Account number: 54712641", "54712641"), ("acct no. 1234-5678", "1234-5678"),
    ("Bank account 12345678 is overdrawn", "12345678"), ("A/C 00123456", "00123456")])
def test_labelled_account_numbers_are_found(text: str, number: str) -> None:
    assert found(E.ID_NUMBER, text) == [number]
    assert [s.text(text) for s in PIIDetector().detect(text) if s.entity == E.ID_NUMBER] == [number]


@pytest.mark.parametrize("text", ["the account has 3 users", "account 12 was closed", "account holders: 12"])
def test_short_numbers_after_account_are_not_account_numbers(text: str) -> None:
    assert found(E.ID_NUMBER, text) == []
