"""`corral pii scan` (CliRunner) and POST /admin/pii/scan (handler called with a Starlette Request)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from starlette.requests import Request

import corral.api.privacy as api
import corral.privacy.cli as cli
from corral.config import Settings
from corral.core.errors import AuthError, InvalidRequest, PermissionDenied
from corral.privacy.stage import DetectorUnavailable
from corral.privacy.types import Span

TEXT = "Contact alice@corp.example or Alice Smith."


class FakeDetector:
    def detect(self, text: str) -> list[Span]:
        spans = [Span(m.start(), m.end(), "PERSON", 0.75, "model") for m in re.finditer("Alice Smith", text)]
        return spans + [Span(m.start(), m.end(), "EMAIL") for m in re.finditer(r"\S+@\S+\.example", text)]


@pytest.fixture
def detector(monkeypatch: pytest.MonkeyPatch) -> FakeDetector:
    fake = FakeDetector()
    monkeypatch.setattr(cli, "load_default_detector", lambda **_: fake)
    return fake


def test_scan_prints_masked_values_by_default(detector: FakeDetector, tmp_path: Path) -> None:
    path = tmp_path / "sample.txt"
    path.write_text(TEXT)
    result = CliRunner().invoke(cli.pii, ["scan", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["OFFSET", "TYPE", "SCORE", "SOURCE", "VALUE"]
    assert lines[2].split() == ["8-26", "EMAIL", "1.00", "rule", "a****************e"]
    assert lines[3].split() == ["30-41", "PERSON", "0.75", "model", "A*********h"]
    assert lines[-1] == "2 spans found: EMAIL 1, PERSON 1"
    assert "alice@corp.example" not in result.output and "Alice Smith" not in result.output


def test_scan_reads_stdin_and_shows_values_on_request(detector: FakeDetector) -> None:
    result = CliRunner().invoke(cli.pii, ["scan", "-", "--json", "--show-values"], input=TEXT)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(d["entity"], d["value"]) for d in data] == [("EMAIL", "alice@corp.example"),
                                                         ("PERSON", "Alice Smith")]
    assert data[0] == {"start": 8, "end": 26, "entity": "EMAIL", "score": 1.0, "source": "rule",
                       "value": "alice@corp.example"}


def test_scan_min_score_and_nothing_found(detector: FakeDetector) -> None:
    result = CliRunner().invoke(cli.pii, ["scan", "-", "--json", "--min-score", "0.9"], input=TEXT)
    assert [d["entity"] for d in json.loads(result.output)] == ["EMAIL"]
    result = CliRunner().invoke(cli.pii, ["scan", "-"], input="nothing to see")
    assert result.exit_code == 0 and result.output.strip() == "No personal data found."


def test_scan_without_a_scanner_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "corral.privacy.detect", None)
    result = CliRunner().invoke(cli.pii, ["scan", "-"], input=TEXT)
    assert result.exit_code == 1 and "PIIDetector could not be imported" in result.output


# -- POST /admin/pii/scan ------------------------------------------------------------------

ADMIN, USER = "sk-admin", "sk-user"


class Keys:
    async def verify(self, raw: str) -> Any:
        scopes = {ADMIN: {"admin"}, USER: {"inference"}}.get(raw)
        return None if scopes is None else SimpleNamespace(id="key_1", name="ops", team="t", scopes=scopes)


async def post(body: Any, key: str | None = ADMIN, gateway: Any = None) -> Any:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = [(b"content-type", b"application/json")]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    gateway = gateway or SimpleNamespace(settings=Settings(), keys=Keys(), pii_detector=FakeDetector())
    scope = {"type": "http", "method": "POST", "path": "/admin/pii/scan", "query_string": b"",
             "headers": headers, "app": SimpleNamespace(state=SimpleNamespace(gateway=gateway))}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    response = await api.scan_text(Request(scope, receive))
    assert response.status_code == 200 and response.media_type == "application/json"
    return orjson.loads(response.body)


async def test_api_returns_spans_without_values_by_default() -> None:
    body = await post({"text": TEXT})
    assert body["object"] == "list" and body["entities"] == {"EMAIL": 1, "PERSON": 1}
    assert body["data"][0] == {"start": 8, "end": 26, "entity": "EMAIL", "score": 1.0, "source": "rule"}
    assert "alice" not in json.dumps(body).lower()


async def test_api_shows_values_on_request_and_handles_long_text() -> None:
    body = await post({"text": TEXT, "show_values": True})
    assert [d["value"] for d in body["data"]] == ["alice@corp.example", "Alice Smith"]
    long = await post({"text": "x" * 3000 + TEXT})
    assert long["data"][0]["start"] == 3008


async def test_api_validates_the_body() -> None:
    with pytest.raises(InvalidRequest, match="Unknown field\\(s\\): 'txt'"):  # a misspelt field is named
        await post({"txt": TEXT})
    with pytest.raises(InvalidRequest, match="'text' is required"):
        await post({"show_values": True})
    with pytest.raises(InvalidRequest, match="show_values"):
        await post({"text": TEXT, "show_values": "yes"})
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        await post(b"{nope")


async def test_api_requires_an_admin_key() -> None:
    with pytest.raises(AuthError):
        await post({"text": TEXT}, key=None)
    with pytest.raises(PermissionDenied, match="admin"):
        await post({"text": TEXT}, key=USER)


async def test_api_loads_the_default_scanner_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []

    def load() -> FakeDetector:
        loads.append(1)
        return FakeDetector()

    monkeypatch.setattr(api, "_default", None)
    monkeypatch.setattr(api, "load_default_detector", load)
    gateway = SimpleNamespace(settings=Settings(), keys=Keys())
    await post({"text": TEXT}, gateway=gateway)
    await post({"text": TEXT}, gateway=gateway)
    assert loads == [1]


async def test_api_without_a_scanner_is_a_clear_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "_default", None)
    monkeypatch.setitem(sys.modules, "corral.privacy.detect", None)
    with pytest.raises(DetectorUnavailable) as info:
        await post({"text": TEXT}, gateway=SimpleNamespace(settings=Settings(), keys=Keys()))
    assert info.value.status_code == 503 and "PIIDetector" in info.value.message


async def test_api_never_detects_on_the_event_loop() -> None:
    """Even a short text: detection with the models holds the GIL for milliseconds per call."""
    import threading

    threads: list[str] = []

    class Recording(FakeDetector):
        def detect(self, text: str) -> list[Span]:
            threads.append(threading.current_thread().name)
            return super().detect(text)

    gateway = SimpleNamespace(settings=Settings(), keys=Keys(), pii_detector=Recording())
    body = await post({"text": "Alice Smith"}, gateway=gateway)
    assert body["entities"] == {"PERSON": 1}
    assert threads and all(name.startswith("pii-detect") for name in threads), threads
