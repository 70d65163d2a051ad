"""The rules for languages other than English, run only for the languages configured.

The models are English (Rampart, spaCy's small English pipeline) and always run; each language
listed in `privacy.languages` adds its own rules: street addresses and names after that
language's titles, self-introductions, roles and common given names (`regional.py`), birth dates
and companies with their legal forms (`regional_context.py`), and phone numbers in its national
formats (`regional_phones.py`). National identifiers (`national_ids.py`)
carry check digits, and the weak ones need their label, so they run for every configuration: a
German tax ID in an English e-mail is still a tax ID.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from corral.privacy.detect import entities as E
from corral.privacy.detect.national_ids import find_national_ids
from corral.privacy.detect.regional import find_regional
from corral.privacy.detect.regional_context import find_regional_context
from corral.privacy.detect.regional_phones import find_regional_phones
from corral.privacy.detect.windows import windowed
from corral.privacy.types import Span

ENGLISH = "en"
# Language code -> the phone-numbering region whose national formats its texts use.
REGIONS: dict[str, str] = {"de": "DE", "fr": "FR", "es": "ES", "it": "IT", "nl": "NL", "pl": "PL"}
LANGUAGES: tuple[str, ...] = (ENGLISH, *REGIONS)


def normalized(languages: Iterable[str] | None) -> frozenset[str]:
    """Known language codes, lower case; English is always on (the models are English)."""
    wanted = frozenset(code.strip().lower() for code in (languages or ()))
    unknown = wanted - set(LANGUAGES)
    if unknown:
        raise ValueError(f"unknown languages {sorted(unknown)}; known: {', '.join(LANGUAGES)}")
    return wanted | {ENGLISH}


def run_language_rules(text: str, entities: frozenset[str], languages: frozenset[str]) -> list[Span]:
    """National IDs for every configuration, plus each configured language's own rules."""
    out: list[Span] = []
    if E.NATIONAL_ID in entities:
        out.extend(windowed(find_national_ids, text))
    local = languages - {ENGLISH}
    if not local:
        return out
    if entities & {E.PERSON, E.ADDRESS}:
        out.extend(windowed(partial(find_regional, languages=local), text))
    if entities & {E.DATE_OF_BIRTH, E.ORGANIZATION}:
        out.extend(windowed(partial(find_regional_context, languages=local), text))
    if E.PHONE in entities:
        regions = frozenset(REGIONS[code] for code in local)
        out.extend(windowed(partial(find_regional_phones, regions=regions), text))
    return out
