"""The detector contract shared by rules, the classification model and the pipeline stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Span:
    """One piece of personal data in a text: [start, end) character offsets."""

    start: int
    end: int
    entity: str  # EMAIL, PHONE, CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS, URL_CREDENTIALS, SECRET,
    #              PERSON, ADDRESS, ORGANIZATION, LOCATION, DATE_OF_BIRTH, ...
    score: float = 1.0
    source: str = "rule"  # "rule" | "model"

    def text(self, source_text: str) -> str:
        return source_text[self.start:self.end]


class Detector(Protocol):
    """Finds personal data. Synchronous and CPU-bound: callers move long texts off the loop."""

    def detect(self, text: str) -> list[Span]: ...
