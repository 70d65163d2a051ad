"""The offline models through the detector: names, addresses, filters, thresholds, loading."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from itertools import pairwise

import pytest

from corral.privacy.detect import ALL_ENTITIES, PIIDetector, available
from corral.privacy.detect import entities as E
from corral.privacy.detect import model as M

pytestmark = pytest.mark.skipif(not available(), reason="model wheels not installed")

PROMPT = (
    "Hi, I'm Maria Gonzalez and I need help drafting a letter to my landlord at 1421 Oak Street, "
    "Apt 5B, Springfield, IL 62704. You can reach me at maria.gonzalez@example.com or (217) 555-0143. "
    "My card 4111 1111 1111 1111 was charged twice by Acme Corp."
)


@pytest.fixture(scope="module")
def detector() -> Iterator[PIIDetector]:
    d = PIIDetector()
    d.warmup()
    yield d


def found(d: PIIDetector, text: str) -> list[tuple[str, str]]:
    return [(s.entity, s.text(text)) for s in d.detect(text)]


def test_a_prompt_with_every_kind_of_identifier(detector: PIIDetector) -> None:
    got = found(detector, PROMPT)
    assert (E.PERSON, "Maria Gonzalez") in got
    assert (E.EMAIL, "maria.gonzalez@example.com") in got
    assert (E.PHONE, "(217) 555-0143") in got
    assert (E.CREDIT_CARD, "4111 1111 1111 1111") in got
    assert any(e == E.ORGANIZATION and t.startswith("Acme Corp") for e, t in got)
    addresses = [t for e, t in got if e == E.ADDRESS]
    assert addresses and addresses[0].startswith("1421 Oak Street")
    assert "62704" in addresses[0]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("Please forward this to John Smith before Friday.", E.PERSON, "John Smith"),
        ("My neighbour Aisha Okafor says hello.", E.PERSON, "Aisha Okafor"),
        ("Send the parcel to 742 Evergreen Terrace, Springfield.", E.ADDRESS, "742 Evergreen Terrace"),
        ("She moved to Lisbon, Portugal last year.", E.LOCATION, "Lisbon, Portugal"),
        ("He works for Microsoft in the Azure team.", E.ORGANIZATION, "Microsoft"),
    ],
)
def test_the_models_find_names_places_and_organisations(
    detector: PIIDetector, text: str, entity: str, value: str
) -> None:
    got = found(detector, text)
    assert any(e == entity and value in t for e, t in got), got


def test_results_are_sorted_and_disjoint(detector: PIIDetector) -> None:
    spans = detector.detect(PROMPT * 3)
    assert all(a.end <= b.start for a, b in pairwise(spans))


def test_long_text_is_scanned_in_windows(detector: PIIDetector) -> None:
    filler = "The weather report said nothing of interest today. " * 60
    text = filler + "Contact Maria Gonzalez at maria@example.com. " + filler
    got = found(detector, text)
    assert (E.PERSON, "Maria Gonzalez") in got
    assert (E.EMAIL, "maria@example.com") in got


def test_technical_prose_is_left_alone(detector: PIIDetector) -> None:
    text = (
        "Return a new DocTest containing the given examples. If self is a NaN, raise KeyError. "
        "Call sys.stderr.write() and len(x); the IOBase object is closed by HelpFormatter."
    )
    assert detector.detect(text) == []


def test_entity_filter(detector: PIIDetector) -> None:
    only = PIIDetector(entities={E.EMAIL, E.PERSON})
    assert {s.entity for s in only.detect(PROMPT)} == {E.EMAIL, E.PERSON}
    rules_only = PIIDetector(entities={E.EMAIL})
    assert not rules_only.use_model
    with pytest.raises(ValueError, match="unknown entities"):
        PIIDetector(entities={"SHOE_SIZE"})


def test_thresholds(detector: PIIDetector) -> None:
    strict = PIIDetector(threshold=1.0)
    kept = {s.entity for s in strict.detect(PROMPT)}
    assert kept <= E.VALIDATED  # only rule-validated types survive a threshold of 1
    assert {E.EMAIL, E.CREDIT_CARD} <= kept
    no_names = PIIDetector(thresholds={E.PERSON: 1.0})
    assert E.PERSON not in {s.entity for s in no_names.detect(PROMPT)}
    assert E.ORGANIZATION in {s.entity for s in no_names.detect(PROMPT)}
    with pytest.raises(ValueError):
        PIIDetector(threshold=1.5)
    assert set(PIIDetector().thresholds) == ALL_ENTITIES


def test_models_load_once_and_detect_from_many_threads(detector: PIIDetector) -> None:
    expected = detector.detect(PROMPT)
    results: list[object] = []
    models: list[object] = []

    def work() -> None:
        models.append(M.get_models())
        results.append(detector.detect(PROMPT))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)
    assert all(m is models[0] for m in models)


def test_models_load_offline_from_installed_wheels() -> None:
    """In a fresh interpreter with every socket refused: load, warm up, detect."""
    script = textwrap.dedent(
        """
        import socket, time

        def refuse(*args, **kwargs):
            raise OSError("network disabled for this test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        t0 = time.perf_counter()
        from corral.privacy.detect import PIIDetector, model
        PIIDetector().warmup()
        spans = PIIDetector().detect("Ask Maria Gonzalez at maria@example.com")
        assert {s.entity for s in spans} == {"PERSON", "EMAIL"}, spans
        print(round(time.perf_counter() - t0, 2), round(model.get_models().load_seconds, 2))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "CORRAL_PII_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr
    _total, load = map(float, out.stdout.split())
    assert load < 8.0  # about 1-3 s from the wheels; a download would not finish offline at all


def test_long_inputs_reach_spacy_in_pieces_cut_at_whitespace() -> None:
    text = "ab cd\nef gh ij " * 10
    pieces = list(M._chunks(text, 7))
    assert "".join(p for _, p in pieces) == text
    assert all(text[o : o + len(p)] == p and len(p) <= 7 for o, p in pieces)


def test_operating_points_read_as_one_half_and_keep_the_order() -> None:
    from corral.privacy.detect import entities as E

    point = E.OPERATING_POINTS[E.PERSON]
    assert abs(E.calibrated(E.PERSON, point) - 0.5) < 1e-9
    assert E.calibrated(E.PERSON, 0.0) == 0.0 and abs(E.calibrated(E.PERSON, 1.0) - 1.0) < 1e-9
    scores = [i / 20 for i in range(21)]
    assert [E.calibrated(E.PERSON, s) for s in scores] == sorted(E.calibrated(E.PERSON, s) for s in scores)
    assert E.calibrated(E.EMAIL, 0.42) == 0.42  # no operating point: unchanged
