"""Synthetic customer records for the report-service example.

Every value here is synthetic: names, emails, phone numbers, addresses, dates of birth, account
numbers, IBANs, card numbers and national ids are generated from a seed with ``random.Random`` and
belong to no real person. The IBANs and card numbers carry valid checksums (ISO 7064 mod 97-10 and
Luhn) and the national ids follow the US SSN format, so that personal-data detectors treat them as
they would real ones; the card numbers use test-card prefixes and the phone numbers use the ranges
reserved for fiction (US 555-01xx, UK Ofcom drama ranges).

``request(seed)`` pairs a customer with a report type, one of the ids of
``knowledge/templates/*.md``; ``personal_values(customer)`` lists the values that must never reach an
LLM provider (the gateway redacts them before the model sees the prompt).
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "knowledge" / "templates"

REPORT_TYPES: list[str] = sorted(p.stem for p in TEMPLATES_DIR.glob("*.md"))

# fmt: off
FIRST_NAMES: list[str] = [
    "Olivia", "James", "Amara", "Mateo", "Priya", "Liam", "Sofia", "Noah", "Aisha", "Lucas",
    "Mei", "Ethan", "Fatima", "Oliver", "Yuki", "Benjamin", "Chiara", "Kwame", "Ingrid", "Diego",
    "Anika", "Samuel", "Leila", "Tomasz", "Nkechi", "Henrik", "Zara", "Rafael", "Siobhan", "Arjun",
    "Elena", "Jamal", "Hana", "Connor", "Ayesha", "Mikhail", "Lucia", "Oluwaseun", "Freya", "Hiroshi",
    "Gabriela", "Dmitri", "Niamh", "Emeka", "Astrid", "Carlos", "Thandiwe", "Wei", "Margaux", "Tariq",
]

SURNAMES: list[str] = [
    "Okafor", "Smith", "Nguyen", "Garcia", "Patel", "Kowalski", "Murphy", "Rossi", "Haddad", "Johansson",
    "Tanaka", "Williams", "Mensah", "Fernandez", "Chen", "O'Brien", "Schneider", "Kim", "Novak", "Singh",
    "Dubois", "Adeyemi", "Larsen", "Moreno", "Ivanova", "Clarke", "Yilmaz", "Hughes", "Bianchi", "Khan",
    "Nakamura", "Walsh", "Oyelaran", "Petrov", "Lindqvist", "Santos", "Abernathy", "Mwangi", "Costa",
    "Fitzgerald", "Van der Berg", "Hosseini", "Dlamini", "Kaur", "MacLeod", "Zhang", "Brennan", "Alvarez",
]

US_STREETS: list[str] = [
    "Maple Avenue", "Oak Street", "Cedar Lane", "Pine Ridge Road", "Lakeview Drive", "Elm Court",
    "Willow Way", "Sunset Boulevard", "Hickory Place", "Magnolia Street", "Riverside Drive",
    "Chestnut Terrace",
]
US_CITIES: list[tuple[str, str, str]] = [
    ("Springfield", "IL", "627"), ("Columbus", "OH", "432"), ("Austin", "TX", "787"),
    ("Portland", "OR", "972"), ("Raleigh", "NC", "276"), ("Madison", "WI", "537"),
    ("Tucson", "AZ", "857"), ("Albany", "NY", "122"), ("Boise", "ID", "837"), ("Richmond", "VA", "232"),
]
UK_STREETS: list[str] = [
    "High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "Queens Crescent",
    "Park Avenue", "Kingsway", "Meadow Close", "Albert Terrace", "Beech Grove", "Windsor Gardens",
]
UK_CITIES: list[tuple[str, str]] = [
    ("Leeds", "LS"), ("Bristol", "BS"), ("Manchester", "M"), ("Glasgow", "G"), ("Cardiff", "CF"),
    ("Norwich", "NR"), ("Leicester", "LE"), ("Belfast", "BT"), ("York", "YO"), ("Brighton", "BN"),
]
# fmt: on

EMAIL_DOMAINS: list[str] = ["example.com", "example.org", "example.net", "mail.example.co.uk"]

PRODUCTS: list[str] = [
    "personal loan",
    "credit card",
    "residential mortgage",
    "current account",
    "home insurance",
    "motor insurance",
    "travel insurance",
    "health plan",
    "small business loan",
    "savings account",
    "broadband and mobile bundle",
    "energy supply contract",
    "defined contribution pension",
]

MERCHANTS: list[str] = [
    "Greenleaf Grocers",
    "Metro Transit",
    "Northwind Energy",
    "Bluebird Pharmacy",
    "Harbor Coffee Co",
    "QuickFuel Station",
    "Atlas Electronics",
    "Riverside Dental",
    "StreamBox Subscriptions",
    "Cornerstone Hardware",
    "SkyHigh Airlines",
    "Lumen Telecom",
    "Bella Cucina",
    "City Parking",
    "OnlineMart",
    "Crescent Pharmacy",
    "Summit Gym",
    "Pioneer Books",
]

CREDIT_SOURCES: list[str] = [
    "Payroll deposit - Northgate Logistics",
    "Payroll deposit - Harbourview Health",
    "Merchant refund",
    "Transfer from savings",
    "Tax refund",
    "Pension payment",
]

NOTES_TEMPLATES: list[str] = [
    "{name} called on {when} to ask about the {product} and said income has been irregular since spring.",
    "Agent note: {name} requested a payment holiday on the {product}; documents promised by {when}.",
    "{name} disputed two transactions on {when} and asked for written confirmation of the outcome.",
    "Follow-up with {name} on {when}: prefers contact by email, mentioned caring for a relative.",
    "{name} asked on {when} whether the {product} could be moved to a lower monthly payment.",
    "Branch visit on {when}: {name} provided updated proof of address and asked about fees.",
]

# IBAN countries; the check digits are computed (ISO 13616, mod 97-10), the BBANs are random.
IBAN_COUNTRIES: list[str] = ["GB", "DE", "FR", "NL", "IE"]


def _iban_check_digits(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))


def _iban(rng: random.Random, uk: bool) -> str:
    country = "GB" if uk else rng.choice(IBAN_COUNTRIES)
    if country in ("GB", "IE"):
        bban = _letters(rng, 4) + _digits(rng, 14)
    elif country == "DE":
        bban = _digits(rng, 18)
    elif country == "FR":
        bban = _digits(rng, 23)
    else:  # NL
        bban = _letters(rng, 4) + _digits(rng, 10)
    iban = country + _iban_check_digits(country, bban) + bban
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _luhn_check_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    prefix = rng.choice(["4111", "4012", "5555", "5105", "2223"])
    partial = prefix + "".join(str(rng.randrange(10)) for _ in range(11))
    number = partial + _luhn_check_digit(partial)
    groups = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    if rng.random() < 0.25:
        return "**** **** **** " + number[-4:]
    return groups if rng.random() < 0.6 else number


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _phone(rng: random.Random, uk: bool) -> str:
    if uk:
        # Ofcom ranges reserved for drama: 07700 900000-900999, 020 7946 0000-0999, 0113 496 0000-0999.
        kind = rng.randrange(4)
        if kind == 0:
            return f"07700 900{rng.randint(0, 999):03d}"
        if kind == 1:
            return f"+44 7700 900{rng.randint(0, 999):03d}"
        if kind == 2:
            return f"020 7946 0{rng.randint(0, 999):03d}"
        return f"+44 113 496 0{rng.randint(0, 999):03d}"
    area = rng.choice(["212", "312", "415", "512", "617", "703", "808", "919"])
    line = f"01{rng.randint(0, 99):02d}"
    return rng.choice(
        [
            f"({area}) 555-{line}",
            f"{area}-555-{line}",
            f"+1 {area} 555 {line}",
            f"{area}.555.{line}",
            f"1-{area}-555-{line}",
        ]
    )


def _address(rng: random.Random, uk: bool) -> str:
    number = rng.randint(1, 2400 if not uk else 180)
    if uk:
        street = rng.choice(UK_STREETS)
        city, area = rng.choice(UK_CITIES)
        postcode = f"{area}{rng.randint(1, 19)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        postcode += rng.choice("ABDEFGHJLNPQRSTUWXYZ")
        flat = f"Flat {rng.randint(1, 12)}, " if rng.random() < 0.25 else ""
        return f"{flat}{number} {street}, {city} {postcode}, United Kingdom"
    street = rng.choice(US_STREETS)
    city, state, zip3 = rng.choice(US_CITIES)
    unit = f" Apt {rng.randint(1, 40)}{rng.choice('ABC')}" if rng.random() < 0.25 else ""
    return f"{number} {street}{unit}, {city}, {state} {zip3}{rng.randint(0, 99):02d}"


def _email(rng: random.Random, first: str, last: str) -> str:
    f = "".join(ch for ch in first.lower() if ch.isalpha())
    s = "".join(ch for ch in last.lower() if ch.isalpha())
    local = rng.choice([f"{f}.{s}", f"{f[0]}{s}", f"{f}_{s}{rng.randint(1, 99)}", f"{s}.{f}", f"{f}{s[:3]}"])
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def customer(seed: int) -> dict[str, object]:
    """A deterministic synthetic customer record for ``seed``."""
    rng = random.Random(seed)
    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
    name = f"{first} {last}"
    uk = rng.random() < 0.5
    dob = date(1940, 1, 1) + timedelta(days=rng.randint(0, 365 * 65))
    today = date(2026, 11, 30)
    product = rng.choice(PRODUCTS)
    transactions = []
    for _ in range(rng.randint(3, 6)):
        when = today - timedelta(days=rng.randint(1, 90))
        if rng.random() < 0.25:
            amount, merchant = round(rng.uniform(150.0, 4200.0), 2), rng.choice(CREDIT_SOURCES)
        else:
            amount, merchant = -round(rng.uniform(2.5, 1800.0), 2), rng.choice(MERCHANTS)
        transactions.append({"date": when.isoformat(), "amount": amount, "merchant": merchant})
    transactions.sort(key=lambda t: str(t["date"]))
    note_day = (today - timedelta(days=rng.randint(1, 60))).strftime("%d %B %Y")
    notes = rng.choice(NOTES_TEMPLATES).format(name=name, when=note_day, product=product)
    return {
        "customer_id": f"CUST-{seed:06d}",
        "full_name": name,
        "email": _email(rng, first, last),
        "phone": _phone(rng, uk),
        "address": _address(rng, uk),
        "date_of_birth": dob.isoformat(),
        "account_number": f"{rng.randint(10_000_000, 99_999_999)}",
        "iban": _iban(rng, uk),
        "card_number": _card(rng),
        "national_id": _ssn(rng),
        "country": "GB" if uk else "US",
        "product": product,
        "balance": round(rng.uniform(-25_000.0, 150_000.0), 2),
        "currency": "GBP" if uk else "USD",
        "arrears_months": rng.choice([0, 0, 0, 1, 2, 3, 4, 6]),
        "risk_score": rng.randint(300, 850),
        "recent_transactions": transactions,
        "notes": notes,
    }


def request(seed: int) -> dict[str, object]:
    """A report request: a report type chosen deterministically from ``seed`` and the customer."""
    if not REPORT_TYPES:
        raise RuntimeError(f"no report templates found in {TEMPLATES_DIR}")
    report_type = random.Random(f"report-type:{seed}").choice(REPORT_TYPES)
    return {"report_type": report_type, "customer": customer(seed)}


PERSONAL_FIELDS: tuple[str, ...] = (
    "full_name",
    "email",
    "phone",
    "address",
    "date_of_birth",
    "account_number",
    "iban",
    "card_number",
    "national_id",
)


def personal_values(customer: dict[str, object]) -> list[str]:
    """The personal-data values of ``customer`` that must never reach an LLM provider.

    A card number already masked at the source (``**** **** **** 1234``) is left out: it is no longer
    personal data and the gateway has nothing to redact in it.
    """
    values = [str(customer[field]) for field in PERSONAL_FIELDS if customer.get(field)]
    return [v for v in values if not v.startswith("*")]


if __name__ == "__main__":
    print(len(REPORT_TYPES))
    print(json.dumps(request(1), indent=2))
