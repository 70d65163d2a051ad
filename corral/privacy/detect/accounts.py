"""Labelled account numbers: the one ID_NUMBER a rule finds (the models find the rest).

The models find a bare account number in a short text and lose it inside a whole customer
record; after a label ("Account number:", "acct no.", "Bank account", "A/C") the digits are an
account number whatever they look like, and suppression never drops them (a compact date such as
20050521 included: corral.privacy.detect.suppress).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from corral.privacy.detect import entities as E
from corral.privacy.types import Span

# "Account number: 54712641", "acct no. 1234-5678", "Bank account: 12345678", "A/C 00123456": a
# labelled account number (the models find a bare one alone, and lose it inside a whole record).
_ACCOUNT_NUMBER = re.compile(
    r"\b(?:[Bb](?i:ank)[ \t]{1,4}+)?(?:[Aa](?i:ccount|cct\.?)|[Aa]/[Cc])"
    r"[ \t]{0,4}+(?i:number|num\.?|no\.?|#)?[ \t]{0,4}+[:=]?[ \t]{0,3}+(\d(?:[ \-]?\d){5,19})\b"
)


def find_account_numbers(text: str) -> Iterator[Span]:
    for m in _ACCOUNT_NUMBER.finditer(text):
        yield Span(m.start(1), m.end(1), E.ID_NUMBER, 0.9, "rule")
