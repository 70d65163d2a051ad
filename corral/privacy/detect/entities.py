"""Entity names the detector reports, which are on by default, and their default thresholds.

Names follow the comments on `corral.privacy.types.Span`. They live in one module so the rules,
the model adapters and the bench agree on spelling.
"""

from __future__ import annotations

# Found by rules (regexes, then a validator: checksum, library, context).
EMAIL = "EMAIL"
PHONE = "PHONE"
CREDIT_CARD = "CREDIT_CARD"
IBAN = "IBAN"
US_SSN = "US_SSN"
IP_ADDRESS = "IP_ADDRESS"
URL_CREDENTIALS = "URL_CREDENTIALS"
SECRET = "SECRET"
URL = "URL"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
AGE = "AGE"
# Found by the classification models.
PERSON = "PERSON"
ADDRESS = "ADDRESS"
ORGANIZATION = "ORGANIZATION"
LOCATION = "LOCATION"
NRP = "NRP"  # nationality, religious or political group: special-category data under GDPR art. 9
ID_NUMBER = "ID_NUMBER"  # passport, licence, tax or account number (model; rule: labelled accounts)
# A European national identifier with its check digits (DE tax ID, FR NIR, ES DNI/NIE, IT codice
# fiscale, NL BSN, PL PESEL): found by rules, validated like a card number.
NATIONAL_ID = "NATIONAL_ID"

RULE_ENTITIES = frozenset(
    {
        EMAIL,
        PHONE,
        CREDIT_CARD,
        IBAN,
        US_SSN,
        IP_ADDRESS,
        URL_CREDENTIALS,
        SECRET,
        URL,
        DATE_OF_BIRTH,
        AGE,
        NATIONAL_ID,
    }
)
MODEL_ENTITIES = frozenset({PERSON, ADDRESS, ORGANIZATION, LOCATION, NRP, ID_NUMBER})
ALL_ENTITIES = RULE_ENTITIES | MODEL_ENTITIES

# Credentials: the most damaging thing to leak upstream. A token is often shaped like a machine
# identifier (`xoxb-<digits>-<digits>-...` reads as a product code, a Twilio auth token as a hex
# digest), so the heuristics that drop machine identifiers must never see one.
CREDENTIALS = frozenset({SECRET, URL_CREDENTIALS})
# Checksum- or structure-validated, or a credential: nothing (model, threshold, suppression) may
# drop one, and one wins any overlap with a span of another kind.
VALIDATED = frozenset({EMAIL, CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS, NATIONAL_ID}) | CREDENTIALS

# Every entity is on by default; callers narrow with `PIIDetector(entities=...)`.
DEFAULT_ENTITIES = ALL_ENTITIES

# Minimum score for a span to be reported, per entity; `PIIDetector(threshold=...)` sets the
# value for every entity not listed here, `thresholds=` overrides single entities.
DEFAULT_THRESHOLD = 0.5
DEFAULT_THRESHOLDS: dict[str, float] = {}
# Operating points chosen on the dev split (docs/privacy-detection.md, "Thresholds"): the raw
# model score a span of this entity needs, mapped to 0.5 so that every threshold in the
# configuration means the same thing for every entity (a policy's `min_score: 0.5` is the tuned
# point; higher is stricter). Lower than 0.5 for names and places: a direct identifier missed
# costs more than the 0.05 more false spans per 1,000 characters of docstrings it buys.
OPERATING_POINTS: dict[str, float] = {PERSON: 0.3, LOCATION: 0.3}


def calibrated(entity: str, score: float) -> float:
    """A model score rescaled so that the entity's operating point reads 0.5 (linear each side)."""
    point = OPERATING_POINTS.get(entity)
    if point is None or point == 0.5:
        return score
    if score <= point:
        return 0.5 * score / point
    return 0.5 + 0.5 * (score - point) / (1.0 - point)
