"""`privacy.languages`: which languages' rules run, from configuration to detector to CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from corral.privacy.detect import PIIDetector
from corral.privacy.detect import entities as E
from corral.privacy.detect.languages import LANGUAGES, normalized
from corral.privacy.policy import PrivacySettings
from corral.privacy.settings import DETECTION_LANGUAGES

GERMAN = "Bitte schicken Sie die Unterlagen an Frau Weber, Hauptstraße 12, 10115 Berlin."


def found(detector: PIIDetector, text: str) -> set[tuple[str, str]]:
    return {(s.entity, s.text(text)) for s in detector.detect(text)}


def test_the_configuration_and_the_detector_know_the_same_languages() -> None:
    assert DETECTION_LANGUAGES == LANGUAGES


def test_settings_default_to_english_and_always_keep_it() -> None:
    assert PrivacySettings().languages == ["en"]
    assert PrivacySettings(languages=["PL", "de", "de"]).languages == ["en", "de", "pl"]


def test_an_unknown_language_is_refused_with_the_list_of_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown languages \['xx'\].*de, fr, es, it, nl, pl"):
        PrivacySettings(languages=["de", "xx"])
    with pytest.raises(ValueError, match="known: en, de, fr"):
        normalized(["klingon"])


def test_a_language_s_rules_run_only_when_it_is_configured() -> None:
    english = PIIDetector(use_model=False)
    german = PIIDetector(use_model=False, languages=["de"])
    assert english.languages == frozenset({"en"})
    assert (E.ADDRESS, "Hauptstraße 12, 10115 Berlin") in found(german, GERMAN)
    assert (E.PERSON, "Frau Weber") in found(german, GERMAN)  # honorifics join the name
    assert not {e for e, _ in found(english, GERMAN)} & {E.ADDRESS, E.PERSON}
    assert not {e for e, _ in found(PIIDetector(use_model=False, languages=["fr"]), GERMAN)} & {E.ADDRESS}


def test_national_ids_are_found_whatever_the_languages() -> None:
    text = "Please update the file: codice fiscale RSSMRA85T10A562S, DNI 12345678Z."
    spans = found(PIIDetector(use_model=False), text)
    assert (E.NATIONAL_ID, "RSSMRA85T10A562S") in spans
    assert (E.NATIONAL_ID, "12345678Z") in spans


def test_the_cli_takes_languages_and_refuses_unknown_ones() -> None:
    from corral.cli import main

    runner = CliRunner()
    ok = runner.invoke(main, ["pii", "scan", "--language", "de", "--json", "-"], input=GERMAN)
    assert ok.exit_code == 0, ok.output
    assert '"ADDRESS"' in ok.output
    bad = runner.invoke(main, ["pii", "scan", "--language", "xx", "-"], input=GERMAN)
    assert bad.exit_code == 2 and "'xx' is not one of" in bad.output


def test_the_governance_document_names_the_languages_detection_reads() -> None:
    from corral.config import Settings, default_settings_data
    from corral.governance.document import governance_document

    data = default_settings_data()
    assert "Detection reads English." in governance_document(Settings.model_validate(data))
    data["privacy"] = {**data.get("privacy", {}), "languages": ["fr", "de"]}
    text = governance_document(Settings.model_validate(data))
    assert "Detection reads English, German and French." in text
