"""`webhooks:` in corral.yaml: a wrong secret, event name or a missing `teams` fails at start
with the file, the key path and what to do, never at the first delivery."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from corral.config import ConfigError, load_settings
from corral.gateway import Gateway
from corral.webhooks.settings import EVENT_TYPES
from corral.webhooks.wiring import check_secrets
from tests.webhooks.server import new_secret


def _load(tmp_path: Path, endpoint: dict[str, Any]) -> Any:
    file = tmp_path / "corral.yaml"
    file.write_text(yaml.safe_dump({"webhooks": {"endpoints": {"reports": endpoint}}}))
    return load_settings(file)


def _endpoint(**over: Any) -> dict[str, Any]:
    return {"url": "https://reports.example/hook", "secret": {"env": "REPORTS_HOOK_SECRET"},
            "teams": ["reports"], **over}


def test_a_valid_endpoint_loads_with_every_event_by_default(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTS_HOOK_SECRET", new_secret())
    endpoint = _load(tmp_path, _endpoint()).webhooks.endpoints["reports"]
    assert endpoint.events == list(EVENT_TYPES) and endpoint.max_attempts == 8 and endpoint.timeout_s == 5.0
    assert endpoint.accepts("batch.completed", "reports")
    assert not endpoint.accepts("batch.completed", "growth")
    everyone = _load(tmp_path, _endpoint(teams="*")).webhooks.endpoints["reports"]
    assert everyone.accepts("response.failed", "anyone")


@pytest.mark.parametrize(("value", "says"), [
    ("s3cret-but-not-whsec-formatted", "whsec_<base64>"),
    ("whsec_not*base64!", "not valid base64"),
    ("whsec_" + base64.b64encode(b"short").decode(), "at least 24"),
])
def test_a_secret_not_in_whsec_form_is_refused_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       value: str, says: str) -> None:
    monkeypatch.setenv("REPORTS_HOOK_SECRET", value)
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, _endpoint())
    message = str(err.value)
    assert "webhooks.endpoints.reports.secret" in message and says in message
    assert "REPORTS_HOOK_SECRET" in message and value not in message, "the value is never echoed"


def test_an_unknown_event_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTS_HOOK_SECRET", new_secret())
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, _endpoint(events=["response.completed", "response.done"]))
    assert "webhooks.endpoints.reports.events" in str(err.value)
    assert "unknown event 'response.done'" in str(err.value) and "batch.expired" in str(err.value)


def test_teams_must_be_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTS_HOOK_SECRET", new_secret())
    endpoint = _endpoint()
    del endpoint["teams"]
    with pytest.raises(ConfigError, match=r"webhooks\.endpoints\.reports: teams is required"):
        _load(tmp_path, endpoint)
    with pytest.raises(ConfigError, match="list the teams"):
        _load(tmp_path, _endpoint(teams=[]))


def test_a_secret_written_in_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, _endpoint(secret=new_secret()))
    assert "webhooks.endpoints.reports.secret" in str(err.value) and "environment variables" in str(err.value)


async def test_an_unset_secret_variable_stops_the_gateway_before_it_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPORTS_HOOK_SECRET", raising=False)
    settings = _load(tmp_path, _endpoint())  # other commands (keys, models) do not need it
    with pytest.raises(ConfigError, match="REPORTS_HOOK_SECRET is not set"):
        check_secrets(settings.webhooks, settings.source)
    with pytest.raises(ConfigError, match=r"webhooks\.endpoints\.reports\.secret"):
        await Gateway.start(settings, warmup=False)


async def test_a_gateway_that_runs_no_queue_work_starts_without_the_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`corral serve --no-worker` only queues events; `corral worker` delivers and signs them."""
    monkeypatch.delenv("REPORTS_HOOK_SECRET", raising=False)
    file = tmp_path / "corral.yaml"
    file.write_text(yaml.safe_dump({"home": str(tmp_path / "home"),
                                    "webhooks": {"endpoints": {"reports": _endpoint()}}}))
    gateway = await Gateway.start(load_settings(file), warmup=False, run_jobs=False)
    try:
        assert gateway.webhooks is not None  # events are still queued for the workers
    finally:
        await gateway.stop()
