"""The personal-data detector: validated rules plus two small offline models, merged and filtered.

    detector = PIIDetector()                       # every entity, models on
    detector = PIIDetector({"EMAIL", "PERSON"}, threshold=0.7)
    detector.detect("Mail Jane Doe at jane@example.com")  # -> [Span(PERSON), Span(EMAIL)]

Pipeline: rules (regex + checksum/library/context validation) and models propose candidates;
`suppress` drops the known false positives (hashes, UUIDs, timestamps, versions, code); `merge`
unions agreeing spans, keeps the best of overlapping ones and joins fragments of one entity;
then per-entity thresholds and the entity filter apply. Rule-validated types (card, IBAN, SSN,
email, IP) and credentials (SECRET, URL credentials) are never dropped by a threshold or by
suppression (`entities.VALIDATED`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from corral.privacy.detect import entities
from corral.privacy.detect.entities import (
    ALL_ENTITIES,
    DEFAULT_ENTITIES,
    DEFAULT_THRESHOLD,
    DEFAULT_THRESHOLDS,
    MODEL_ENTITIES,
    VALIDATED,
)
from corral.privacy.detect.language_id import dominant_language
from corral.privacy.detect.languages import normalized, run_language_rules
from corral.privacy.detect.merge import resolve
from corral.privacy.detect.model import SPACY_SCORE, ModelUnavailable, available, get_models, warmup
from corral.privacy.detect.name_parts import name_part_spans
from corral.privacy.detect.rules import run_rules
from corral.privacy.detect.suppress import incomplete, suppressed
from corral.privacy.types import Span

__all__ = [
    "ALL_ENTITIES",
    "DEFAULT_ENTITIES",
    "DEFAULT_THRESHOLD",
    "ModelUnavailable",
    "PIIDetector",
    "available",
    "entities",
    "warmup",
]


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Entities the models find or help find (the rules also find phones and URLs).
_MODEL_HELPS = MODEL_ENTITIES | {entities.PHONE, entities.URL}


# Model entities the English models over-report in other languages (capitalised German nouns,
# French and Spanish sentence openers read as names, places and companies).
_WORD_LEVEL = frozenset(
    {entities.PERSON, entities.ORGANIZATION, entities.LOCATION, entities.NRP, entities.ADDRESS}
)


def _trusted_in_other_languages(span: Span) -> bool:
    """In a text in another configured language, a name, place or company the English spaCy
    pipeline found alone (it scores exactly SPACY_SCORE) is dropped; Rampart's confident spans
    and the two models agreeing stay. On the hand-written controls this took false spans from
    11.7 to 0.3 per 1,000 characters (bench/pii_multilingual.py, dev split)."""
    return span.entity not in _WORD_LEVEL or span.score > SPACY_SCORE


def _calibrated(span: Span) -> Span:
    if span.source != "model" or span.entity not in entities.OPERATING_POINTS:
        return span
    return Span(span.start, span.end, span.entity, entities.calibrated(span.entity, span.score), span.source)


class PIIDetector:
    """Finds personal data in text; synchronous, CPU-bound, safe to share between threads.

    entities: which entity names to report (default: all of `ALL_ENTITIES`).
    threshold: minimum score for every entity; `thresholds` overrides single entities.
    use_model: False runs the rules alone (no model load, about 0.3 ms per prompt).
    languages: language codes whose rules run besides English (`languages.LANGUAGES`).
    """

    def __init__(
        self,
        entities: Iterable[str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        use_model: bool = True,
        thresholds: Mapping[str, float] | None = None,
        languages: Iterable[str] | None = None,
    ) -> None:
        wanted = frozenset(DEFAULT_ENTITIES if entities is None else entities)
        unknown = wanted - ALL_ENTITIES
        if unknown:
            raise ValueError(f"unknown entities {sorted(unknown)}; known: {sorted(ALL_ENTITIES)}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be within [0, 1]")
        self.entities = wanted
        self.languages = normalized(languages)
        self.use_model = use_model and bool(wanted & _MODEL_HELPS)
        self.thresholds = {e: threshold for e in ALL_ENTITIES}
        self.thresholds.update(DEFAULT_THRESHOLDS)
        self.thresholds.update(thresholds or {})

    def warmup(self) -> None:
        """Load and run the models now rather than on the first request."""
        if self.use_model:
            warmup()

    def detect(self, text: str) -> list[Span]:
        """Spans of personal data in text: sorted by start, non-overlapping."""
        if not text or text.isspace():
            return []
        # A lone surrogate (JSON "\\ud800" inside tool-call arguments) cannot be encoded for the
        # models' tokenizers; U+FFFD keeps every offset, so spans still index the original.
        text = _LONE_SURROGATE.sub("\ufffd", text)
        # Every rule runs, wanted or not: a validated email must still shadow the name inside it.
        candidates = run_rules(text, ALL_ENTITIES)
        candidates.extend(run_language_rules(text, ALL_ENTITIES, self.languages))
        if self.use_model:
            found = get_models().predict(text)
            if dominant_language(text, self.languages) != "en":
                found = [s for s in found if _trusted_in_other_languages(s)]
            candidates.extend(found)
        candidates = [s for s in candidates if not suppressed(s, text)]
        kept = [
            s
            for s in map(_calibrated, resolve(candidates, text))
            if s.entity in VALIDATED or (s.score >= self.thresholds[s.entity] and not incomplete(s, text))
        ]
        kept.extend(name_part_spans(kept, text))
        return sorted((s for s in kept if s.entity in self.entities), key=lambda s: s.start)
