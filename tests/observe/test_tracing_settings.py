"""Tracing settings and start-up checks: these run whether the OpenTelemetry SDK is installed or not."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from pydantic import ValidationError

from corral.observe.tracing import ObservabilitySettings, OTLPUnavailable, Tracing


def test_defaults_keep_content_out_and_metrics_private() -> None:
    s = ObservabilitySettings()
    assert s.otlp_endpoint is None and not s.capture_content and not s.metrics_public
    assert s.service_name == "corral"
    with pytest.raises(ValidationError):
        ObservabilitySettings(otlp_endpoint="http://127.0.0.1:4318", unknown=1)  # type: ignore[call-arg]


def test_export_is_off_without_an_endpoint() -> None:
    assert Tracing.from_settings(ObservabilitySettings()) is None


def _exporter_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ImportError:  # a parent package is missing
        return False


def test_enabling_without_the_sdk_fails_with_install_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    if _exporter_installed():  # simulate the extra being absent
        monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(OTLPUnavailable, match=r"pip install 'opentelemetry-sdk.*opentelemetry-exporter-otlp"):
        Tracing.from_settings(ObservabilitySettings(otlp_endpoint="http://127.0.0.1:4318"))
