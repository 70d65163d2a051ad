"""The review queue in real headless Chromium: a reviewer triages, an auditor only reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, fake_settings, serve_in_thread
from tests.dashboard.test_dashboard_browser import browser  # noqa: F401 - the fixture


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in_thread(create_app(fake_settings(tmp_path), warmup=False))


def _key(server: RunningServer, role: str) -> str:
    r = httpx.post(server.url + "/admin/keys", json={"name": f"dash-{role}", "roles": [role]},
                   headers={"authorization": f"Bearer {server.admin_key}"}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def _report(server: RunningServer) -> str:
    with httpx.Client(base_url=server.url, timeout=10,
                      headers={"authorization": f"Bearer {server.app_key}"}) as client:
        chat = client.post("/v1/chat/completions", json={"model": "echo",
                                                         "messages": [{"role": "user", "content": "hi"}]})
        r = client.post("/v1/feedback", json={"response_id": chat.json()["id"], "category": "wrong",
                                              "comment": "off by one"})
        assert r.status_code == 201, r.text
        return str(r.json()["incident"]["id"])


def test_a_reviewer_triages_from_the_review_queue(server: RunningServer, browser: object) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 10)
    loaded = "return document.body.dataset.loaded === 'true'"
    incident_id = _report(server)
    driver.get(f"{server.url}/dashboard#key={_key(server, 'reviewer')}")
    wait.until(lambda d: d.execute_script(loaded))
    assert driver.find_element(By.ID, "incidents").is_displayed()
    assert driver.find_element(By.ID, "input-rules").is_displayed()
    for section in driver.find_elements(By.CSS_SELECTOR, "[data-permission='records.read']"):
        assert not section.is_displayed()  # a reviewer reads incidents, not every record
    rows = driver.find_elements(By.CSS_SELECTOR, "#incident-list tbody tr")
    assert len(rows) == 1 and "wrong" in rows[0].text
    rows[0].find_element(By.TAG_NAME, "button").click()
    wait.until(lambda d: d.find_element(By.ID, "incident-detail").is_displayed())
    assert "reported as wrong: off by one" in driver.find_element(By.ID, "incident-detail-body").text
    actions = driver.find_elements(By.CSS_SELECTOR, "#incident-actions button")
    triage = [b for b in actions if b.text == "triaged"]
    triage[0].click()
    wait.until(lambda d: "updated" in d.find_element(By.ID, "incident-message").text)
    shown = httpx.get(f"{server.url}/admin/incidents/{incident_id}", timeout=10,
                      headers={"authorization": f"Bearer {server.admin_key}"}).json()
    assert shown["state"] == "triaged" and shown["history"][-1]["actor_name"] == "dash-reviewer"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, [e["message"] for e in errors]

    driver.execute_script("sessionStorage.clear(); document.body.dataset.loaded = ''")
    driver.get(f"{server.url}/dashboard#key={_key(server, 'auditor')}")
    wait.until(lambda d: d.execute_script(loaded))
    assert driver.find_element(By.ID, "incidents").is_displayed()
    assert not driver.find_element(By.ID, "input-rules").is_displayed()
    driver.find_element(By.CSS_SELECTOR, "#incident-state option[value='']").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#incident-list tbody tr button")) == 1)
    driver.execute_script("document.getElementById('incident-detail').hidden = true")
    driver.find_element(By.CSS_SELECTOR, "#incident-list tbody tr button").click()
    wait.until(lambda d: d.find_element(By.ID, "incident-detail").is_displayed())
    assert driver.find_elements(By.CSS_SELECTOR, "#incident-actions button") == []
    assert not driver.find_element(By.ID, "incident-note-form").is_displayed()
