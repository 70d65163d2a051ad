"""The dashboard's Prompts section in headless Chromium: a peer of the proposer sees the diff and
approves; the proposer sees no approve button (the server would refuse it anyway)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, fake_settings, serve_in_thread
from tests.dashboard.test_dashboard_browser import browser  # noqa: F401  (the Chromium fixture)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in_thread(create_app(fake_settings(tmp_path), warmup=False))


def _post(server: RunningServer, key: str, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={"authorization": f"Bearer {key}"}, timeout=10)


def test_a_peer_approves_in_the_dashboard(server: RunningServer, browser: object) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    keys, ids = {}, {}
    for name in ("ann", "bob"):
        body = {"name": name, "roles": ["prompt-owner"]}
        made = _post(server, server.admin_key, "/admin/keys", body).json()
        keys[name], ids[name] = made["key"], made["id"]
    assert _post(server, keys["ann"], "/admin/prompts", {"name": "agent", "owners": [ids["bob"]],
                                                         "text": "Be kind.\n"}).status_code == 201
    change = _post(server, keys["ann"], "/admin/prompts/agent/labels/production", {"version": 1}).json()

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 10)
    loaded = "return document.body.dataset.loaded === 'true'"
    driver.get(f"{server.url}/dashboard#key={keys['ann']}")
    wait.until(lambda d: d.execute_script(loaded))
    assert driver.find_element(By.ID, "prompts").is_displayed()
    assert "agent" in driver.find_element(By.ID, "prompt-list").text
    row = driver.find_element(By.CSS_SELECTOR, "#prompt-changes tbody tr")
    assert "another owner decides" in row.text
    assert not row.find_elements(By.XPATH, ".//button[text()='approve']")

    driver.find_element(By.ID, "forget").click()
    driver.get("about:blank")  # a new page load: `loaded` starts unset again
    driver.get(f"{server.url}/dashboard#key={keys['bob']}")
    wait.until(lambda d: d.execute_script(loaded))
    row = driver.find_element(By.CSS_SELECTOR, "#prompt-changes tbody tr")
    assert row.text.startswith(str(change["id"]))
    row.find_element(By.XPATH, ".//button[text()='diff']").click()
    wait.until(lambda d: d.find_element(By.ID, "prompt-diff").is_displayed())
    assert "+Be kind." in driver.find_element(By.ID, "prompt-diff").text
    row.find_element(By.XPATH, ".//button[text()='approve']").click()
    wait.until(lambda d: "approved" in d.find_element(By.ID, "prompt-message").text)
    assert "production=1" in driver.find_element(By.ID, "prompt-list").text
    assert not driver.find_element(By.ID, "requests").is_displayed()  # prompt-owner: no records view
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[attr-defined]
    assert not errors, [e["message"] for e in errors]
