"""The dashboard's Governance view in headless Chromium: the Markdown shown as text, reloaded
only on Refresh (or every 5 minutes), and the PDF and HTML downloads, the HTML's own CSP
letting its inline stylesheet apply."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.dashboard.conftest import Traffic
from tests.dashboard.test_dashboard_browser import browser  # noqa: F401  (the fixture)

MD_FETCHES = ("return performance.getEntriesByType('resource')"
              ".filter(e => e.name.endsWith('/admin/governance/document?format=md')).length")


def _auditor(traffic: Traffic) -> str:
    r = httpx.post(traffic.server.url + "/admin/keys", json={"name": "gov-auditor", "roles": ["auditor"]},
                   headers={"authorization": f"Bearer {traffic.server.admin_key}"}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def _downloaded(folder: Path, name: str) -> bytes:
    deadline = time.monotonic() + 10
    while not (folder / name).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return (folder / name).read_bytes()


def test_governance_view_and_downloads(traffic: Traffic, browser: object,  # noqa: F811
                                       tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 10)
    downloads = {"behavior": "allow", "downloadPath": str(tmp_path)}
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", downloads)
    driver.get(f"{traffic.server.url}/dashboard#key={_auditor(traffic)}")
    wait.until(lambda d: d.find_element(By.ID, "governance-text").text)
    assert driver.find_element(By.ID, "governance").is_displayed()
    assert driver.find_element(By.ID, "governance-text").text.startswith("# Corral governance document")

    Select(driver.find_element(By.ID, "since")).select_by_value("6h")  # a refresh, not a reload
    wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("updated"))
    assert driver.execute_script(MD_FETCHES) == 1
    driver.find_element(By.ID, "refresh").click()
    wait.until(lambda d: d.execute_script(MD_FETCHES) == 2)

    driver.find_element(By.ID, "governance-pdf").click()
    assert _downloaded(tmp_path, "corral-governance.pdf").startswith(b"%PDF-")
    driver.find_element(By.ID, "governance-html").click()
    page = tmp_path / "corral-governance.html"
    assert _downloaded(tmp_path, page.name).startswith(b"<!doctype html>")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, [e["message"] for e in errors]

    driver.get(page.as_uri())  # its meta CSP allows its stylesheet by hash, and nothing else
    width = driver.execute_script("return getComputedStyle(document.body).maxWidth")
    assert width == "960px", width
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, [e["message"] for e in errors]
